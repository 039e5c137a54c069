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
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


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
    try:
        Path("/proc/self/comm").write_text(COMM)
    except OSError:
        pass
    result = {"kind": args.kind, "pid": os.getpid(), "comm": COMM}
    result.update(WORKLOADS[args.kind](**params))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
