"""What more than one lesson needs, kept once. Lessons import it as `from lessons.common import ...`.

(`lessons/formats.py`, the tracepoint format-file parser, is the other shared module.)
"""
import os

# Kernels built with CONFIG_KPROBES register a "kprobe" event source
# (older ones only offer the kprobe_events file in tracefs).
KPROBE_INTERFACES = ("/sys/bus/event_source/devices/kprobe", "/sys/kernel/debug/tracing/kprobe_events")


def kernel_has_kprobes():
    """True if this kernel can attach kprobes and kretprobes (attach_kprobe, kprobe__ names)."""
    return any(os.path.exists(path) for path in KPROBE_INTERFACES)


def batch_reads(table):
    """True where this BCC reads and deletes a map's entries in one call (items_lookup_and_delete_batch()).

    Older releases (Debian 11's bcc 0.18) lack the call; the kernel side (Linux 5.6+) is there on every
    kernel these lessons support.
    """
    return hasattr(table, "items_lookup_and_delete_batch")


def number(table, value):
    """A map value that is a number, as a Python int, whichever way this BCC hands it over.

    Batch calls give a plain int (bcc 0.26) or the value's raw bytes (bcc 0.31); items() gives the
    map's ctypes type (its Leaf), whose .value is the number.
    """
    if isinstance(value, (bytes, bytearray)):
        value = table.Leaf.from_buffer_copy(value)
    return int(getattr(value, "value", value))


def read_and_clear(table):
    """[(key, value)] of every entry of `table` (values as ints), which is left empty.

    items_lookup_and_delete_batch() reads and deletes in one system call, so a count the kernel
    adds while we read is not wiped out by a later clear(). Without it, read with items(), then
    delete what was read: a count added in between is lost (the lesson says so when it happens).
    """
    if batch_reads(table):
        pairs = list(table.items_lookup_and_delete_batch())
    else:
        pairs = table.items()
        for key, _ in pairs:
            try:
                del table[key]
            except KeyError:
                pass
    return [(key, number(table, value)) for key, value in pairs]



# bpf(2)'s number, and the map type of a BPF ring buffer (BPF_MAP_TYPE_RINGBUF in <linux/bpf.h>).
SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}
BPF_MAP_CREATE, BPF_MAP_TYPE_RINGBUF = 0, 27


def kernel_has_ring_buffer():
    """True if this kernel creates BPF ring buffer maps (Linux 5.8 and later).

    Tried for real, not guessed from the version: create the smallest ring buffer
    (one page) with the bpf() system call, then close it again.
    """
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    attr = (ctypes.c_uint32 * 30)()  # union bpf_attr, zeroed; its first fields for BPF_MAP_CREATE:
    attr[0], attr[3] = BPF_MAP_TYPE_RINGBUF, os.sysconf("SC_PAGE_SIZE")  # map_type, max_entries (bytes)
    fd = libc.syscall(SYS_BPF[os.uname().machine], BPF_MAP_CREATE, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd < 0:
        return False  # EINVAL: an unknown map type (EPERM: not allowed to ask, and BPF() would fail anyway)
    os.close(fd)
    return True
