"""Event throughput and the cost per traced call, on the flood child (bench/flood.py) and bench/flood.c.

Everything here runs in one BPF object: bench/flood.c is compiled once and its functions are attached to
syscalls:sys_enter_getppid one at a time.
"""

import ctypes as ct
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
TRACEPOINT = "syscalls:sys_enter_getppid"
PAGES_DEFAULT, PAGES_SMALL = 8, 1      # perf buffer pages per CPU: the runner's default, and its "see loss" size
COST_PAGES = 2048                      # per CPU: a whole cost run fits, so no perf_submit fails


def power_of_two(n):
    p = 1
    while p < n:
        p *= 2
    return p


def load(ncpus=None):
    """Compile flood.c. A ring buffer is shared by all CPUs: give it as many pages as the perf buffer has in all."""
    from bcc import BPF
    ncpus = ncpus or len(os.sched_getaffinity(0))
    cflags = [f"-DRING_DEFAULT_PAGES={power_of_two(PAGES_DEFAULT * ncpus)}",
              f"-DRING_SMALL_PAGES={power_of_two(PAGES_SMALL * ncpus)}",
              f"-DRING_BIG_PAGES={power_of_two(COST_PAGES * ncpus)}", "-Wno-ignored-attributes"]
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # clang's header warnings; a real error raises below all the same
    try:
        return BPF(src_file=str(HERE / "flood.c"), cflags=cflags)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Child:
    """The flood child, spoken to through its stdin and stdout."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "flood.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        self.buffer = b""
        self.pid = self.read()["pid"]

    def send(self, command):
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def ready(self, timeout=0.0):
        """The child's next report if it has one within `timeout` seconds, else None."""
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("the flood child died")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def read(self):
        return self.ready(timeout=30)

    def close(self):
        try:
            self.send("exit")
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def set_target(b, pid):
    b["target"][ct.c_int(0)] = ct.c_uint(pid)


def close_perf_buffer(table):
    for cpu in range(os.cpu_count()):
        del table[cpu]  # frees that CPU's reader, if it has one


def record(event):
    """What a lesson's glue does with one event (lesson 2's record(), in short)."""
    return {"pid": event.pid, "cpu": event.cpu, "comm": event.comm.decode(errors="replace"), "time": event.ts}


# -- the three ways to stream events ----------------------------------------------------------------


class Classic:
    """The BCC tutorial's way: a callback per event that calls b["events"].event(data)."""

    def __init__(self, b, pid, pages):
        self.b, self.delivered, self.lost = b, 0, 0

        def print_event(cpu, data, size):
            e = record(b["events"].event(data))
            if e["pid"] == pid:
                self.delivered += 1

        def print_lost(count):
            self.lost += count

        b["events"].open_perf_buffer(print_event, page_cnt=pages, lost_cb=print_lost)
        self.fn = "on_perf"

    def poll(self, ms):
        self.b.perf_buffer_poll(timeout=ms)

    def close(self):
        close_perf_buffer(self.b["events"])


class Runner:
    """The runner's own pipeline: runner/sources.py's PerfBuffer source, polled as runner/session.py's loop does."""

    def __init__(self, b, pid, pages):
        from runner import sources
        self.b, self.pid, self.delivered = b, pid, 0
        self.source = sources.PerfBuffer(b, SimpleNamespace(record=record), SimpleNamespace(pages=pages), "events")
        self.Lost = sources.Lost
        self.fn = "on_perf"

    @property
    def lost(self):
        return self.source.lost

    def poll(self, ms):
        for r in self.source.poll(ms / 1000):
            if not isinstance(r, self.Lost) and r["pid"] == self.pid:  # Lost: where drops were (counted in .lost)
                self.delivered += 1

    def close(self):
        close_perf_buffer(self.b["events"])


class Rings:
    """The ring buffers of flood.c, opened once: counts per ring; drops come from the kernel's counter.

    The classic way's rings get a callback here (open_ring_buffer, as a script reads a ring buffer); the runner's
    two rings are opened by runner/sources.py's RingBuffer source, each read by the runner's pipeline.
    """

    def __init__(self, b, pid):
        from runner import sources
        self.b, self.delivered, self.pid = b, {}, pid
        self.sources = {name: sources.RingBuffer(b, SimpleNamespace(record=record), None, name)
                        for name in ("ring_runner_default", "ring_runner_small")}
        for name in ("ring_default", "ring_small", "ring_big"):
            self.delivered[name] = 0
            b[name].open_ring_buffer(self._callback(name, pid))

    def _callback(self, name, pid):
        b, delivered = self.b, self.delivered

        def on_event(ctx, data, size):
            e = record(b[name].event(data))
            if e["pid"] == pid:
                delivered[name] += 1
        return on_event

    def drops(self):
        return int(self.b["ring_drops"].sum(ct.c_int(0)).value)


