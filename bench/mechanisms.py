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

from . import stats
from .stats import cpu_per_event

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
        ncpus = len(os.sched_getaffinity(0))
        pages = {"ring_runner_default": power_of_two(PAGES_DEFAULT * ncpus),
                 "ring_runner_small": power_of_two(PAGES_SMALL * ncpus)}
        self.sources = {name: sources.RingBuffer(b, SimpleNamespace(record=record), SimpleNamespace(pages=n), name)
                        for name, n in pages.items()}
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


def stream(b, child, way, seconds, rate=None):
    """One run: the child calls getppid() for `seconds` (as fast as it can, or `rate` calls a second), the way reads
    everything, then one call per CPU makes a perf ring report its losses.

    cpu_s is the CPU time this process (the consumer: nothing else runs in it meanwhile) spent from the start of
    the run until the last event was read; the traced calls themselves run in the child."""
    b.attach_tracepoint(tp=TRACEPOINT, fn_name=way.fn)
    try:
        cpu, started = time.process_time(), time.perf_counter()
        child.send(f"flood {seconds}" if rate is None else f"paced {rate} {seconds}")
        report = None
        while report is None:
            way.poll(50)
            report = child.ready()
        drain(way)
        finish = getattr(way, "finish", None)
        if finish:
            finish()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        child.send("cpus")
        calls = report["calls"] + child.read()["calls"]
        drain(way)
        if finish:
            finish()
    finally:
        b.detach_tracepoint(tp=TRACEPOINT)
        way.close()
    return {"calls": calls, "delivered": way.delivered, "lost": way.lost, "seconds": elapsed, "cpu_s": cpu,
            "offered_per_s": report["calls"] / (report["ns"] / 1e9), "asked_per_s": rate,
            "delivered_per_s": way.delivered / elapsed, "lost_per_s": way.lost / elapsed,
            "cpu_per_event_ns": cpu_per_event(cpu, way.delivered),
            "exact": way.delivered + way.lost == calls}


WAYS = ("classic", "runner", "ringbuf", "runner_ringbuf")
# the consumers of the pipeline measures: the four above, and one way that sends no event at all: a per-CPU count
# in the kernel, read once a second (what lessons 3 and 8 do), the measured alternative to an event per call
PIPELINE_WAYS = WAYS + ("percpu_count",)


class PercpuCount:
    """No event per call: the program adds 1 to a per-CPU array slot; Python reads the sum once a second."""

    def __init__(self, b):
        self.b, self.fn, self.lost, self.delivered = b, "on_percpu", 0, 0
        self.start, self.next = self._sum(), time.monotonic() + 1.0

    def _sum(self):
        return int(self.b["percpu_counts"].sum(ct.c_int(0)).value)

    def poll(self, ms):
        select.select([], [], [], ms / 1000)
        if time.monotonic() >= self.next:
            self.finish()

    def finish(self):
        self.next = time.monotonic() + 1.0
        self.delivered = self._sum() - self.start

    def close(self):
        pass


def make_way(b, child, rings, way_name, size="default"):
    pages = PAGES_DEFAULT if size == "default" else PAGES_SMALL
    if way_name == "classic":
        return Classic(b, child.pid, pages)
    if way_name == "runner":
        return Runner(b, child.pid, pages)
    if way_name == "runner_ringbuf":
        return RunnerRing(rings, size)
    if way_name == "percpu_count":
        return PercpuCount(b)
    return RingBuffer(rings, size)


def throughput(b, child, rings, way_name, size, seconds):
    return stream(b, child, make_way(b, child, rings, way_name, size), seconds)


def paced(b, child, rings, way_name, rate, seconds):
    """One run at `rate` calls a second offered, at the default buffer size."""
    return stream(b, child, make_way(b, child, rings, way_name), seconds, rate=rate)


def ramp(b, child, rings, way_name, seconds, start=25_000, factor=1.3, bisect=2, limit=4_000_000):
    """The highest offered rate `way_name` reads with nothing lost: rates rise by `factor` until a run loses events
    (or the child cannot call any faster), then `bisect` runs between the last clean rate and the first lossy one.

    Returns {"ceiling": calls/s, "bound": "consumer" (a faster rate lost events) or "producer" (the child could
    offer no more, and nothing was lost), "steps": the runs}."""
    steps, rate = [], start
    while rate <= limit:
        run = paced(b, child, rings, way_name, rate, seconds)
        steps.append(run)
        if run["lost"] or run["offered_per_s"] < 0.9 * rate:
            break
        rate *= factor
    for _ in range(bisect):
        low, high = stats.ramp_bracket(steps)
        if low is None or high is None:
            break
        steps.append(paced(b, child, rings, way_name, (low * high) ** 0.5, seconds))
    return {"ceiling": stats.zero_loss_ceiling(steps), "bound": stats.ceiling_bound(steps), "steps": steps}


# -- what each mechanism costs per call -------------------------------------------------------------

MECHANISMS = {  # name -> (function in flood.c, how it is attached); (None, None): nothing attached, the baseline
    "no probe": (None, None),
    "empty program": ("on_empty", "tracepoint"),
    "empty program on a uprobe": ("on_uprobe_empty", "uprobe"),     # lessons 6 and 9 (a USDT probe is a uprobe)
    "bpf_trace_printk": ("on_printk", "tracepoint"),        # lesson 1
    "perf_submit": ("on_perf", "tracepoint"),               # lessons 2, 4, 5
    "ringbuf_output": ("on_ring_big", "tracepoint"),        # lesson 7
    "ringbuf_reserve/submit": ("on_ring_reserve", "tracepoint"),
    "hash increment": ("on_hash", "tracepoint"),            # lessons 3, 6, 9
    "histogram increment": ("on_hist", "tracepoint"),       # lesson 8
    "percpu increment": ("on_percpu", "tracepoint"),
    "stack id (user stack)": ("on_stack", "tracepoint"),    # lesson 10
}
UPROBE = ("c", "getppid")  # the child's os.getppid() calls libc's getppid(): a uprobe there fires once per call


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


def attach(b, fn, how):
    if how == "uprobe":
        b.attach_uprobe(name=UPROBE[0], sym=UPROBE[1], fn_name=fn)
    elif how:
        b.attach_tracepoint(tp=TRACEPOINT, fn_name=fn)


def detach(b, how):
    if how == "uprobe":
        b.detach_uprobe(name=UPROBE[0], sym=UPROBE[1])
    elif how:
        b.detach_tracepoint(tp=TRACEPOINT)


def cost_run(b, child, fn, calls, how="tracepoint"):
    """ns per call of one run of `calls` getppid() calls with `fn` attached (or none)."""
    if fn:
        attach(b, fn, how)
    try:
        child.send(f"run {calls}")
        report = child.read()
    finally:
        if fn:
            detach(b, how)
    return report["ns"] / report["calls"]


def costs(b, child, sink, calls, reps):
    """{mechanism: [ns per call, one per repetition]}; mechanisms take turns, so slow moments hit all alike."""
    out = {name: [] for name in MECHANISMS}
    names = list(MECHANISMS)
    for rep in range(reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            fn, how = MECHANISMS[name]
            out[name].append(cost_run(b, child, fn, calls, how))
            if name == "bpf_trace_printk":
                from .startup import drain_trace_pipe
                drain_trace_pipe()  # leave no flood of our lines in the kernel's shared trace buffer
            drain(sink, quiet_polls=1, ms=0)
    return out
