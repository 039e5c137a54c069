"""Which VM kernels exist: Debian's kernels with kprobes that apt offers, and the ones in the cache.

Each series of this machine's Debian (6.1 and 6.12, both built with CONFIG_KPROBES=y) is the
newest `linux-image-*` that apt offers with its exactly matching `linux-headers-*` (arch and
common), fetched with `apt-get download` and unpacked with `dpkg-deb -x` into CACHE. Nothing is
installed: /boot, /lib/modules and dpkg's database stay untouched. The cache's
`lib/modules/<version>` gets `build` and `source` links to the cache's headers, so BCC inside the
guest finds them (virtme-ng links the guest's /lib/modules/<version> to that folder). The guest
runs on this machine's root filesystem, read-only.

A series of another Debian (5.10: Debian 11's own kernel) boots with that Debian's root filesystem
as the guest's (scripts/distros.sh builds it, fetches the kernel with its apt into it, and sets up
a clone of HEAD there): the guest then runs that root's Python and bcc, in that clone.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentNotReady, UsageError
from ..language import _
from ..lessons import ROOT

# Outside the work tree, so CI's fresh clones on the same machine reuse the download; not under
# /var/cache, which the guest mounts as an empty tmpfs. Without root: the git-ignored .cache/kernels.
CACHE = Path(os.environ.get("BCC_LESSONS_KERNEL_CACHE")
             or ("/var/lib/bcc-lessons/kernels" if os.geteuid() == 0 else ROOT / ".cache" / "kernels"))
SETUP = "sudo make kernels"

# series -> the image package's name, with the kernel version as group 1 and its ordering number as group 2
SERIES = {
    "5.10": re.compile(r"^linux-image-(5\.10\.0-(\d+)-amd64)$"),
    "6.1": re.compile(r"^linux-image-(6\.1\.0-(\d+)-amd64)$"),
    "6.12": re.compile(r"^linux-image-(6\.12\.(\d+)\+deb12-amd64)$"),
}
# series -> the Debian root filesystem (scripts/distros.sh) whose own kernel it is, and which the VM boots on
ROOTFS_SERIES = {"5.10": "bullseye"}
ROOTFS = Path(os.environ.get("BCC_LESSONS_ROOTS", "/var/lib/bcc-lessons/roots"))
ROOTFS_STAMP = "boot/bcc-lessons-kernel"   # written by distros.sh kernel: the version it unpacked
ROOTFS_CLONE = "/opt/bcc-lessons-ci"      # distros.sh's CLONE: the clone of HEAD inside a root


# -- what apt offers ----------------------------------------------------------------------------

def version_key(version):
    """Order kernel versions numerically: 6.1.0-9-amd64 < 6.1.0-56-amd64, 6.12.9+deb12 < 6.12.117+deb12."""
    return tuple(int(n) for n in re.findall(r"\d+", version))


def headers_packages(version):
    """The headers that match an image exactly: linux-headers-<version> and its -common part."""
    return [f"linux-headers-{version}", f"linux-headers-{version.removesuffix('-amd64')}-common"]


def parse_apt_names(text):
    """Package names from `apt-cache search --names-only` output ("name - description" lines)."""
    return {line.split(" - ", 1)[0].strip() for line in text.splitlines() if " - " in line}


def newest_versions(names, series):
    """Kernel versions of `series` whose image and both headers packages are all offered, newest first."""
    pattern = SERIES[series]
    versions = []
    for name in names:
        match = pattern.match(name)
        if match and all(h in names for h in headers_packages(match.group(1))):
            versions.append(match.group(1))
    return sorted(versions, key=version_key, reverse=True)


def series_of(version):
    for series, pattern in SERIES.items():
        if pattern.match(f"linux-image-{version}"):
            return series
    return None


def apt_offers(series):
    """The newest version of `series` that apt can download with its headers (needs `apt-get update`d lists)."""
    try:
        out = subprocess.run(["apt-cache", "search", "--names-only", r"^linux-(image|headers)-6\.1"],
                             capture_output=True, text=True, timeout=60).stdout
    except FileNotFoundError:
        raise EnvironmentNotReady(_("apt-cache is not installed, so the VM kernels cannot be looked up."),
                                  fix=_("Run on Debian or Ubuntu, or copy a .cache/kernels folder from such a "
                                        "machine."))
    versions = newest_versions(parse_apt_names(out), series)
    if not versions:
        raise EnvironmentNotReady(_("apt offers no linux-image-{series} package with matching headers.").format(
            series=series),
            fix=_("sudo apt-get update (Debian 12 packages 6.1 and, in bookworm-updates/backports, 6.12), then try "
                  "again."))
    return versions[0]


# -- the cache ----------------------------------------------------------------------------------

@dataclass
class Kernel:
    version: str

    @property
    def series(self):
        return series_of(self.version)

    @property
    def folder(self):
        return CACHE / self.version

    @property
    def rootfs(self):
        """The guest's root filesystem when it is not this machine's: a Debian root of scripts/distros.sh."""
        name = ROOTFS_SERIES.get(self.series)
        return ROOTFS / name if name else None

    @property
    def root(self):
        """Where the kernel's /boot and /lib/modules are."""
        return self.rootfs or self.folder / "root"

    @property
    def guest_cwd(self):
        """The repository's path inside the guest: this checkout, or the root's clone of it."""
        return Path(ROOTFS_CLONE) if self.rootfs else ROOT

    @property
    def python(self):
        """The Python the guest runs the runner with: this one, or the root's clone's .venv."""
        return str(self.guest_cwd / ".venv" / "bin" / "python") if self.rootfs else sys.executable

    @property
    def vmlinuz(self):
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def moddir(self):
        return self.root / "lib" / "modules" / self.version

    @property
    def ready(self):
        if self.rootfs:
            stamp = self.rootfs / ROOTFS_STAMP
            return stamp.exists() and stamp.read_text().strip() == self.version and self.vmlinuz.exists()
        return (self.folder / "ready").exists() and self.vmlinuz.exists()

    def config(self, option):
        path = self.root / "boot" / f"config-{self.version}"
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith(option + "="):
                    return line.split("=", 1)[1]
        return None

    def can(self):
        """What BPF mechanisms this kernel's build config offers (read from its config file)."""
        options = {"kprobe": "CONFIG_KPROBE_EVENTS", "kretprobe": "CONFIG_KPROBE_EVENTS", "tracepoint": "CONFIG_BPF_EVENTS",
                   "uprobe": "CONFIG_UPROBE_EVENTS", "BTF": "CONFIG_DEBUG_INFO_BTF"}
        return [name for name, option in options.items() if self.config(option) == "y"]


