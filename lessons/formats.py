"""Tracepoint format files -> fields -> a C struct for BCC, or a ctypes structure.

Every tracepoint describes its record in a text file,
/sys/kernel/tracing/events/<category>/<event>/format:

    name: sched_process_exec
    ID: 365
    format:
    	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
    	...
    	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
    	field:pid_t pid;	offset:12;	size:4;	signed:1;

    print fmt: "filename=%s pid=%d old_pid=%d", ...

BCC's TRACEPOINT_PROBE turns that into a C struct by copying the type names,
which fails when a name does not exist in the kernel headers BCC compiles
against (e.g. `enum sk_rst_reason`). The struct made here keeps only what the
file states for sure: offsets, sizes and signedness. Every field becomes a
fixed-width integer (or an array of them), with explicit padding where the
offsets leave a gap, so it compiles against any headers.

Stdlib only: `python3 -m runner format` works without bcc and without root. Lesson 5's glue
imports it (`from lessons import formats`), as does the runner's `format` command.
"""

from __future__ import annotations  # `int | None` fields on Python 3.9

import ctypes
import os
import re
import stat
from dataclasses import asdict, dataclass
from gettext import gettext as _
from pathlib import Path


def N_(message):
    """Marks a message for the catalog where it is defined; _() translates it where it is shown."""
    return message


TRACEFS_DIRS = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


class FormatError(ValueError):
    """A format file that cannot be parsed, or a name that is not a tracepoint's: one sentence and `fix`.

    `line` is the 1-based line number in the file (or None).
    """

    def __init__(self, message, line=None, path=None, fix=None):
        if line:
            # TRANSLATORS: where in a format file a problem is, then the problem
            message = _("{path}, line {line}: {message}").format(path=path, line=line, message=message)
        elif path:
            message = f"{path}: {message}"
        super().__init__(message)
        self.fix = fix or _("Pass a file saved from /sys/kernel/tracing/events/<category>/<event>/format "
                            "(cat it into a file on the machine you want to study).")
        self.line = line
        self.path = path


class NoTracefs(OSError):
    """tracefs is not mounted: this kernel's format files cannot be read."""

    def __init__(self, message, fix=None):
        super().__init__(message)
        self.fix = fix or _("sudo mount -t tracefs tracefs /sys/kernel/tracing, or pass a saved file with --file PATH.")


class TracefsNeedsRoot(NoTracefs):
    """tracefs is mounted, but only root may look inside (its folder is mode 0700 on most systems)."""

    def __init__(self, message, fix):
        super().__init__(message, fix)


@dataclass
class Field:
    name: str
    type: str            # the C type as the kernel wrote it, without the array part, e.g. "__u8", "enum sk_rst_reason"
    offset: int
    size: int
    signed: bool | None  # None in very old files that did not say
    array: int | None = None        # element count for `type name[N]`; 0 for a flexible `name[]`
    dynamic: str | None = None      # "__data_loc" or "__rel_loc": a u32 (offset | length << 16) to the real data
    common: bool = False            # common_type, common_flags, ...: the header every record starts with

    @property
    def element_size(self):
        if self.array:
            return self.size // self.array
        return self.size


@dataclass
class Format:
    name: str
    id: int | None
    fields: list
    print_fmt: str = ""
    category: str | None = None

    @property
    def size(self):
        """Bytes up to the end of the last fixed field (dynamic data follows in the record)."""
        return max((f.offset + f.size for f in self.fields), default=0)

    def field(self, name):
        return next(f for f in self.fields if f.name == name)

    def has(self, name):
        """Whether this kernel's record has a field of that name (layouts change between kernels)."""
        return any(f.name == name for f in self.fields)

    def to_json(self):
        return {"category": self.category, "name": self.name, "id": self.id, "size": self.size,
                "fields": [asdict(f) for f in self.fields], "print_fmt": self.print_fmt}


# -- parsing ----------------------------------------------------------------------------------

# "field:<declaration>;" then "key:value;" pairs (offset, size, signed), tab-separated
_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]*);(?P<rest>.*)$")
_ATTR = re.compile(r"\s*(\w+):([^;]*);")
# "<type> <name>" or "<type> <name>[N]"; the type may contain spaces, '*' and 'const'
_DECL = re.compile(r"^(?P<type>.*?)\s*\b(?P<name>[A-Za-z_]\w*)\s*(?:\[(?P<len>[^\]]*)\])?$")
_DYNAMIC = re.compile(r"^(?P<kind>__data_loc|__rel_loc)\s+(?P<type>.*?)\s*\[\]\s*(?P<name>[A-Za-z_]\w*)$")


