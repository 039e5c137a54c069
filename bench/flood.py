#!/usr/bin/env python3
"""The flood child of python3 -m bench: calls getppid() in a tight loop when told to, and reports how often.

getppid() is about the cheapest system call there is, and glibc never caches it, so each call in the loop
is one syscalls:sys_enter_getppid event. Stdlib only, run as a plain script. It reads commands on stdin and
answers each with one JSON line on stdout:

    run N        N calls;                           {"calls": N, "ns": time the loop took}
    flood S      as many calls as fit in S seconds; {"calls": n, "ns": ...}
    paced R S    R calls a second for S seconds, in bursts of a millisecond's calls; {"calls": n, "ns": ...}
                 (fewer when R is more than this child can make: then it runs as fast as it can)
    cpus         one call on each CPU in turn;      {"calls": number of CPUs}
                 (a perf buffer reports events it dropped with the next event written to that CPU's ring)
"""

import json
import os
import sys
import time

COMM = "bench-flood"


def main():
    try:
        with open("/proc/self/comm", "w") as f:
            f.write(COMM)
    except OSError:
        pass
    getppid, clock = os.getppid, time.perf_counter_ns
    print(json.dumps({"pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            calls = int(args[0])
            start = clock()
            for _ in range(calls):
                getppid()
            report = {"calls": calls, "ns": clock() - start}
        elif command == "flood":
            calls, start = 0, clock()
            deadline = start + int(float(args[0]) * 1e9)
            while clock() < deadline:
                for _ in range(1000):
                    getppid()
                calls += 1000
            report = {"calls": calls, "ns": clock() - start}
        elif command == "paced":
            rate, seconds = float(args[0]), float(args[1])
            burst = max(1, int(rate / 1000))  # a millisecond's worth of calls, then a pause until it is due
            period = int(burst / rate * 1e9)
            calls, start = 0, clock()
            due, deadline = start, start + int(seconds * 1e9)
            while due < deadline:
                for _ in range(burst):
                    getppid()
                calls += burst
                due += period
                wait = due - clock()
                if wait > 0:
                    time.sleep(wait / 1e9)
                elif wait < -period * 10:
                    due = clock()  # far behind (more than it can make): do not burst to catch up
            report = {"calls": calls, "ns": clock() - start}
        elif command == "cpus":
            cpus = sorted(os.sched_getaffinity(0))
            for cpu in cpus:
                os.sched_setaffinity(0, {cpu})
                getppid()
            os.sched_setaffinity(0, cpus)
            report = {"calls": len(cpus)}
        else:
            break
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