def cached():
    """Kernels ready in the cache (and in the Debian roots), newest first within each series, by series."""
    found = {}
    if CACHE.is_dir():
        for folder in CACHE.iterdir():
            kernel = Kernel(folder.name)
            if kernel.series and kernel.ready and not kernel.rootfs:
                found.setdefault(kernel.series, []).append(kernel)
    for series, name in ROOTFS_SERIES.items():
        stamp = ROOTFS / name / ROOTFS_STAMP
        kernel = Kernel(stamp.read_text().strip()) if stamp.is_file() else None
        if kernel and kernel.series == series and kernel.ready:
            found[series] = [kernel]
    return {s: sorted(k, key=lambda k: version_key(k.version), reverse=True) for s, k in found.items()}


def fetch(series, version=None, say=print):
    """Download and unpack the newest kernel of `series` (or `version`) unless it is cached; returns the Kernel.
    A root series' kernel is its Debian root's own (prepare_rootfs)."""
    if series in ROOTFS_SERIES:
        return prepare_rootfs(series, say=say)
    version = version or apt_offers(series)
    kernel = Kernel(version)
    if kernel.ready:
        return kernel
    started = time.monotonic()
    packages = [f"linux-image-{version}", *headers_packages(version)]
    shutil.rmtree(kernel.folder, ignore_errors=True)
    debs = kernel.folder / "debs"
    debs.mkdir(parents=True)
    say(_("Downloading {packages}...").format(packages=", ".join(packages)))
    proc = subprocess.run(["apt-get", "download", *packages], cwd=debs, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(kernel.folder, ignore_errors=True)
        reason = " ".join(l for l in proc.stderr.splitlines() if l.startswith("E:"))[:300] or proc.stderr.strip()[-300:]
        raise EnvironmentNotReady(_("The kernel packages for {version} could not be fetched ({reason}).").format(
            version=version, reason=reason),
            fix=_("sudo apt-get update, check the network reaches the Debian mirror, then sudo make kernels."))
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(kernel.root)], check=True)
    # The packages link build/source to /usr/src on the host; point them at the cache's own copy,
    # so the guest (which sees the host's files at the same paths) compiles against exactly these headers.
    for link, headers in (("build", packages[1]), ("source", packages[2])):
        target = kernel.moddir / link
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(kernel.root / "usr" / "src" / headers)
    subprocess.run(["depmod", "-b", str(kernel.root), version], check=True)
    shutil.rmtree(debs)
    (kernel.folder / "ready").write_text(f"{version}\n")
    for old in cached().get(series, []):  # one kernel per series is enough: drop the older ones
        if old.version != version:
            shutil.rmtree(old.folder, ignore_errors=True)
    say(_("Kernel {version} ready in {folder} ({seconds:.0f} s).").format(version=version, folder=kernel.folder,
                                                                          seconds=time.monotonic() - started))
    return kernel


