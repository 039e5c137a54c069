#!/usr/bin/env bash
# setup.sh: make this machine ready for the lessons; safe to run again (it skips what is done).
#
#   sudo make setup        (make lessonN runs it first): what the lessons need, nothing more
#   scripts/setup.sh --notebook   also JupyterLab (requirements-notebook.txt; make notebook)
#   scripts/setup.sh --bench      also matplotlib (requirements-bench.txt; make bench)
#   scripts/setup.sh --test       also what the tests need (requirements-test.txt, chromium for the browser test)
#
# 1. BCC from the OS packages (never the unrelated PyPI project named "bcc"), and gcc for lesson 10's workload
# 2. kernel headers for the running kernel, or the nearest ones the distro has, wired for BCC
# 3. debugfs and tracefs mounted (BCC reads /sys/kernel/debug/tracing)
# 4. .venv from the OS python with --system-site-packages (so bcc imports), then requirements.txt (or the
#    extras file asked for),
#    and the checkout on its path (bcc-lessons.pth)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$(pwd)
VENV=$REPO/.venv
HEADERS_CACHE=/var/cache/bcc-lessons/headers
RELEASE=$(uname -r)
APT_UPDATED=
FOR_TESTS=
REQUIREMENTS=requirements.txt
case "${1:-}" in
    --test) FOR_TESTS=1; REQUIREMENTS=requirements-test.txt ;;
    --notebook) REQUIREMENTS=requirements-notebook.txt ;;
    --bench) REQUIREMENTS=requirements-bench.txt ;;
    "") ;;
    *) printf '[setup] error: unknown option %s\n[setup] fix: use --test, --notebook or --bench, or nothing\n' "$1" >&2; exit 2 ;;
esac

say()  { printf '[setup] %s\n' "$*"; }
warn() { if [ -t 2 ]; then printf '\033[33m[setup] warning: %s\033[0m\n' "$*" >&2; else printf '[setup] warning: %s\n' "$*" >&2; fi; }
fail() { printf '[setup] error: %s\n[setup] fix: %s\n' "$1" "$2" >&2; exit 3; }

[ "$(id -u)" -eq 0 ] || fail "setup installs packages and mounts tracefs, which needs root." \
    "run it with sudo: sudo make setup (or sudo make lesson1)"

. /etc/os-release
case " ${ID:-} ${ID_LIKE:-} " in
    *" debian "*|*" ubuntu "*) ;;
    *" fedora "*|*" rhel "*|*" centos "*)
        python3 -c 'import bcc; bcc.BPF' 2>/dev/null || fail "bcc is not installed, and this script installs packages only on Debian and Ubuntu." \
            "sudo dnf install bcc bcc-tools python3-bcc bpftool kernel-devel-$RELEASE, then run this again"
        ;;
    *" arch "*)
        python3 -c 'import bcc; bcc.BPF' 2>/dev/null || fail "bcc is not installed, and this script installs packages only on Debian and Ubuntu." \
            "sudo pacman -S bcc bcc-tools python-bcc bpf linux-headers, then run this again"
        ;;
    *) warn "unknown distribution '${ID:-?}': install bcc's Python module, bpftool and kernel headers yourself." ;;
esac

have_apt() { command -v apt-get >/dev/null && [ -f /etc/debian_version ]; }

