#!/usr/bin/env bash
# vm-setup.sh: the tools that boot Debian's kernels in a VM (for --kernel and make test-kernels),
# then the kernels themselves; safe to run again (it skips what is done).
#
#   sudo make kernels        (make test-kernels runs it first; run make setup before it)
#
# 1. qemu-system-x86 (the VM), kmod (depmod) and busybox-static (virtme-ng's initramfs) from apt
# 2. virtme-ng from PyPI into .venv, at the version pinned in requirements-vm.txt
# 3. the newest linux-image-6.1.0-*-amd64 and linux-image-6.12.*+deb12-amd64 with their exact
#    headers, unpacked (never installed) into the kernel cache: python3 -m runner.vm fetch
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.venv

say()  { printf '[vm-setup] %s\n' "$*"; }
fail() { printf '[vm-setup] error: %s\n[vm-setup] fix: %s\n' "$1" "$2" >&2; exit 3; }

[ "$(id -u)" -eq 0 ] || fail "the VM set-up installs packages, which needs root." "run it with sudo: sudo make kernels"
[ -x "$VENV/bin/python" ] || fail "there is no .venv yet." "run sudo make setup first"
command -v apt-get >/dev/null && [ -f /etc/debian_version ] || \
    fail "the VM kernels are Debian's packages, fetched with apt; this machine has no apt." \
         "run the lessons on your own kernel, or use a Debian or Ubuntu machine for --kernel"

# reads the whole output, as setup.sh does: under pipefail "cmd | grep -q" can fail on cmd's SIGPIPE
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in qemu-system-x86 kmod busybox-static; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

STAMP=$VENV/.installed-requirements-vm.txt
if [ ! -f "$STAMP" ] || ! cmp -s requirements-vm.txt "$STAMP"; then
    say "pip install -r requirements-vm.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-vm.txt
    cp requirements-vm.txt "$STAMP"
fi

# apt's lists must know the newest kernels: refresh them when they are older than a day.
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    say "apt-get update"
    apt-get update -qq
fi
"$VENV/bin/python" -m runner.vm fetch