def prepare_rootfs(series, say=print):
    """A root series' kernel, unpacked in its Debian root, with a fresh clone of HEAD set up there (about a minute
    the first time, then the clone's set-up: some 40 s). Returns the Kernel."""
    name = ROOTFS_SERIES[series]
    if os.geteuid() != 0:
        raise EnvironmentNotReady(_("The {series} kernel boots on the Debian {name} root filesystem, which only root "
                                    "can build and enter.").format(series=series, name=name),
                                  fix=f"sudo python3 -m runner.vm test --kernel {series}")
    say(_("Preparing the {name} root filesystem for the {series} kernel: its kernel, and a clone of HEAD set up "
          "there (scripts/distros.sh kernel {name}; log: {log})...").format(name=name, series=series,
                                                                           log=f"{ROOTFS}/{name}.kernel.log"))
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "distros.sh"), "kernel", name], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    version = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    kernel = Kernel(version) if series_of(version) == series else None
    if proc.returncode != 0 or kernel is None or not kernel.ready:
        reason = " ".join(l.removeprefix("[distros] error: ") for l in proc.stderr.splitlines() if "error:" in l)
        raise EnvironmentNotReady(_("The {name} root filesystem could not be prepared for the {series} kernel "
                                    "({reason}).").format(name=name, series=series, reason=reason or
                                                          proc.stderr.strip()[-300:] or _("no version printed")),
                                  fix=_("sudo bash scripts/distros.sh kernel {name} shows each step; its log is "
                                        "{log}.").format(name=name, log=f"{ROOTFS}/{name}.kernel.log"))
    return kernel


def resolve(name, download=True, say=print):
    """A kernel by series (5.10, 6.1, 6.12) or full version; fetched on first use if `download`.

    A root series (5.10) is prepared on every use with `download`, so its root's clone is of this HEAD."""
    name = name.strip()
    series = name if name in SERIES else series_of(name)
    if series in ROOTFS_SERIES:
        if download:
            kernel = prepare_rootfs(series, say=say)
        else:
            kernel = (cached().get(series) or [None])[0]
            if kernel is None:
                raise EnvironmentNotReady(_("No {series} kernel is in {folder}.").format(
                    series=series, folder=ROOTFS / ROOTFS_SERIES[series]), fix=SETUP)
        if name != series and kernel.version != name:
            raise UsageError(_("The {root} root has the kernel {version}, not {name}.").format(
                root=ROOTFS_SERIES[series], version=kernel.version, name=name),
                fix=_("Use --kernel {series}.").format(series=series))
        return kernel
    if name in SERIES:
        have = cached().get(name)
        if have:
            return have[0]
        if not download:
            raise EnvironmentNotReady(_("No {series} kernel is in {folder}.").format(series=name, folder=CACHE),
                                      fix=SETUP)
        return fetch(name, say=say)
    series = series_of(name)
    if series is None:
        raise UsageError(_("There is no VM kernel called {name}.").format(name=repr(name)),
                         fix=_("Choose one of: {series} (python3 -m runner lesson1 --kernel list shows them).").format(
                             series=", ".join(SERIES)))
    kernel = Kernel(name)
    if kernel.ready:
        return kernel
    if not download:
        raise EnvironmentNotReady(_("The kernel {version} is not in {folder}.").format(version=name, folder=CACHE),
                                  fix=SETUP)
    return fetch(series, version=name, say=say)