apt_update_once() {
    if [ -z "$APT_UPDATED" ]; then
        say "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

# Both read a command's whole output first: under pipefail, "cmd | grep -q" fails whenever grep
# exits early and cmd dies of SIGPIPE (apt-cache policy does, every time).
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

apt_install() {
    local missing=()
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update_once
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

available() {  # a package apt can install
    local policy
    policy=$(apt-cache policy "$1" 2>/dev/null) && [[ $policy == *"Candidate: "[0-9]* ]]
}

# 1. BCC and the tools the tests use ------------------------------------------------------
if have_apt; then
    apt_install python3-bpfcc bpfcc-tools python3-venv
    apt_install gcc libc6-dev  # lesson 10's workload is a small C program, compiled with frame pointers
    installed bpftool || { apt_update_once; available bpftool && apt_install bpftool; } \
        || warn "no bpftool package here: the leak checks in the tests need it (Ubuntu: linux-tools-common)."
    if [ -n "$FOR_TESTS" ] && ! command -v chromium >/dev/null; then
        # the notebook browser test drives the distro's chromium (test tools' own browser downloads fail offline)
        apt_install chromium || warn "chromium could not be installed: the notebook browser test will say so."
    fi
fi

# 2. Kernel headers ---------------------------------------------------------------------
link_headers() {  # $1 headers dir (arch-specific), $2 the -common dir (or the same)
    mkdir -p "/lib/modules/$RELEASE"
    ln -sfn "$1" "/lib/modules/$RELEASE/build"
    ln -sfn "$2" "/lib/modules/$RELEASE/source"
}

nearest_headers() {  # the distro's headers package nearest to the running kernel (same flavour)
    local arch want
    arch=$(dpkg --print-architecture)
    want=$(echo "$RELEASE" | grep -oE '^[0-9]+\.[0-9]+')
    apt-cache search --names-only "^linux-headers-[0-9].*-$arch\$" | awk '{print $1}' \
        | grep -vE -- "-(cloud|rt)-$arch\$" \
        | awk -v want="$want" '{ v=$0; sub(/^linux-headers-/, "", v); split(v, n, /[.-]/);
              mm = n[1] "." n[2]; print (mm+0 <= want+0 ? "0" : "1") " " v " " $0 }' \
        | sort -k1,1 -k2,2V \
        | awk '$1 == "0" { below = $3 } $1 == "1" && !above { above = $3 } END { print (below ? below : above) }'
}

if [ -d "/lib/modules/$RELEASE/build/include" ]; then
    :
elif [ -n "${BCC_KERNEL_SOURCE:-}" ]; then
    say "using BCC_KERNEL_SOURCE=$BCC_KERNEL_SOURCE for kernel headers"
elif have_apt && { apt_update_once; available "linux-headers-$RELEASE"; }; then
    apt_install "linux-headers-$RELEASE"
elif have_apt; then
    pkg=$(nearest_headers)
    [ -n "$pkg" ] || fail "the distro has no kernel headers package at all." "install headers for $RELEASE and set BCC_KERNEL_SOURCE to them"
    common=${pkg%-"$(dpkg --print-architecture)"}-common
    # Headers only, unpacked into a cache: installing the package would also install that
    # kernel's image into /boot (Debian makes it a dependency), which these lessons do not need.
    if [ ! -d "$HEADERS_CACHE/root/usr/src/$pkg" ]; then
        say "downloading $pkg and $common (headers only, into $HEADERS_CACHE)"
        mkdir -p "$HEADERS_CACHE/debs" "$HEADERS_CACHE/root"
        chown _apt "$HEADERS_CACHE/debs" 2>/dev/null || true  # apt downloads as the _apt user
        (cd "$HEADERS_CACHE/debs" && apt-get download -qq "$pkg" "$common")
        for deb in "$HEADERS_CACHE"/debs/{"$pkg","$common"}_*.deb; do dpkg-deb -x "$deb" "$HEADERS_CACHE/root"; done
    fi
    link_headers "$HEADERS_CACHE/root/usr/src/$pkg" "$HEADERS_CACHE/root/usr/src/$common"
else
    fail "no kernel headers for $RELEASE, and no apt to fetch them." "install your distro's kernel headers package for $RELEASE"
fi

headers_for=$(cat "/lib/modules/$RELEASE/build/include/config/kernel.release" 2>/dev/null || true)
if [ -n "$headers_for" ] && [ "$headers_for" != "$RELEASE" ]; then
    warn "kernel headers are for $headers_for, the nearest the distro has to the running $RELEASE (no exact package exists). BCC compiles against them fine for these lessons; clang may warn about a 'nocf_check' attribute (harmless)."
fi

# 3. debugfs and tracefs -------------------------------------------------------------------
mountpoint -q /sys/kernel/debug || { say "mounting debugfs"; mount -t debugfs debugfs /sys/kernel/debug; } \
    || fail "debugfs could not be mounted at /sys/kernel/debug." "run on a machine (or container with --privileged) that allows mounting debugfs"
[ -d /sys/kernel/debug/tracing/events ] || mount -t tracefs tracefs /sys/kernel/debug/tracing 2>/dev/null || true
mountpoint -q /sys/kernel/tracing || { say "mounting tracefs"; mount -t tracefs tracefs /sys/kernel/tracing; } \
    || fail "tracefs could not be mounted at /sys/kernel/tracing." "run on a machine (or container with --privileged) that allows mounting tracefs"

# 4. The virtual environment -------------------------------------------------------------
OS_PYTHON=/usr/bin/python3
if [ ! -x "$VENV/bin/python" ] || ! grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg"; then
    say "creating .venv from $OS_PYTHON with --system-site-packages (so it sees the OS's bcc)"
    rm -rf "$VENV"
    "$OS_PYTHON" -m venv --system-site-packages "$VENV"
fi
# One stamp per requirements file, holding the files it reads (-r): a changed pin installs again.
STAMP=$VENV/.installed-$REQUIREMENTS
wanted=$(cat "$REQUIREMENTS" $(sed -n 's/^-r //p' "$REQUIREMENTS") requirements.txt)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$wanted" ]; then
    say "pip install -r $REQUIREMENTS"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
    printf '%s' "$wanted" > "$STAMP"
fi
# The checkout on .venv's path, as an editable install would put it (on every pip, offline): the lessons'
# glue imports its shared code (`from lessons.common import ...`) from any folder, run alone or by the runner.
SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ "$(cat "$SITE/bcc-lessons.pth" 2>/dev/null)" = "$REPO" ] || printf '%s\n' "$REPO" > "$SITE/bcc-lessons.pth"
if ! "$VENV/bin/python" -c 'import bcc; bcc.BPF' 2>/dev/null; then
    if "$VENV/bin/python" -m pip show -q bcc >/dev/null 2>&1; then
        warn "the PyPI package named 'bcc' (an unrelated lattice library) was installed in .venv: removing it."
        "$VENV/bin/python" -m pip uninstall -y -q bcc
    fi
    "$VENV/bin/python" -c 'import bcc; bcc.BPF' 2>/dev/null || fail "bcc does not import in .venv." \
        "sudo apt install python3-bpfcc (Debian/Ubuntu), then sudo make setup"
fi
say "ready (kernel $RELEASE; python3 -m runner doctor checks everything)"
