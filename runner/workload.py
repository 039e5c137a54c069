"""Deterministic workloads, so every lesson shows events without the learner guessing.

Each workload runs as its own process (its own pid, and a recognisable comm,
`bcc-workload`), performs a known number of operations, then prints one JSON
line describing what it did: {"kind", "pid", "ops", "what", ...}. The runner
and the tests compare the events the kernel produced against that report.

Stdlib only and runnable as a plain script, so it starts fast and needs no
package on sys.path:  python3 runner/workload.py fork --count 5
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

COMM = "bcc-workload"

# kind -> function(args) -> dict merged into the report. Lessons add theirs here.
WORKLOADS = {}


def workload(fn):
    WORKLOADS[fn.__name__.replace("_", "-")] = fn
    return fn


def start(kind, **params):
    """Start a workload process; returns the Popen (stdout carries its JSON report)."""
    argv = [sys.executable, str(Path(__file__).resolve()), kind]
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(map(str, value)) + ","
        argv += [f"--{key.replace('_', '-')}", str(value)]
    env = dict(os.environ, **{PARENT_ENV: str(os.getpid())})
    # Its own process group: Ctrl-C on the terminal is for the runner, which then stops the workload itself
    # (a KeyboardInterrupt in the workload would print a traceback under the learner's summary).
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
                            process_group=0)


PARENT_ENV = "BCC_LESSONS_WORKLOAD_PARENT"  # the pid of the runner that started this workload


def die_with_parent(parent=None):
    """End when the runner that started us ends, even if it was killed with SIGKILL and could not stop us.

    Linux's PR_SET_PDEATHSIG sends us SIGTERM when our parent thread exits; if the parent is already
    gone by the time we ask (we were reparented), leave at once. Run by hand (no PARENT_ENV): nothing.
    A workload's own children call it with the workload's pid.
    """
    parent = parent or os.environ.pop(PARENT_ENV, None)
    if not parent:
        return
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the runner's own stop() is all there is
    if os.getppid() != int(parent):
        os._exit(1)


def report(proc, timeout=None):
    """Wait for a workload started by start() and return its report (None if it failed)."""
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0 or not out.strip():
        return None
    return json.loads(out.strip().splitlines()[-1])


def stop(proc):
    """Stop a workload that is still running, and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@workload
def fork(count=5, interval=0.0):
    """fork() `count` times; each fork is one clone() syscall made by this process."""
    for i in range(count):
        if i:
            time.sleep(interval)
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
    return {"ops": count, "what": "clone() calls"}


# clone()'s syscall number, for the burst below (os has no clone()).
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}
CLONE_THREAD = 0x00010000


