"""How a lesson's events reach user space: trace_pipe lines, a perf buffer, a ring buffer, or reads of its maps.

Each source turns what the kernel delivered into records (dicts) through the lesson's
own glue (`record()` or `snapshot()`). poll(timeout) returns new records; final() those
still there at the end; reset() forgets what arrived before a new trace of the same load.
"""

import errno
import select
import time

from . import signals
from .errors import EnvironmentNotReady
from .language import _


class Source:
    lost = 0  # events the kernel dropped, as the channel reports them (None: the channel cannot tell)
    rows = 0  # records shown so far
    interval_rows = False  # a map lesson: each read prints its own header

    def poll(self, timeout):
        raise NotImplementedError

    def final(self):
        return []

    def reset(self):
        self.poll(0)
        self.rows = 0

    def weight(self, record):
        """How many kernel events one record stands for."""
        return 1

    def describe(self):
        return {}


class TracePipe(Source):
    """Lines that bpf_trace_printk() wrote to the kernel's shared trace_pipe."""

    lost = None  # trace_pipe does not tell its readers how many lines were overwritten

    def __init__(self, b, glue, options):
        self.b, self.glue = b, glue
        try:
            self.file = b.trace_open(nonblocking=True)
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
            raise EnvironmentNotReady(_("Another program is reading the kernel's trace_pipe, which this kernel lets "
                                        "only one reader open at a time."),
                                      fix=_("Stop the other reader (another run of this lesson, its glue run alone, a "
                                            "cat of trace_pipe), then run again.")) from err
        self._read_all()  # lines left from before this run are not this run's events

    def _read_all(self):
        fields = []
        while True:
            f = self.b.trace_fields(nonblocking=True)
            if f[0] is None:
                return fields
            fields.append(f)

    def poll(self, timeout):
        ready, _, _ = select.select([self.file], [], [], timeout)
        return [self.glue.record(f) for f in self._read_all()] if ready else []

    def final(self):
        return [self.glue.record(f) for f in self._read_all()]  # lines written before the end, not yet read

    def reset(self):
        self._read_all()
        self.rows = 0


PERF_PAGES = 8  # a perf buffer's pages per CPU when the run names none (BCC's own default)
# While events flow, a source waits this long after a read before it reads again. BCC's perf buffer wakes its
# reader for every event, and a ring buffer for every event that finds it caught up: read at once, each wakeup
# brings one event, and the wakeup costs more CPU than the event. A millisecond later, one read takes all that
# gathered meanwhile (at 200,000 events a second, 200: a third of one CPU's 8 pages). A buffer smaller than that
# is read at once, as BCC reads it: it holds too few events to wait (a 1-page buffer, 85 of them, is where the
# perf buffer lesson shows a burst overflowing it; with 1/8 ms of waiting the runner kept up instead).
# The first events after a quiet read are read at once too: nothing is flowing yet, and a wait is then paid in
# full, or more: a workload let go as the probes attach that keeps both CPUs busy (two children opening files as
# fast as they can) made a runner that waited 1 ms print its first event 7.6 ms after attaching (median of 12
# runs), 0.6 ms without the wait.
GATHER = 0.001


def gather(pages):
    """How long to let events gather in a buffer of `pages` (None: the default size) after a wakeup."""
    return GATHER if (pages or PERF_PAGES) >= PERF_PAGES else 0.0


class Lost(int):
    """In a source's records: this many events were dropped here (as a perf buffer's kernel reports it, or as a ring
    buffer's program counted it)."""


class Buffered(Source):
    """A perf or ring buffer, read through BCC's poll call, whose callbacks append records to self.pending."""

    flowing = False  # the last read found events

    def _read(self, poll, timeout):
        """The records of one poll(), and of a second one GATHER later where events are flowing."""
        with signals.deferred():  # a Ctrl-C or SIGTERM raised inside a callback would be lost in BCC's C code
            poll(timeout=int(timeout * 1000))
            if self.pending and self.gather and self.flowing:  # let more gather, then read them all (GATHER)
                pause(self.gather)
                poll(timeout=0)
        self.flowing = bool(self.pending)
        out = self.pending[:]
        del self.pending[:]
        return out


class PerfBuffer(Buffered):
    """Structs sent with <table>.perf_submit() through a BPF_PERF_OUTPUT channel."""

    def __init__(self, b, glue, options, table):
        self.b, self.lost, self.pending = b, 0, []
        self.dropped = Dropped(b, glue)  # where the program also counts what perf_submit() could not send
        record, pending = glue.record, self.pending

        # b[table] is looked up at each event, not kept here: b.cleanup() frees the perf buffer only when it
        # drops the last reference to the table; one kept here would free it later, after its map is closed.
        def on_event(cpu, data, size):
            pending.append(record(b[table].event(data)))

        def on_lost(count):
            self.lost += count
            pending.append(Lost(count))  # in order with the events: the moment of the loss is the lesson

        b[table].open_perf_buffer(on_event, page_cnt=options.pages or PERF_PAGES, lost_cb=on_lost)
        self.gather = gather(options.pages)

    def poll(self, timeout):
        return self._read(self.b.perf_buffer_poll, timeout)

    def final(self):
        out = self.poll(0)  # events already in the buffers, not yet read
        self.dropped.update()
        return out

    def reset(self):
        super().reset()
        self.lost = 0
        self.dropped.restart()

    def describe(self):
        return self.dropped.describe()


