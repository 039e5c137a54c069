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
