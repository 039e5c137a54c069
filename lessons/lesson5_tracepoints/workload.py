"""What lesson 5 traces: TCP resets and program executions, each made on purpose.

Per family (IPv4, then IPv6 if `ipv6` and ::1 works): connect `count` times to a closed
loopback port, and abort `aborts` connections; then exec each program of `execs`.
Each refused connect makes the kernel answer the SYN with a reset, which kernels 6.10 and
later trace at tcp:tcp_send_reset (earlier ones trace only resets sent from a socket); each
aborted connection makes its socket send one, traced on every kernel; each exec fires
sched:sched_process_exec with the program's path.
"""
import socket
import struct
import subprocess
from gettext import gettext as _


def _closed_port(family, host):
    """A port bound on `host` but not listening: connecting to it is refused with a reset."""
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.bind((host, 0))
    return holder, holder.getsockname()[1]


def _aborted_connection(family, host):
    """Connect to a listening loopback socket, then close with SO_LINGER 0: the kernel aborts with a reset.

    The reset is sent from the closing socket (tcp_send_active_reset()), which every kernel since
    4.15 traces at tcp:tcp_send_reset. Returns (client port, server port).
    """
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


def run(count=3, execs=("/bin/true",), ipv6=1, aborts=1):
    """Per family (IPv4, then IPv6 if `ipv6` and ::1 works): connect `count` times to a closed loopback port,
    and abort `aborts` connections; then exec `execs`.

    Each refused connect makes the kernel answer the SYN with a reset, which kernels 6.10 and later
    trace at tcp:tcp_send_reset (earlier ones trace only resets sent from a socket); each aborted
    connection makes its socket send one, traced on every kernel; each exec fires
    sched:sched_process_exec with the program's path.
    """
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
        for _unused in range(int(count)):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))  # a known source port, so the reset can be matched to this connect
            sport = s.getsockname()[1]
            try:
                s.connect((host, port))
            except ConnectionRefusedError:
                resets.append({"family": name, "addr": host, "client_port": sport, "closed_port": port})
            s.close()
        holder.close()
        for _unused in range(int(aborts)):
            client_port, server_port = _aborted_connection(family, host)
            aborted.append({"family": name, "addr": host, "client_port": client_port, "server_port": server_port})
    children = []
    for path in execs:
        child = subprocess.Popen([path], stdout=subprocess.DEVNULL)
        child.wait()
        children.append({"filename": path, "pid": child.pid})
    return {"ops": len(resets) + len(aborted) + len(children),
            "what": _("resets and execs: {refused} refused connects and {aborted} aborted connections "
                      "(a reset each), {execs} execs").format(refused=len(resets), aborted=len(aborted),
                                                              execs=len(children)),
            "resets": resets, "aborts": aborted, "execs": children,
            # for the runner's summary: the execs' events carry the children's pids, and the exec tracepoint
            # also saw this process start (the runner started it after attaching)
            "pids": [c["pid"] for c in children],
            "also": [{"count": 1, "why": _("its own start, the exec of the Python that runs it")}]}