class RingBuffer:
    """The classic way to read a ring buffer: open_ring_buffer's callback, ring_buffer_poll()."""

    def __init__(self, rings, size):
        self.rings, self.name = rings, "ring_default" if size == "default" else "ring_small"
        self.fn = "on_" + self.name
        self.start_delivered, self.start_drops = rings.delivered[self.name], rings.drops()

    @property
    def delivered(self):
        return self.rings.delivered[self.name] - self.start_delivered

    @property
    def lost(self):
        return self.rings.drops() - self.start_drops

    def poll(self, ms):
        self.rings.b.ring_buffer_poll(timeout=ms)

    def close(self):
        pass


class RunnerRing:
    """The runner's pipeline on a ring buffer: runner/sources.py's RingBuffer source, polled as the runner does."""

    def __init__(self, rings, size):
        self.rings, self.name = rings, "ring_runner_default" if size == "default" else "ring_runner_small"
        self.source, self.fn, self.delivered = rings.sources[self.name], "on_" + self.name, 0
        self.start_drops = rings.drops()

    @property
    def lost(self):
        return self.rings.drops() - self.start_drops

    def poll(self, ms):
        pid = self.rings.pid
        self.delivered += sum(1 for r in self.source.poll(ms / 1000) if r["pid"] == pid)

    def close(self):
        pass


def drain(way, quiet_polls=3, ms=20):
    """Read until `quiet_polls` polls in a row bring nothing new."""
    quiet, seen = 0, None
    while quiet < quiet_polls:
        way.poll(ms)
        now = (way.delivered, way.lost)
        quiet = quiet + 1 if now == seen else 0
        seen = now


def stream(b, child, way, seconds):
    """One throughput run: flood for `seconds`, read all, then one call per CPU so a perf ring reports its losses."""
    b.attach_tracepoint(tp=TRACEPOINT, fn_name=way.fn)
    try:
        started = time.perf_counter()
        child.send(f"flood {seconds}")
        report = None
        while report is None:
            way.poll(50)
            report = child.ready()
        drain(way)
        elapsed = time.perf_counter() - started
        child.send("cpus")
        calls = report["calls"] + child.read()["calls"]
        drain(way)
    finally:
        b.detach_tracepoint(tp=TRACEPOINT)
        way.close()
    return {"calls": calls, "delivered": way.delivered, "lost": way.lost, "seconds": elapsed,
            "offered_per_s": report["calls"] / (report["ns"] / 1e9),
            "delivered_per_s": way.delivered / elapsed, "lost_per_s": way.lost / elapsed,
            "exact": way.delivered + way.lost == calls}


WAYS = ("classic", "runner", "ringbuf", "runner_ringbuf")


def throughput(b, child, rings, way_name, size, seconds):
    pages = PAGES_DEFAULT if size == "default" else PAGES_SMALL
    if way_name == "classic":
        way = Classic(b, child.pid, pages)
    elif way_name == "runner":
        way = Runner(b, child.pid, pages)
    elif way_name == "runner_ringbuf":
        way = RunnerRing(rings, size)
    else:
        way = RingBuffer(rings, size)
    return stream(b, child, way, seconds)


# -- what each mechanism costs per call -------------------------------------------------------------

MECHANISMS = {  # name -> function in flood.c (None: nothing attached, the baseline)
    "no probe": None,
    "empty program": "on_empty",
    "bpf_trace_printk": "on_printk",
    "perf_submit": "on_perf",
    "ringbuf_output": "on_ring_big",
    "ringbuf_reserve/submit": "on_ring_reserve",
    "histogram increment": "on_hist",
    "hash increment": "on_hash",
    "percpu increment": "on_percpu",
}


class Sink:
    """Reads the perf buffer between cost runs (never during one), so every perf_submit finds room."""

    def __init__(self, b):
        self.b, self.delivered, self.lost = b, 0, 0

        def on_event(cpu, data, size):
            self.delivered += 1

        def on_lost(count):
            self.lost += count

        b["events"].open_perf_buffer(on_event, page_cnt=COST_PAGES, lost_cb=on_lost)

    def poll(self, ms):
        self.b.perf_buffer_poll(timeout=ms)
        self.b.ring_buffer_poll(timeout=0)

    def close(self):
        close_perf_buffer(self.b["events"])


def cost_run(b, child, fn, calls):
    """ns per call of one run of `calls` getppid() calls with `fn` attached (or none)."""
    if fn:
        b.attach_tracepoint(tp=TRACEPOINT, fn_name=fn)
    try:
        child.send(f"run {calls}")
        report = child.read()
    finally:
        if fn:
            b.detach_tracepoint(tp=TRACEPOINT)
    return report["ns"] / report["calls"]


def costs(b, child, sink, calls, reps):
    """{mechanism: [ns per call, one per repetition]}; mechanisms take turns, so slow moments hit all alike."""
    out = {name: [] for name in MECHANISMS}
    names = list(MECHANISMS)
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            out[name].append(cost_run(b, child, MECHANISMS[name], calls))
            if name == "bpf_trace_printk":
                from .startup import drain_trace_pipe
                drain_trace_pipe()  # leave no flood of our lines in the kernel's shared trace buffer
            drain(sink, quiet_polls=1, ms=0)
    return out
