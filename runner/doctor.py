"""What this machine can do for the lessons, each finding with its one-line fix.

Two levels:
- `require_basics()`: cheap checks (no compile) run before every lesson; the
  first failure raises EnvironmentNotReady with the fix.
- `examine()`: the full report of `python3 -m runner doctor`, which tries the
  real thing where that is cheap: it compiles one tiny program and attaches it
  as a tracepoint, a kprobe and a uprobe, and creates a ring buffer.
"""

import os
import platform
from pathlib import Path

from .errors import EnvironmentNotReady
from .findings import Finding
from .language import _

DEBUG_TRACING = Path("/sys/kernel/debug/tracing")  # where BCC looks for tracefs
TRACING = Path("/sys/kernel/tracing")
SETUP = "sudo make setup"


def kernel_release():
    return platform.release()


# -- cheap checks --------------------------------------------------------------------

def check_root():
    if os.geteuid() == 0:
        return Finding("root", "ok", _("running as root"), required=True)
    return Finding("root", "missing", _("not root: loading BPF programs needs root (CAP_BPF and CAP_PERFMON)"),
                   _("run with sudo, e.g. sudo make lesson1"), required=True)


def check_bcc():
    try:
        import bcc
    except ImportError:
        return Finding("bcc", "missing", _("BCC's Python module is not importable (it comes from the OS, not from pip)"),
                       # TRANSLATORS: {setup} is the command "sudo make setup"
                       _("{setup} (or: sudo apt install python3-bpfcc bpfcc-tools; Fedora: sudo dnf install bcc "
                         "python3-bcc)").format(setup=SETUP),
                       required=True)
    if not hasattr(bcc, "BPF"):
        return Finding("bcc", "missing", _("the module named bcc at {path} is the unrelated PyPI package 'bcc', not "
                                           "BCC").format(path=Path(bcc.__file__).parent),
                       _("pip uninstall -y bcc, then {setup}").format(setup=SETUP), required=True)
    version = getattr(bcc, "__version__", None)
    if version is None:
        version = _("unknown version")
    return Finding("bcc", "ok", _("bcc {version} from {path}").format(version=version, path=Path(bcc.__file__).parent),
                   required=True)


def libbcc_detail():
    """The libbcc that BCC's Python module loaded, where `macros` reads its BPF_* macros from ("" if unknown)."""
    from bcc import libbcc

    from .macros import COMMAND, mapped_file
    path = mapped_file(libbcc.lib)
    # TRANSLATORS: appended to "bcc 0.29.1 from /usr/lib/python3/dist-packages/bcc"; {command} is a command to type
    return _(", libbcc {path} ({command} shows its BPF_* macros)").format(path=path, command=COMMAND) if path else ""


def check_python():
    import sys
    return Finding("python", "ok", f"Python {platform.python_version()} ({sys.executable})")


def check_bcc_calls():
    """Per lesson, the BCC calls it would rather use, tried on this bcc's module (attribute lookups)."""
    from . import lessons
    every = lessons.load_all()
    missing = [f"{l.id}: {sentence}" for l in every for sentence in l.missing_bcc_calls().values()]
    if missing:
        return Finding("bcc calls", "warn", " ".join(missing),
                       _("nothing to do: each lesson takes the path that works with this bcc and says so when it runs"))
    wanted = sorted({(call, l.id) for l in every for call in l.bcc_fallbacks})
    named = ", ".join(f"{call.rsplit('.', 1)[-1]}() ({', '.join(i for c, i in wanted if c == call)})"
                      for call in sorted({c for c, _lesson in wanted}))
    return Finding("bcc calls", "ok", _("this bcc has every call the lessons prefer: {calls}").format(
        calls=named or _("none declared")))


def check_tracefs():
    if _exists(DEBUG_TRACING / "events"):
        return Finding("tracefs", "ok", _("mounted, BCC reads {path}").format(path=DEBUG_TRACING), required=True)
    return Finding("tracefs", "missing", _("{path} is not there (debugfs/tracefs not mounted)").format(path=DEBUG_TRACING),
                   "sudo mount -t debugfs debugfs /sys/kernel/debug && sudo mount -t tracefs tracefs /sys/kernel/tracing",
                   required=True)


