#!/usr/bin/env python3
# uprobes.py: count real calls of libc's strlen() and of a function of the
# Python interpreter, read strlen's argument, and histogram what it returns.
#
# Lesson 6 of bcc-lessons. Run it alone with:  sudo .venv/bin/python lessons/lesson6_uprobes/uprobes.py
# then, in another terminal, make some marked calls:
#   python3 -c 'import ctypes; ctypes.CDLL(None).strlen(b"lesson6: hello")'
# or guided, with a workload that does it for you:  python3 -m runner lesson6
import ctypes
import os
import re
import time
from gettext import gettext as _
from pathlib import Path

from bcc import BPF

from lessons.common import read_and_clear

PROGRAM = Path(__file__).with_name("uprobes.c")
FUNCTION = "Py_GetVersion"  # the program function probed by default
# <uapi/linux/ptrace.h> from headers newer than BCC's clang makes it warn about
# a duplicated __seg_gs in the x86 headers; harmless for BPF, so silenced.
CFLAGS = ["-Wno-duplicate-decl-specifier"]


def mapping(address, maps):
    """The file that `address` lies in, and the address relative to where that file starts.

    `maps` is the text of /proc/<pid>/maps: "start-end perms offset dev inode path" a line.
    A shared library's first mapping (file offset 0) is its load base; an address
    minus the base is the address inside the file, the one readelf and BCC use.
    """
    rows = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            rows.append((start, end, int(fields[2], 16), fields[5]))
    path = next((p for start, end, _, p in rows if start <= address < end), None)
    if path is None:
        raise LookupError(_("address {address:#x} is not in a file mapped by this process").format(address=address))
    base = min(start - offset for start, _, offset, p in rows if p == path)
    return path, address - base


def implementation(function):
    """Where the code of a ctypes function is: (file, address in that file)."""
    # ctypes found `function` with dlsym(), the dynamic linker's own lookup.
    # For an IFUNC such as glibc's strlen, dlsym() runs the resolver and returns
    # the variant it picked for this CPU (e.g. __strlen_avx2): the code calls run.
    address = ctypes.cast(function, ctypes.c_void_p).value
    return mapping(address, Path("/proc/self/maps").read_text())


def mapped_files():
    """The files this process has mapped (its program, libc, libpython...)."""
    files = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            files.add(fields[5])
    return files


def code_address(binary, function):
    """Where the code of `function` in `binary` that calls run is, or None where
    this process cannot ask the dynamic linker without loading a new file."""
    path = os.path.realpath(binary)
    if path not in mapped_files():
        return None  # dlopen() would run the file's own start-up code, as root
    try:
        where, address = implementation(getattr(ctypes.CDLL(path), function))
    except (OSError, AttributeError):
        return None  # not a library dlopen() takes (a program), or no such export
    return address if where == path else None