def refused_clones(count):
    """Call clone() `count` times with flags the kernel refuses (CLONE_THREAD without CLONE_SIGHAND: EINVAL).

    Each call enters the syscall, so probes on clone()'s entry fire, but no process is made:
    about a microsecond each, fast enough to fill a small perf buffer before its reader wakes up.
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    number = SYS_CLONE[os.uname().machine]
    for _ in range(count):
        if libc.syscall(number, CLONE_THREAD, 0, 0, 0, 0) == 0:
            os._exit(0)  # never happens: the kernel refuses these flags; a child would leave at once


@workload
def fork_burst(count=5, interval=0.2, burst=200):
    """fork() `count` times, `interval` s apart, then a burst of `burst` clone() calls as fast as possible,
    then, once the reader has had time to drain, one more clone() on each CPU.

    Why the last ones: the kernel reports events it dropped from a full perf ring inside that ring, with the
    next event written to it. Without a later event on that CPU, user space would never hear of the loss.
    """
    fork(count=count, interval=interval)
    time.sleep(interval)
    refused_clones(burst)
    time.sleep(interval)
    cpus = sorted(os.sched_getaffinity(0))
    for cpu in cpus:
        os.sched_setaffinity(0, {cpu})
        refused_clones(1)
    os.sched_setaffinity(0, cpus)
    return {"ops": count + burst + len(cpus), "burst": burst, "cpus": len(cpus),
            "what": f"clone() calls ({count} forks, a burst of {burst} refused ones, then 1 on each of {len(cpus)} CPUs)"}


@workload
def tcp_send(sizes=(100, 2000, 30000)):
    """Send one message of each size over a loopback TCP connection: one tcp_sendmsg() call each.

    A thread of this process reads the other end (receiving sends nothing), so the bytes this
    process sends are exactly sum(sizes), in len(sizes) send() calls.
    """
    import socket
    import threading
    sizes = [int(s) for s in (sizes if isinstance(sizes, (list, tuple)) else [sizes])]
    server = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    received = []

    def drain():
        total = sum(sizes)
        while sum(received) < total:
            data = peer.recv(65536)
            if not data:
                break
            received.append(len(data))

    reader = threading.Thread(target=drain)
    reader.start()
    sent = []
    for size in sizes:
        sent.append(client.send(b"x" * size))  # blocking: one send() call sends it all
        time.sleep(0.05)
    reader.join(timeout=5)
    port = client.getsockname()[1]
    for s in (client, peer, server):
        s.close()
    return {"ops": len(sizes), "what": "TCP send() calls", "sizes": sent, "bytes": sum(sent), "sport": port}


def _closed_port(family, host):
    """A port bound on `host` but not listening: connecting to it is refused with a reset."""
    import socket
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.bind((host, 0))
    return holder, holder.getsockname()[1]


def _aborted_connection(family, host):
    """Connect to a listening loopback socket, then close with SO_LINGER 0: the kernel aborts with a reset.

    The reset is sent from the closing socket (tcp_send_active_reset()), which every kernel since
    4.15 traces at tcp:tcp_send_reset. Returns (client port, server port).
    """
    import socket
    import struct
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(1)
    client = socket.socket(family, socket.SOCK_STREAM)
    client.connect(server.getsockname()[:2])
    peer, _ = server.accept()
    ports = client.getsockname()[1], server.getsockname()[1]
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # on, 0 s: no FIN, a reset
    client.close()
    peer.close()
    server.close()
    return ports


@workload
def refused_and_exec(count=3, execs=("/bin/true",), ipv6=1, aborts=1):
    """Per family (IPv4, then IPv6 if `ipv6` and ::1 works): connect `count` times to a closed loopback port,
    and abort `aborts` connections; then exec `execs`.

    Each refused connect makes the kernel answer the SYN with a reset, which kernels 6.10 and later
    trace at tcp:tcp_send_reset (earlier ones trace only resets sent from a socket); each aborted
    connection makes its socket send one, traced on every kernel; each exec fires
    sched:sched_process_exec with the program's path.
    """
    import socket
    import subprocess
    execs = list(execs) if isinstance(execs, (list, tuple)) else [execs]
    families = [(socket.AF_INET, "127.0.0.1", "ipv4")]
    if int(ipv6) and socket.has_ipv6:
        try:
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            probe.bind(("::1", 0))
            probe.close()
            families.append((socket.AF_INET6, "::1", "ipv6"))
        except OSError:
            pass  # no IPv6 loopback on this machine
    resets, aborted = [], []
    for family, host, name in families:
        holder, port = _closed_port(family, host)
        for _ in range(int(count)):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))  # a known source port, so the reset can be matched to this connect
            sport = s.getsockname()[1]
            try:
                s.connect((host, port))
            except ConnectionRefusedError:
                resets.append({"family": name, "addr": host, "client_port": sport, "closed_port": port})
            s.close()
        holder.close()
        for _ in range(int(aborts)):
            client_port, server_port = _aborted_connection(family, host)
            aborted.append({"family": name, "addr": host, "client_port": client_port, "server_port": server_port})
    children = []
    for path in execs:
        child = subprocess.Popen([path], stdout=subprocess.DEVNULL)
        child.wait()
        children.append({"filename": path, "pid": child.pid})
    return {"ops": len(resets) + len(aborted) + len(children),
            "what": f"resets and execs: {len(resets)} refused connects and {len(aborted)} aborted connections "
                    f"(a reset each), {len(children)} execs",
            "resets": resets, "aborts": aborted, "execs": children}


@workload
def sleeps(counts=(30, 20, 10), interval=0.02, unique=0):
    """Sleep counts[0] times; one child per further count sleeps that many times. Each time.sleep() is one clock_nanosleep().

    Child i renames itself bcc-workload-i, so each process is its own key in a map counting per (pid, comm).
    unique=1: the names are bcc-<pid> and bcc-<pid>-i instead, shared with no other run (for counts per comm).
    """
    counts = counts if isinstance(counts, (list, tuple)) else [counts]
    name = f"bcc-{os.getpid()}" if int(unique) else COMM
    if name != COMM:
        Path("/proc/self/comm").write_text(name)
    children, me = [], os.getpid()
    for i, n in enumerate(counts[1:], 1):
        comm = f"{name}-{i}"
        child = os.fork()
        if child == 0:
            die_with_parent(me)
            Path("/proc/self/comm").write_text(comm)
            for _ in range(n):
                time.sleep(interval)
            os._exit(0)
        children.append({"pid": child, "comm": comm, "ops": n})
    for _ in range(counts[0]):
        time.sleep(interval)
    for child in children:
        os.waitpid(child["pid"], 0)
    return {"ops": counts[0], "what": "sleeps (clock_nanosleep() calls)", "children": children, "comm": name}

# Lesson 6's strings: each starts with the lesson's mark, and their lengths fall in
# four different log2 buckets (8-15, 16-31, 32-63, 64-127); the last is longer than
# the 64 bytes the probe copies, so the lesson shows it cut. The mark is joined at run
# time, never written out whole in this file: Python's parser calls strlen() on pieces
# of the source it compiles, and the lesson's probe would count those calls too.
STRLEN_MARK = "lesson6" + ":"
STRLEN_STRINGS = tuple(STRLEN_MARK + " " + text for text in (
    "hi",
    "uprobes count calls",
    "the probe reads this string from user memory",
    "a string longer than the probe's buffer of 64 bytes, so the kernel side copies only its start",
))


@workload
def strlen(count=100, function_calls=3, wait=0):
    """Call libc's strlen() `count` times on STRLEN_STRINGS in turn, then Py_GetVersion() `function_calls` times.

    Both through ctypes, so each call is exactly one call of the C function. wait=1: read one
    line from stdin first, so that a test can attach to this pid before the calls start.
    """
    import ctypes
    if wait:
        sys.stdin.readline()
    libc_strlen = ctypes.CDLL(None).strlen  # dlsym(): the implementation strlen's IFUNC resolver picked
    libc_strlen.restype = ctypes.c_size_t
    strings = [s.encode() for s in STRLEN_STRINGS]
    for i in range(count):
        libc_strlen(strings[i % len(strings)])
    for _ in range(function_calls):
        ctypes.pythonapi.Py_GetVersion()
    per_string = {s: count // len(strings) + (i < count % len(strings)) for i, s in enumerate(STRLEN_STRINGS)}
    return {"ops": count + function_calls,
            "what": f"calls: {count} of strlen() on marked strings, {function_calls} of Py_GetVersion()",
            "strlen_calls": count, "strings": per_string, "function": "Py_GetVersion", "function_calls": function_calls}


def _value(text):
    """Command-line values as numbers where they are numbers, lists where comma-separated."""
    if "," in text:
        return [_value(part) for part in text.split(",") if part]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     usage="workload.py KIND [--param VALUE ...]")
    parser.add_argument("kind", choices=sorted(WORKLOADS))
    args, rest = parser.parse_known_args(argv)
    if len(rest) % 2 or not all(flag.startswith("--") for flag in rest[::2]):
        parser.error("parameters come in pairs: --name value")
    params = {flag[2:].replace("-", "_"): _value(value) for flag, value in zip(rest[::2], rest[1::2])}
    die_with_parent()
    try:
        Path("/proc/self/comm").write_text(COMM)
    except OSError:
        pass
    result = {"kind": args.kind, "pid": os.getpid(), "ppid": os.getppid(), "comm": COMM}
    result.update(WORKLOADS[args.kind](**params))
    try:
        print(json.dumps(result), flush=True)
    except BrokenPipeError:  # the runner that would read the report is gone (killed): nobody to tell
        os._exit(1)


if __name__ == "__main__":
    main()
