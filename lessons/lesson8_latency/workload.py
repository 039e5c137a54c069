"""What lesson 8 times: sleeps of known lengths in three processes, and direct reads from a disk.

Two children named bcc-short each sleep `short` times for 2.1 ms; one named bcc-long sleeps
`medium` times for 17 ms, then `long` times for 70 ms. Each sleep is one clock_nanosleep()
call (through libc, as C programs sleep). The lengths sit just above a power of two of
microseconds (2100, 17000, 70000 us), so a sleep lands in a known log2 bucket (2048-4095,
16384-32767 and 65536-131071 us) unless the kernel runs the woken sleeper later than the rest
of that bucket (1.9 ms at least; in a VM whose host is busy it happens to a few sleeps in a
hundred). So each child also times every sleep on its own clock, and reports the bucket each
one took: the kernel's histogram must hold exactly those. When the sleepers are done, a fourth
child, bcc-reader, reads a file `reads` times with O_DIRECT, so that each read goes to the
disk: how long those take is measured, not known.
"""
import ctypes
import json
import mmap
import os
import random
import time
from gettext import gettext as _

SLEEPS_MS = {"short": 2.1, "medium": 17.0, "long": 70.0}
CLOCK_MONOTONIC = 1
PR_SET_NAME = 15
BLOCK = 4096            # one read: O_DIRECT wants the size, offset and buffer aligned to the disk's block
FILE_SIZE = 4 << 20     # the file read at random offsets


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


# The kernel times a sleep from the syscall's entry to its exit; the child's clock, around the
# call, also counts the way in and out through ctypes: a few microseconds. A sleep the child
# timed less than this above a power of two may be in the bucket below in the kernel's histogram.
SLACK_US = 100


def sleeper(libc, ms):
    """One clock_nanosleep() of `ms` milliseconds; returns how long it took, in microseconds, on our clock."""
    ns = int(ms * 1e6)
    request = timespec(ns // 1_000_000_000, ns % 1_000_000_000)
    started = time.perf_counter_ns()
    libc.clock_nanosleep(CLOCK_MONOTONIC, 0, ctypes.byref(request), None)
    return (time.perf_counter_ns() - started) // 1000


def slots(took):
    """{log2 bucket: sleeps} of sleeps that took `took` microseconds, as bpf_log2l() buckets them; and how many
    sit within SLACK_US above a bucket's start (the kernel's shorter measure may put them one bucket lower)."""
    counts = {}
    for us in took:
        counts[us.bit_length()] = counts.get(us.bit_length(), 0) + 1
    return counts, sum(1 for us in took if us - (1 << (us.bit_length() - 1)) < SLACK_US)


def disk_folder():
    """A folder on a block device (not tmpfs), with the device's name; (None, why) where there is none."""
    for folder in ("/var/tmp", "/tmp", os.getcwd()):
        try:
            dev = os.stat(folder).st_dev
        except OSError:
            continue
        sys_dev = "/sys/dev/block/%d:%d" % (os.major(dev), os.minor(dev))
        if os.path.exists(sys_dev):
            return folder, os.path.basename(os.path.realpath(sys_dev))
    return None, _("no folder of /var/tmp, /tmp or the current one is on a block device (tmpfs or overlay?)")


def reader(count):
    """`count` O_DIRECT reads of one block at random offsets of a new file; returns (device, seconds)."""
    folder, device = disk_folder()
    if folder is None:
        return device, 0.0
    path = os.path.join(folder, "bcc-lesson8-%d" % os.getpid())
    try:
        with open(path, "wb") as f:
            f.write(os.urandom(FILE_SIZE))
            f.flush()
            os.fsync(f.fileno())
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        buffer = mmap.mmap(-1, BLOCK)  # page-aligned memory, as O_DIRECT needs
        started = time.monotonic()
        for _ in range(count):
            os.preadv(fd, [buffer], random.randrange(FILE_SIZE // BLOCK) * BLOCK)
        took = time.monotonic() - started
        os.close(fd)
    finally:
        os.unlink(path)
    return device, took


def child(name, work):
    """Fork a child named `name` that runs work(); returns (pid, read end of the pipe it reports on)."""
    out_read, out_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
        report = work(libc)
        os.write(out_write, json.dumps(report).encode())
        os._exit(0)
    os.close(out_write)
    return pid, out_read


def run(short=25, medium=20, long=5, reads=100):
    started = time.monotonic()
    plans = [("bcc-short", {SLEEPS_MS["short"]: short}), ("bcc-short", {SLEEPS_MS["short"]: short}),
             ("bcc-long", {SLEEPS_MS["medium"]: medium, SLEEPS_MS["long"]: long})]
    children = []
    for name, plan in plans:
        pid, out = child(name, lambda libc, plan=plan: [sleeper(libc, ms) for ms, n in plan.items() for _ in range(n)])
        children.append({"comm": name, "pid": pid, "sleeps": {str(ms): n for ms, n in plan.items()}, "out": out})
    for c in children:
        os.waitpid(c["pid"], 0)
        counts, near = slots(json.loads(os.read(c.pop("out"), 1 << 16).decode() or "[]"))
        c["slots"], c["near_edge"] = {str(k): n for k, n in sorted(counts.items())}, near
    pid, out = child("bcc-reader", lambda libc: reader(reads))  # after the sleeps: its writing keeps a CPU busy
    os.waitpid(pid, 0)
    device, took = json.loads(os.read(out, 4096).decode() or '[null, 0.0]')
    ops = sum(sum(c["sleeps"].values()) for c in children)
    if took:
        # TRANSLATORS: {device} is a disk's name, e.g. sda
        what = _("sleeps of known length: {short} of 2.1 ms (two bcc-short), {medium} of 17 ms and {long} of 70 ms "
                 "(bcc-long); and {reads} direct reads of {block} bytes from {device} (bcc-reader, {ms:.0f} ms in "
                 "all)").format(short=2 * short, medium=medium, long=long, reads=reads, block=BLOCK, device=device,
                                ms=took * 1000)
    else:
        # TRANSLATORS: {reason} says why there were none, or names the disk that was not read (e.g. sda)
        what = _("sleeps of known length: {short} of 2.1 ms (two bcc-short), {medium} of 17 ms and {long} of 70 ms "
                 "(bcc-long); and no direct reads: {reason}").format(short=2 * short, medium=medium, long=long,
                                                                     reason=device)
    return {"ops": ops, "children_only": True, "pids": [c["pid"] for c in children] + [pid],
            "what": what,
            "children": children, "reader": {"pid": pid, "reads": reads if took else 0, "device": device,
                                             "seconds": round(took, 4)},
            "seconds": round(time.monotonic() - started, 4)}