MAX_RECORD = 1 << 16  # a record's offsets and sizes: __data_loc stores them in 16 bits


def _int(text, what, line, path):
    try:
        return int(text.strip(), 0)
    except ValueError:
        # TRANSLATORS: {what} is the name of a format file's field (offset, size, signed, ID)
        raise FormatError(_("{what} {text} is not a number").format(what=what, text=repr(text.strip())), line,
                          path) from None


def parse_field(text, line=None, path=None):
    """One `field:...;` line -> Field."""
    match = _FIELD.match(text)
    if not match:
        raise FormatError(_("expected 'field:<type> <name>;' but found {text}").format(text=repr(text.strip())), line,
                          path)
    decl = match.group("decl").strip()
    attrs = {k: v for k, v in _ATTR.findall(match.group("rest"))}
    for key in ("offset", "size"):
        if key not in attrs:
            raise FormatError(_("field {field} has no {key}").format(field=repr(decl), key=key), line, path)
    offset = _int(attrs["offset"], "offset", line, path)
    size = _int(attrs["size"], "size", line, path)
    if not (0 <= offset < MAX_RECORD and 0 <= size < MAX_RECORD):
        raise FormatError(_("field {field} has offset {offset} and size {size}: a record's fields lie within "
                            "0..{most}").format(field=repr(decl), offset=offset, size=size, most=MAX_RECORD - 1),
                          line, path)
    signed = bool(_int(attrs["signed"], "signed", line, path)) if "signed" in attrs else None
    if not decl:
        raise FormatError(_("a field line without a declaration"), line, path)
    common = decl.split()[-1].startswith("common_")  # the header every record of every event starts with

    dyn = _DYNAMIC.match(decl)
    if dyn:
        return Field(dyn.group("name"), dyn.group("type").strip(), offset, size, signed, dynamic=dyn.group("kind"),
                     common=common)
    m = _DECL.match(decl)
    if not m or not m.group("type"):
        raise FormatError(_("cannot read the declaration {field} as '<type> <name>'").format(field=repr(decl)), line,
                          path)
    array = None
    if m.group("len") is not None:
        length = m.group("len").strip()
        if length == "":
            array = 0  # flexible array member, e.g. ftrace's `char buf[]`
        elif re.fullmatch(r"\d+|0x[0-9a-fA-F]+", length):
            array = int(length, 0)
            if array > size:  # more elements than the field has bytes: no type is smaller than one byte
                raise FormatError(_("field {field} has {count} elements in {size} bytes").format(
                    field=repr(decl), count=array, size=size), line, path)
        else:
            # Some kernels print the expression, e.g. saddr[sizeof(struct sockaddr_in6)]:
            # the element size is 1 for the byte types they use it with, else assume bytes.
            elem = _SIZES.get(_base_type(m.group("type")), 1)
            array = size // elem if size % elem == 0 else size
    return Field(m.group("name"), m.group("type").strip(), offset, size, signed, array=array, common=common)


def parse(text, path=None):
    """The text of a format file -> Format. Raises FormatError naming the line."""
    name = ident = None
    fields, print_fmt, in_format, seen_format = [], "", False, False
    number = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("name:"):
            name = stripped[5:].strip()
            # letters, digits and _, but it may start with a digit (9p:9p_client_req): see c_name()
            if not re.fullmatch(r"\w+", name, re.ASCII):
                raise FormatError(_("the event name {name} is not made of letters, digits and _").format(
                    name=repr(name)), number, path)
        elif stripped.startswith("ID:"):
            ident = _int(stripped[3:], "ID", number, path)
        elif stripped == "format:":
            in_format = seen_format = True
        elif stripped.startswith("print fmt:"):
            print_fmt = stripped[len("print fmt:"):].strip()
            in_format = False
        elif stripped.startswith("field"):
            if not in_format:
                raise FormatError(_("a field line outside the 'format:' section"), number, path)
            fields.append(parse_field(line, number, path))
        elif in_format:
            raise FormatError(_("expected a field line but found {text}").format(text=repr(stripped)), number, path)
        # anything else before 'format:' (future headers) is ignored
    if name is None:
        raise FormatError(_("no 'name:' line: this is not a tracepoint format file"), 1, path)
    if not seen_format:
        raise FormatError(_("the file ends without a 'format:' section"), max(number, 1), path)
    return Format(name=name, id=ident, fields=fields, print_fmt=print_fmt)


MAX_FILE = 1 << 20  # bytes: a format file is a few KB (the largest of a 6.18 kernel's 2,323 is 5.5 KB)
_KINDS = ((stat.S_ISDIR, N_("a directory")), (stat.S_ISCHR, N_("a character device")),
          (stat.S_ISBLK, N_("a block device")), (stat.S_ISFIFO, N_("a named pipe (FIFO)")),
          (stat.S_ISSOCK, N_("a socket")))