class Dropped:
    """What a program counted itself as dropped, {pid: events}, through the glue's dropped(b), since a start."""

    def __init__(self, b, glue):
        self.b, self.read = b, getattr(glue, "dropped", None)
        self.before, self.by_pid = {}, {}

    def now(self):
        return {int(pid): int(n) for pid, n in self.read(self.b).items()}

    def update(self):
        if self.read is not None:
            now = self.now()
            self.by_pid = {pid: n - self.before.get(pid, 0) for pid, n in now.items() if n > self.before.get(pid, 0)}
        return sum(self.by_pid.values())

    def restart(self):
        if self.read is not None:
            self.before, self.by_pid = self.now(), {}  # an earlier trace's

    def describe(self):
        return {} if self.read is None else {"lost_by_pid": {str(pid): n for pid, n in sorted(self.by_pid.items())}}


class RingBuffer(Buffered):
    """Structs sent with <table>.ringbuf_output() or ringbuf_reserve()/ringbuf_submit() through a BPF_RINGBUF_OUTPUT.

    One buffer for all CPUs, read in the order the events were reserved. The kernel counts no loss for it: a
    program learns that the buffer is full when its reserve (or output) fails, and counts that itself. The glue's
    dropped(b), where it has one, returns those counts as {pid: events}; without it the loss is unknown (None).
    """

    CHECK_DROPS = 0.2  # seconds between two reads of the program's drop counts while events flow

    def __init__(self, b, glue, options, table):
        self.b, self.pending, self.dropped = b, [], Dropped(b, glue)
        self.lost = 0 if self.dropped.read is not None else None
        self.next_check = 0.0
        self.gather = gather(getattr(options, "pages", None))  # the ring's pages, where the run chose them
        record, pending = glue.record, self.pending

        def on_event(ctx, data, size):  # b[table] looked up at each event, as for the perf buffer
            pending.append(record(b[table].event(data)))
            return 0

        b[table].open_ring_buffer(on_event)

    def poll(self, timeout):
        out = self._read(self.b.ring_buffer_poll, timeout)
        if self.lost is not None and time.monotonic() >= self.next_check:
            self._drops(out)
        return out

    def _drops(self, out):
        """Drops counted since the last look, as a Lost record after the events read with them."""
        self.next_check = time.monotonic() + self.CHECK_DROPS
        total = self.dropped.update()
        if total > self.lost:
            out.append(Lost(total - self.lost))
            self.lost = total

    def final(self):
        out = self.poll(0)  # events already in the buffer, not yet read
        if self.lost is not None:
            self._drops(out)
        return out

    def reset(self):
        super().reset()
        self.dropped.restart()
        if self.lost is not None:
            self.lost = 0

    def describe(self):
        return self.dropped.describe()


def pause(seconds):
    """Wait, as time.sleep() does, but without clock_nanosleep(): a lesson that times every process's sleeps would
    count the runner's own waits among them (select() waits the same, and Ctrl-C ends it the same)."""
    select.select([], [], [], seconds)


class Table(Source):
    """Rows read from the lesson's maps every `interval` seconds (glue.snapshot(b)), and once more at the end.

    Each read is one interval, its rows tagged with the interval's number; `on_interval(number, empty)`
    is told of each (the terminal prints a header). A record's "count", when it has one, is how many
    events the kernel aggregated into that row.
    """

    lost = None  # a map drops nothing in transit; an update it refuses when full is not reported
    interval_rows = True

    def __init__(self, b, glue, options, on_interval=None):
        self.b, self.glue, self.interval = b, glue, options.interval
        self.on_interval, self.intervals, self.full = on_interval, 0, set()
        self.next = time.monotonic() + self.interval

    def poll(self, timeout):
        wait = self.next - time.monotonic()
        if wait > timeout:
            pause(timeout)
            return []
        pause(max(wait, 0))
        self.next += self.interval
        return self.final()

    def final(self):
        self.intervals += 1
        self.full.update(full_maps(self.b))  # before the read, which may clear the maps
        rows = [{"interval": self.intervals, **row} for row in self.glue.snapshot(self.b)]
        if self.on_interval is not None:
            self.on_interval(self.intervals, not rows)
        return rows

    def reset(self):
        self.glue.snapshot(self.b)  # counts from before this trace are not its own
        self.rows = self.intervals = 0
        self.full = set()
        self.next = time.monotonic() + self.interval

    def weight(self, record):
        return record.get("count", 1)  # a row aggregates "count" events in the kernel

    def describe(self):
        return {"rows": self.rows, "intervals": self.intervals, "full_maps": sorted(self.full)}


def max_entries(table):
    """A map's size as its program declared it (bcc 0.18 knows it for arrays only: ask libbcc, as arrays do there)."""
    size = getattr(table, "max_entries", None)
    if size is None:
        from bcc.libbcc import lib
        size = lib.bpf_table_max_entries_id(table.bpf.module, table.map_id)
    return int(size)


def full_maps(b):
    """The names of b's hash maps that hold as many keys as they can: such a map refuses a new key, and only the
    BPF program hears of it (the update's error), so counts go missing without a word."""
    from bcc.table import HashTable
    names = []
    for name, table in list(getattr(b, "tables", {}).items()):
        try:
            if isinstance(table, HashTable) and len(table) >= max_entries(table):
                names.append(name.decode() if isinstance(name, bytes) else str(name))
        except (AttributeError, OSError):
            continue  # a map this bcc cannot count: say nothing rather than guess
    return names


def make_source(lesson, b, glue, options, on_interval=None):
    if lesson.events == "trace_pipe":
        return TracePipe(b, glue, options)
    if lesson.events.startswith("perf:"):
        return PerfBuffer(b, glue, options, lesson.output_table)
    if lesson.events.startswith("ringbuf:"):
        table = lesson.output_table
        if hasattr(b[table], "open_ring_buffer"):
            return RingBuffer(b, glue, options, table)
        return PerfBuffer(b, glue, options, table)  # the lesson's fallback where the kernel has no ring buffer
    return Table(b, glue, options, on_interval)