def headers_version():
    """(kind, version): kind is exact, nearest, env or None; version is what the headers are for."""
    release = kernel_release()
    if os.environ.get("BCC_KERNEL_SOURCE"):
        return "env", os.environ["BCC_KERNEL_SOURCE"]
    build = Path("/lib/modules") / release / "build"
    if not (build / "include").is_dir():
        if Path("/sys/kernel/kheaders.tar.xz").exists():
            return "kheaders", release
        return None, None
    target = build.resolve().name.removeprefix("linux-headers-")
    stamp = build / "include/config/kernel.release"
    if stamp.exists():
        target = stamp.read_text().strip()
    return ("exact" if target == release else "nearest"), target


def check_headers():
    kind, version = headers_version()
    release = kernel_release()
    if kind is None:
        return Finding("headers", "missing", _("no kernel headers for {release} (BCC compiles against them)").format(
            release=release), _("{setup} (Debian/Ubuntu: sudo apt install linux-headers-{release})").format(
            setup=SETUP, release=release), required=True)
    if kind == "nearest":
        return Finding("headers", "warn", _("headers for {version}, the nearest to the running {release} the distro "
                                            "has: fine for these lessons, but structs may differ from the running "
                                            "kernel").format(version=version, release=release),
                       _("nothing to do; install exact headers if your distro packages them"), required=True)
    detail = {"exact": _("headers for {version} (exact)").format(version=version), "env": f"BCC_KERNEL_SOURCE={version}",
              "kheaders": _("the kernel's built-in headers (kheaders)")}[kind]
    return Finding("headers", "ok", detail, required=True)


def _exists(*paths):
    """True if any path exists, False if none does, None if a non-root user may not look."""
    unknown = False
    for path in paths:
        try:
            if Path(path).exists():
                return True
        except PermissionError:
            unknown = True
    return None if unknown else False


def has_kprobe_interface():
    from lessons.common import KPROBE_INTERFACES  # the lessons' own test, said once
    return _exists(*KPROBE_INTERFACES)


def has_uprobe_interface():
    return _exists("/sys/bus/event_source/devices/uprobe", DEBUG_TRACING / "uprobe_events")


def capabilities():
    """Cheap view of the probe types this kernel offers (no compile), for `list`: True, False or None (unknown)."""
    kprobe, uprobe = has_kprobe_interface(), has_uprobe_interface()
    tracepoint = _exists(DEBUG_TRACING / "events", TRACING / "events")
    return {"tracepoint": tracepoint, "TRACEPOINT_PROBE": tracepoint,
            "kprobe": kprobe, "kretprobe": kprobe, "uprobe": uprobe, "uretprobe": uprobe}


def require_basics():
    """Raise EnvironmentNotReady for the first thing that stops every lesson."""
    for check in (check_root, check_bcc, check_tracefs, check_headers):
        finding = check()
        if finding.status == "missing":
            raise EnvironmentNotReady(finding.detail[0].upper() + finding.detail[1:] + ".", fix=finding.fix)


# -- real tries ------------------------------------------------------------------------

PROBE_PROGRAM = """
int probe_tp(void *ctx) { return 0; }
int probe_k(void *ctx) { return 0; }
int probe_u(void *ctx) { return 0; }
"""


def _config(option):
    """A kernel build option from /proc/config.gz or /boot/config-*, or None if unknown."""
    import gzip
    for path, opener in ((Path("/proc/config.gz"), gzip.open), (Path(f"/boot/config-{kernel_release()}"), open)):
        if path.exists():
            with opener(path, "rt") as config:
                for line in config:
                    if line.startswith(option + "="):
                        return line.split("=", 1)[1].strip()
            return "n"
    return None