def _size(count):
    return f"{count // (1 << 20)} MiB" if count % (1 << 20) == 0 else f"{count} bytes"


def _not_a_format_file(path, sentence):
    err = FormatError(sentence, fix=_("Pass a regular file holding a saved format, e.g. one made with: cat "
                                      "/sys/kernel/tracing/events/<category>/<event>/format > saved.format"))
    err.path = path
    return err


def _read_text(path):
    """The text of a regular file of at most MAX_FILE bytes (symlinks followed); FormatError for anything else.

    Never more than MAX_FILE + 1 bytes are read, whatever the file says its size is (tracefs says 0), and the
    file is opened non-blocking: a FIFO without a writer, or a file like trace_pipe, cannot make it wait.
    Devices are refused before they are opened. Other OSErrors (not found, permission) are raised as they are.
    """
    path = Path(path)
    real = os.path.realpath(path)
    named = _("{path} (a link to {real})").format(path=path, real=real) if os.path.islink(path) else str(path)

    def refuse(info):
        kind = next((what for test, what in _KINDS if test(info.st_mode)), None)
        if kind:
            # TRANSLATORS: {kind} is "a directory", "a character device", "a named pipe (FIFO)", ...
            raise _not_a_format_file(path, _("{file} is {kind}, not a format file.").format(file=named, kind=_(kind)))
        if not stat.S_ISREG(info.st_mode):
            raise _not_a_format_file(path, _("{file} is not a regular file, not a format file.").format(file=named))
        if info.st_size > MAX_FILE:
            raise _not_a_format_file(path, _("{file} is larger than {size}, and a format file is a few KB.").format(
                file=named, size=_size(MAX_FILE)))

    refuse(os.stat(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        refuse(os.fstat(fd))  # the file opened is the one looked at
        chunks, total = [], 0
        while total <= MAX_FILE:
            chunk = os.read(fd, MAX_FILE + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > MAX_FILE:
        raise _not_a_format_file(path, _("{file} is larger than {size}, and a format file is a few KB.").format(
            file=named, size=_size(MAX_FILE)))
    data = b"".join(chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_a_format_file(path, _("{file} is not a text file (byte {byte} is not UTF-8).").format(
            file=named, byte=err.start + 1)) from None


def parse_file(path):
    path = Path(path)
    try:
        text = _read_text(path)
    except FileNotFoundError:
        raise FormatError(_("There is no file {path}.").format(path=path),
                          fix=_("Check the path, or name a tracepoint instead, e.g. python3 -m runner format "
                                "tcp:tcp_send_reset")) from None
    except OSError as err:
        raise FormatError(_("cannot read it ({reason})").format(reason=err.strerror or err), None, path) from None
    fmt = parse(text, path)
    if path.parent.parent.name and path.name == "format":
        fmt.category = path.parent.parent.name
    return fmt


def _needs_root(where, tracepoint=None):
    event = "/".join(tracepoint.split(":", 1)) if tracepoint else "<category>/<event>"
    return TracefsNeedsRoot(_("Reading this kernel's tracepoints needs root: only root may read {path}.").format(
                                path=where),
                            fix=_("Run it with sudo, or save the format as root (sudo cat /sys/kernel/tracing/events/"
                                  "{event}/format > saved.format) and read that with --file saved.format.").format(
                                      event=event))


def _has_events(root):
    """True or False; None where root is there but this user may not look inside (mode 0700: root only)."""
    try:
        return (root / "events").is_dir()
    except PermissionError:
        return None


def tracefs():
    """The mounted tracefs folder, or None where it is not mounted or this user may not look inside."""
    return next((root for root in TRACEFS_DIRS if _has_events(root)), None)


def _closed():
    """The tracefs folder that is there but closed to this user (why tracefs() found none), or None."""
    return next((root for root in TRACEFS_DIRS if _has_events(root) is None), None)


def format_path(tracepoint):
    """'category:event' -> the live format file; clear errors for typos, unmounted tracefs, and no root."""
    category, sep, event = tracepoint.partition(":")
    if not sep or not category or not event or "/" in tracepoint:
        raise FormatError(_("{name} is not a tracepoint name.").format(name=repr(tracepoint)),
                          fix=_("Write it as category:event, e.g. tcp:tcp_send_reset (python3 -m runner format --list "
                                "tcp)."))
    root = tracefs()
    if root is None:
        if _closed():
            raise _needs_root(_closed(), tracepoint)
        raise NoTracefs(_("tracefs is not mounted, so this kernel's tracepoints cannot be read."))
    path = root / "events" / category / event / "format"
    try:
        exists = path.exists()
    except PermissionError:
        raise _needs_root(path.parent, tracepoint) from None
    if not exists:
        close = [tp for tp in list_tracepoints(root) if tp.split(":")[1] == event or tp.startswith(category + ":")]
        message = _("This kernel has no tracepoint {name}.").format(name=tracepoint)
        if close:
            message += _(" Tracepoints in {category}: {names}.").format(category=category, names=", ".join(close[:8]))
        raise FormatError(message, fix=_("List them with: python3 -m runner format --list {category}").format(
            category=category or "tcp"))
    return path


def read(tracepoint):
    """The live Format of 'category:event' on this kernel."""
    path = format_path(tracepoint)
    if not os.access(path, os.R_OK):  # the format files are root's (mode 0440), even where events/ is open
        raise _needs_root(path, tracepoint)
    fmt = parse_file(path)
    fmt.category = tracepoint.split(":")[0]
    return fmt


def list_tracepoints(root=None, pattern=""):
    """'category:event' of every tracepoint (what `perf list tracepoint` shows), optionally filtered."""
    root = root or tracefs()
    if root is None:
        if _closed():
            raise _needs_root(_closed())
        return []
    found = []
    available = root / "available_events"
    try:
        if available.exists():
            found = [line.strip() for line in available.read_text().splitlines() if line.strip()]
        else:
            for fmt in (root / "events").glob("*/*/format"):
                found.append(f"{fmt.parent.parent.name}:{fmt.parent.name}")
    except PermissionError as err:
        raise _needs_root(err.filename or root) from None
    return sorted(tp for tp in found if pattern in tp)


# -- generating C and ctypes --------------------------------------------------------------------

_SIZES = {"char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "_Bool": 1, "short": 2, "unsigned short": 2,
          "int": 4, "unsigned int": 4, "unsigned": 4, "long": 8, "unsigned long": 8, "long long": 8,
          "unsigned long long": 8, "u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8,
          "__u8": 1, "__s8": 1, "__u16": 2, "__s16": 2, "__u32": 4, "__s32": 4, "__u64": 8, "__s64": 8}


def _base_type(type_name):
    return re.sub(r"\b(const|volatile)\b", "", type_name).strip()


def c_int(size, signed):
    """A fixed-width integer type for `size` bytes, as BCC's headers spell it (__u32, __s64...)."""
    if size not in (1, 2, 4, 8):
        return None
    return f"__{'s' if signed else 'u'}{size * 8}"


def _c_member(field):
    """(declaration, comment) of one field in the generated struct."""
    if field.dynamic:
        # BCC's own TRACEPOINT_PROBE names these data_loc_<name>; TP_DATA_LOC_READ* expect it.
        prefix = "data_loc" if field.dynamic == "__data_loc" else "rel_loc"
        return f"__u32 {prefix}_{field.name};", f"{field.dynamic} {field.type}[]: offset | length << 16"
    original = f"{field.type} {field.name}" + (f"[{field.array}]" if field.array is not None else "")
    if field.array is not None:
        if field.array == 0:
            elem = "char" if _base_type(field.type) == "char" else "__u8"
            return f"{elem} {field.name}[0];", original
        elem_size = field.element_size or 1
        if _base_type(field.type) == "char":
            elem = "char"
        else:
            elem = c_int(elem_size, field.signed) or "__u8"
            if elem == "__u8" and elem_size != 1:
                return f"__u8 {field.name}[{field.size}];", original
        return f"{elem} {field.name}[{field.array}];", original
    int_type = c_int(field.size, field.signed)
    if int_type is None:
        return f"__u8 {field.name}[{field.size}];", original
    return f"{int_type} {field.name};", original


def needs_packing(fmt):
    """True when some field sits at an offset its natural alignment would not give it."""
    for field in fmt.fields:
        align = 4 if field.dynamic else (field.element_size if field.element_size in (1, 2, 4, 8) else 1)
        if field.array is not None and _base_type(field.type) == "char":
            align = 1
        if field.offset % max(align, 1):
            return True
    return False


def c_name(fmt):
    """The event's name as the start of a C identifier: 9p_client_req becomes _9p_client_req."""
    return f"_{fmt.name}" if fmt.name[:1].isdigit() else fmt.name


def struct_name(fmt):
    return f"{c_name(fmt)}_args"


def c_struct(fmt, name=None, defines=True):
    """C source of a struct laid out exactly as the format says, plus HAS_ macros for each field.

    `#define <EVENT>_HAS_<FIELD> 1` lets one BPF program handle several kernel layouts with #ifdef.
    """
    name = name or struct_name(fmt)
    lines = [f"/* {fmt.category + ':' if fmt.category else ''}{fmt.name}: generated from its format file by runner/formats.py */"]
    packed = needs_packing(fmt)
    lines.append(f"struct {name} {{")
    position, pad = 0, 0
    for field in sorted(fmt.fields, key=lambda f: f.offset):
        if field.offset > position:
            lines.append(f"    __u8 __pad{pad}[{field.offset - position}];")
            pad += 1
        elif field.offset < position:
            raise FormatError(_("field {field} at offset {offset} overlaps the field before it").format(
                field=field.name, offset=field.offset), None, fmt.name)
        decl, comment = _c_member(field)
        lines.append(f"    {decl:<32} /* offset {field.offset:>3}, size {field.size:>2}: {comment} */")
        position = field.offset + field.size
    lines.append("}" + (" __attribute__((packed))" if packed else "") + ";")
    if defines:
        prefix = c_name(fmt).upper()
        for field in fmt.fields:
            if not field.common:
                lines.append(f"#define {prefix}_HAS_{field.name.upper()} 1")
    return "\n".join(lines) + "\n"


_CTYPES_INT = {(1, False): ctypes.c_uint8, (1, True): ctypes.c_int8, (2, False): ctypes.c_uint16,
               (2, True): ctypes.c_int16, (4, False): ctypes.c_uint32, (4, True): ctypes.c_int32,
               (8, False): ctypes.c_uint64, (8, True): ctypes.c_int64}


def _ctype(field):
    if field.dynamic:
        return ctypes.c_uint32
    if field.array is not None:
        if field.array == 0:
            return ctypes.c_uint8 * 0
        if _base_type(field.type) == "char":
            return ctypes.c_char * field.array
        elem = _CTYPES_INT.get((field.element_size, bool(field.signed)))
        return elem * field.array if elem else ctypes.c_uint8 * field.size
    return _CTYPES_INT.get((field.size, bool(field.signed)), ctypes.c_uint8 * field.size)


def _ctypes_fields(fmt):
    out, position, pad = [], 0, 0
    for field in sorted(fmt.fields, key=lambda f: f.offset):
        if field.offset > position:
            out.append((f"__pad{pad}", ctypes.c_uint8 * (field.offset - position)))
            pad += 1
        member = {"__data_loc": "data_loc_", "__rel_loc": "rel_loc_"}.get(field.dynamic, "") + field.name
        out.append((member, _ctype(field)))
        position = field.offset + field.size
    return out


def ctypes_struct(fmt, name=None):
    """A ctypes.Structure class with the same layout, e.g. to read a record's bytes."""
    attrs = {"_fields_": _ctypes_fields(fmt)}
    if needs_packing(fmt):
        attrs["_pack_"] = 1
    return type(name or struct_name(fmt), (ctypes.Structure,), attrs)


def ctypes_source(fmt, name=None):
    """The ctypes structure as Python source, for `python3 -m runner format --ctypes`."""
    name = name or struct_name(fmt)
    lines = ["import ctypes", "", "", f"class {name}(ctypes.Structure):"]
    if needs_packing(fmt):
        lines.append("    _pack_ = 1")
    lines.append("    _fields_ = [")
    for member, ctype in _ctypes_fields(fmt):
        if hasattr(ctype, "_length_"):
            text = f"ctypes.{ctype._type_.__name__} * {ctype._length_}"
        else:
            text = f"ctypes.{ctype.__name__}"
        lines.append(f"        ({member!r}, {text}),")
    lines.append("    ]")
    return "\n".join(lines) + "\n"


def table(fmt):
    """A human-readable listing of the fields."""
    rows = [_("{name} (ID {id}), {fields} fields, {size} bytes before any dynamic data").format(
                name=(fmt.category + ":" if fmt.category else "") + fmt.name, id=fmt.id, fields=len(fmt.fields),
                size=fmt.size), "",
            f"{'OFFSET':>6} {'SIZE':>4} {'SIGNED':<6} {'FIELD':<24} C TYPE"]
    for f in fmt.fields:
        kind = f.type + (f"[{f.array}]" if f.array else "[]" if f.array == 0 else "")
        if f.dynamic:
            kind = f"{f.dynamic} {f.type}[] (u32: offset | length << 16)"
        signed = "-" if f.signed is None else ("yes" if f.signed else "no")
        rows.append(f"{f.offset:>6} {f.size:>4} {signed:<6} {f.name:<24} {kind}")
    return "\n".join(rows)