def load(pid=None, binary=None, function=FUNCTION):
    """Compile uprobes.c and attach it. Returns (b, [(mechanism, target), ...]).

    pid: trace only this process (default: every process).
    binary, function: the program function to count (default: Py_GetVersion in
    the file of this Python that holds it: python3 itself, or libpython).
    """
    if pid is not None and not os.path.exists("/proc/%d" % pid):
        raise ProcessLookupError(_("No process with pid {pid} is running.").format(pid=pid))
    if binary is None:
        binary, _address = implementation(getattr(ctypes.pythonapi, FUNCTION))
    if not os.path.isfile(binary):
        raise FileNotFoundError(_("There is no file {binary} to probe.").format(binary=binary))
    symbols = BPF.get_user_functions_and_addresses(binary, "^%s$" % re.escape(function))
    if not symbols:
        raise LookupError(_("{binary} has no function named {function} in its symbol table.").format(
            binary=binary, function=function))

    # strlen as libc declares it, and the code that calls to it really run.
    libc, code = implementation(ctypes.CDLL(None).strlen)
    declared = BPF.get_user_functions_and_addresses(libc, "^strlen$")

    # The probed function may be an IFUNC too (--probe .../libc.so.6:strlen):
    # then the code that runs is not at its symbol's address.
    symbol_at, function_code = symbols[0][1], code_address(binary, function)
    ifunc = function_code is not None and function_code != symbol_at

    # Without a pid, only the marked calls count (see strlen_entry()).
    b = BPF(src_file=str(PROGRAM), cflags=CFLAGS + (["-DONLY_MARKED=1"] if pid is None else []))
    only = -1 if pid is None else pid  # -1: every process
    try:
        # attach_uprobe(name="c", sym="strlen") would probe the address of the
        # symbol strlen, which in glibc is an IFUNC resolver that runs once per
        # process. So we attach to the address of the code that runs instead.
        b.attach_uprobe(name=libc, addr=code, fn_name="strlen_entry", pid=only)
        b.attach_uretprobe(name=libc, addr=code, fn_name="strlen_return", pid=only)
        if ifunc:
            b.attach_uprobe(name=binary, addr=function_code, fn_name="function_entry", pid=only)
        else:
            # A function of a program, by name: BCC looks it up in the file's symbols.
            b.attach_uprobe(name=binary, sym=function, fn_name="function_entry", pid=only)
    except Exception:
        b.cleanup()  # nothing stays attached when one attach fails
        raise
    b.function_name = function  # for snapshot()'s rows
    where = "" if pid is None else " pid %d" % pid
    counted = ", every call" if pid is not None else ', calls on strings that start with "lesson6:"'
    symbol = " (symbol at %#x)" % declared[0][1] if declared and declared[0][1] != code else ""
    probed = "%s:%s" % (binary, function)
    if ifunc:
        probed += " code at %#x (an IFUNC: its symbol, at %#x, is the resolver)" % (function_code, symbol_at)
    return b, [("uprobe", "%s:strlen code at %#x%s%s%s" % (libc, code, symbol, where, counted)),
               ("uretprobe", "%s:strlen code at %#x%s" % (libc, code, where)),
               ("uprobe", probed + where)]


def snapshot(b):
    """The calls counted since the last snapshot, one dict a row; the two count maps start again from zero.

    read_and_clear() (lessons/common.py, as in lesson 3) reads and deletes in one system
    call, so a call the kernel counts while we read is not lost to a later clear().
    """
    rows = []
    for call, count in read_and_clear(b["calls"]):
        rows.append({"pid": call.pid, "comm": call.comm.decode(errors="replace"), "function": "strlen",
                     "count": count, "argument": call.str.decode(errors="replace")})
    for proc, count in read_and_clear(b["functions"]):
        rows.append({"pid": proc.pid, "comm": proc.comm.decode(errors="replace"), "function": b.function_name,
                     "count": count, "argument": ""})
    return sorted(rows, key=lambda r: (r["pid"], r["function"], r["argument"], r["comm"]))


def histogram(b):
    """The uretprobe's histogram as {bucket: count}; bucket k counts lengths in [2**(k-1), 2**k)."""
    return {k.value: v.value for k, v in b["lengths"].items() if v.value}


def main():
    b, probes = load()
    for mechanism, target in probes:
        print("%s %s" % (mechanism, target))
    print('Counting strlen() calls on strings that start with "lesson6:", and %s calls... '
          "Hit Ctrl-C to end." % b.function_name)
    running = True
    while running:
        try:
            time.sleep(1)  # meanwhile the kernel counts, with no help from us
        except KeyboardInterrupt:
            running = False  # print what was counted since the last second, then stop
        rows = snapshot(b)
        if rows:
            print("\n%-7s %-16s %-14s %6s  %s" % ("PID", "COMM", "FUNCTION", "COUNT", "ARGUMENT"))
        for r in rows:
            print("%-7d %-16s %-14s %6d  %s" % (r["pid"], r["comm"], r["function"], r["count"], r["argument"]))
    print()
    # The uretprobe's histogram, as BCC's tools print it: one line per power of 2.
    b["lengths"].print_log2_hist("strlen() returned")


if __name__ == "__main__":
    main()