def try_probes():
    """Compile a tiny program and attach it each way; a list of Findings."""
    from bcc import BPF

    from .diagnostics import captured_stderr

    findings = []
    with captured_stderr():
        b = BPF(text=PROBE_PROGRAM)
    try:
        try:
            b.attach_tracepoint(tp="syscalls:sys_enter_getpid", fn_name="probe_tp")
            findings.append(Finding("tracepoints", "ok", _("attached to syscalls:sys_enter_getpid")))
        except Exception as err:
            findings.append(Finding("tracepoints", "missing", _("attaching a tracepoint failed: {error}").format(error=err),
                                    _("check that tracefs is mounted and CONFIG_FTRACE_SYSCALLS=y")))
        fn = b.load_func("probe_k", BPF.KPROBE)  # the verifier accepts kprobe programs either way
        with captured_stderr():
            try:
                b.attach_kprobe(event=b.get_syscall_fnname("getpid"), fn_name=fn.name)
                findings.append(Finding("kprobes", "ok", _("attached a kprobe (and kretprobes work the same way)")))
            except Exception:
                why = (_("kernel built without CONFIG_KPROBES") if _config("CONFIG_KPROBES") == "n" else
                       _("attach refused"))
                # TRANSLATORS: {why} is "kernel built without CONFIG_KPROBES" or "attach refused"; {lessons} is
                # "lessons {numbers} and {last} use tracepoints instead" (or its one-lesson form) or
                # "no lesson needs them"
                findings.append(Finding("kprobes", "warn", _("kprobe programs load and pass the verifier, but cannot "
                                                             "attach: {why}; {lessons}").format(
                                            why=why, lessons=_kprobe_fallbacks()),
                                        _("use a kernel with CONFIG_KPROBES=y (most distro kernels) to see the kprobe "
                                          "path")))
        with captured_stderr():
            try:
                b.attach_uprobe(name="c", sym="getpid", fn_name="probe_u")
                findings.append(Finding("uprobes", "ok", _("attached a uprobe to libc's getpid")))
            except Exception as err:
                findings.append(Finding("uprobes", "missing", _("attaching a uprobe failed: {error}").format(error=err),
                                        _("use a kernel with CONFIG_UPROBE_EVENTS=y")))
    finally:
        b.cleanup()
    with captured_stderr():
        try:
            BPF(text="BPF_RINGBUF_OUTPUT(ring, 1);\nint probe(void *ctx) { return 0; }").cleanup()
            findings.append(Finding("ring buffer", "ok", _("BPF_RINGBUF_OUTPUT map created")))
        except Exception:
            findings.append(Finding("ring buffer", "missing", _("BPF ring buffer maps are refused (kernel older than 5.8)"),
                                    _("lessons use the perf buffer, which works everywhere")))
    return findings


def _kprobe_fallbacks():
    """Which lessons take their other path without kprobes, from the lessons' own metadata."""
    from . import lessons
    fallback = [str(l.number) for l in lessons.load_all() if "kprobe" in l.prefers and l.fallback]
    if not fallback:
        return _("no lesson needs them")
    if len(fallback) == 1:
        return _("lesson {number} uses tracepoints instead").format(number=fallback[0])
    return _("lessons {numbers} and {last} use tracepoints instead").format(numbers=", ".join(fallback[:-1]),
                                                                             last=fallback[-1])


def check_btf():
    if Path("/sys/kernel/btf/vmlinux").exists():
        return Finding("BTF", "ok", _("/sys/kernel/btf/vmlinux present (kernel type information)"))
    return Finding("BTF", "warn", _("no /sys/kernel/btf/vmlinux: libbpf-style CO-RE programs need it; BCC lessons do "
                                    "not"), _("use a kernel with CONFIG_DEBUG_INFO_BTF=y to try CO-RE tools"))


def examine():
    """Every finding, in the order a learner would fix them."""
    kernel = _("Linux {release} on {machine}").format(release=kernel_release(), machine=platform.machine())
    findings = [Finding("kernel", "ok", kernel), check_python(),
                check_root(), check_bcc(), check_headers(), check_tracefs()]
    if findings[3].status == "ok":
        findings[3].detail += libbcc_detail()
        findings.append(check_bcc_calls())
    if all(f.status != "missing" for f in findings if f.required):
        try:
            findings += try_probes()
        except Exception as err:  # e.g. the compile itself failed: headers broken
            findings.append(Finding("compile", "missing", _("BCC could not compile a 3-line program: {error}").format(
                error=err), _("{setup}, then python3 -m runner doctor again").format(setup=SETUP), required=True))
    else:
        findings.append(Finding("probes", "missing", _("not tried: fix the findings above first"), required=True))
    findings.append(check_btf())
    from .permissions import check_permissions  # its own module: who else can change what root runs
    permissions = check_permissions()
    if permissions is not None:
        findings.append(permissions)
    from .vm import doctor_findings  # kernels for --kernel (cached ones; no VM boots here)
    findings += doctor_findings()
    return findings


def ready(findings):
    return all(f.status != "missing" for f in findings if f.required)


def as_json(findings):
    return {"ready": ready(findings), "findings": [f.asdict() for f in findings]}
