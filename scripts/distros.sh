#!/usr/bin/env bash
# distros.sh: the lessons and the test suite in other Debian userlands (11 bullseye: Python 3.9, bcc 0.18;
# 13 trixie: Python 3.13, bcc 0.31), on this machine's kernel, through chroot. Run as root.
#
#   scripts/distros.sh build [NAME...]     build the root filesystems (default: all), once; cached after that
#   scripts/distros.sh test [--lock FILE] [NAME...]
#                                          in each root: a fresh clone of this checkout's committed HEAD, its
#                                          set-up, then the README's commands (make lesson1, make test); one
#                                          summary line per distribution; exit 1 if anything failed.
#                                          --lock FILE holds FILE (flock) while BPF programs are loaded
#                                          (make lesson1, make test), not during set-up
#   scripts/distros.sh kernel NAME         the kernel a machine of that distribution boots, with its headers,
#                                          unpacked into the root, and a clone of HEAD set up there: for a VM
#                                          with the root as its root filesystem (python3 -m runner.vm, --kernel 5.10)
#   scripts/distros.sh shell NAME          an interactive shell inside a root (for developers)
#   scripts/distros.sh run NAME CMD...     one command inside a root
#   scripts/distros.sh clean [NAME...]     stop what runs inside, unmount leftovers, remove the roots and logs
#
# Roots live in /var/lib/bcc-lessons/roots/<codename>/ (logs next to them, <codename>.log). A root holds
# Debian's minimal system and nothing of BCC: the project's own set-up installs that inside, as on a learner's
# machine. Entering a root binds it onto itself (a mount point, as / is), bind-mounts /proc, /sys and /dev
# (as slaves, so nothing unmounted inside reaches this machine) and a private tmpfs on /tmp, and carries in, as they are here at run time, what pip and apt
# need to reach their indexes: the CA bundle, resolv.conf, /etc/pip.conf (and /etc/xdg/pip/pip.conf), the
# files and folders those and the PIP_* variables name, and the PIP_* and proxy variables.
# Whatever way the script ends (exit, error, INT, TERM, HUP), every process inside the roots it used is killed
# and their mounts are undone; a run after a crash undoes the leftovers first.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROOTS=/var/lib/bcc-lessons/roots
ALL=(bullseye trixie)
# What debootstrap adds to minbase: what a learner's machine has before the lessons' set-up (git: they cloned
# the lessons with it, and the solution command applies its patch with it; iproute2: a VM booted on the root
# brings its loopback up with ip, as any machine's network set-up does, for the lessons that send over it).
PACKAGES=python3,python3-venv,ca-certificates,make,git,iproute2
CLONE=/opt/bcc-lessons-ci   # the checkout's clone, inside a root; readable by all, as some tests run commands as nobody
STAMP=.bcc-lessons-root                                # a root is complete once this file exists
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
PIP_CONFS=(/etc/pip.conf /etc/xdg/pip/pip.conf)
# -m replaces the Makefile's own -m "not vm": the VM tests stay out, the browser test and the harness's own
# tests (distros) stay here.
# make test's pytest arguments inside a root; DISTROS_TEST_ARGS replaces them (a developer's quicker run of some
# tests: DISTROS_TEST_ARGS="-q -k lesson7" scripts/distros.sh test bullseye)
TEST_ARGS=${DISTROS_TEST_ARGS:-"-q -p no:cacheprovider -m 'not vm and not browser and not distros'"}
PATH_INSIDE=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

declare -A CLAIMED=()   # root directory -> the fd of its lock, for the roots this run uses: what cleanup acts on

say()  { printf '[distros] %s\n' "$*"; }
fail() { printf '[distros] error: %s\n' "$*" >&2; exit 1; }

root_of() { printf '%s/%s' "$ROOTS" "$1"; }

known() {
    local n
    for n in "${ALL[@]}"; do [ "$n" = "$1" ] && return 0; done
    fail "unknown distribution '$1' (known: ${ALL[*]})"
}

# --- Cleanup: processes inside, then mounts -------------------------------------------------

# Mount points at or under $1, in the order of /proc/self/mounts (parents before children).
mounts_under() {
    local dir=$1 _dev mnt _rest
    while read -r _dev mnt _rest; do
        mnt=$(printf '%b' "$mnt")   # /proc/self/mounts writes spaces and such as \040
        [[ $mnt == "$dir" || $mnt == "$dir"/* ]] && printf '%s\n' "$mnt"
    done < /proc/self/mounts
}

# Pids of the processes whose root directory is $1 or under it.
pids_inside() {
    local dir=$1 p r
    for p in /proc/[0-9]*; do
        r=$(readlink "$p/root" 2>/dev/null) || continue
        [[ $r == "$dir" || $r == "$dir"/* ]] && printf '%s\n' "${p#/proc/}"
    done
    return 0
}

kill_inside() {
    local dir=$1 sig pids i
    for sig in TERM KILL; do
        pids=$(pids_inside "$dir")
        [ -n "$pids" ] || return 0
        # shellcheck disable=SC2086
        kill -s "$sig" $pids 2>/dev/null || true
        for i in $(seq 50); do   # up to 5 s for them to go
            [ -n "$(pids_inside "$dir")" ] || return 0
            sleep 0.1
        done
    done
    [ -z "$(pids_inside "$dir")" ] || printf '[distros] warning: processes still inside %s: %s\n' "$dir" "$(pids_inside "$dir" | tr '\n' ' ')" >&2
}

unmount_under() {
    local dir=$1 m pass
    local -a ms
    # Slaves first (again: a crash may have left one shared), so that no unmount below propagates to this machine.
    while read -r m; do [ -n "$m" ] && mount --make-slave "$m" 2>/dev/null || true; done < <(mounts_under "$dir")
    for pass in 1 2 3; do
        mapfile -t ms < <(mounts_under "$dir" | tac)
        [ ${#ms[@]} -gt 0 ] || return 0
        for m in "${ms[@]}"; do
            umount "$m" 2>/dev/null || { [ "$pass" -eq 3 ] && umount -l "$m" 2>/dev/null; } || true
        done
    done
    [ -z "$(mounts_under "$dir")" ] || printf '[distros] warning: still mounted under %s:\n%s\n' "$dir" "$(mounts_under "$dir")" >&2
}

release() {  # $1 a root directory: nothing runs inside it and nothing is mounted under it
    kill_inside "$1"
    unmount_under "$1"
}

CHILD=   # a command this script waits for outside the roots (debootstrap)

cleanup() {
    local d
    trap - EXIT INT TERM HUP
    if [ -n "$CHILD" ]; then kill "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
    for d in "${!CLAIMED[@]}"; do release "$d"; done
}

on_signal() {  # $1 the signal's number
    cleanup
    exit $((128 + $1))
}

trap cleanup EXIT
trap 'on_signal 2' INT
trap 'on_signal 15' TERM
trap 'on_signal 1' HUP

# A root is used by one run of this script at a time: claim takes its lock (and undoes what a crashed run left),
# unclaim undoes this run's mounts and processes and gives the lock back. Commands run inside do not inherit
# the lock (closed_locks), so that processes a SIGKILLed run left behind do not keep the root from the next run.
claim() {  # $1 name
    local dir lockfd
    dir=$(root_of "$1")
    if [ -z "${CLAIMED[$dir]:-}" ]; then
        mkdir -p "$ROOTS"
        exec {lockfd}>"$ROOTS/.$1.lock"
        flock -n "$lockfd" || fail "$1: another run of distros.sh is using $dir"
        CLAIMED[$dir]=$lockfd
    fi
    release "$dir"   # leftovers of a crashed run
}

unclaim() {  # $1 name
    local dir lockfd
    dir=$(root_of "$1")
    lockfd=${CLAIMED[$dir]:-}
    [ -n "$lockfd" ] || return 0
    release "$dir"
    unset "CLAIMED[$dir]"
    exec {lockfd}>&-
}

# Runs a command with the roots' lock descriptors closed.
closed_locks() {
    local fd
    for fd in "${CLAIMED[@]}"; do exec {fd}>&-; done
    exec "$@"
}

# --- Building ----------------------------------------------------------------------------

build_one() {  # $1 name
    local name=$1 dir start rc
    dir=$(root_of "$name")
    if [ -f "$dir/$STAMP" ]; then
        say "$name: root ready ($dir, $(du -sh --one-file-system "$dir" | cut -f1))"
        return 0
    fi
    claim "$name"
    command -v debootstrap >/dev/null || {
        say "installing debootstrap"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    [ -n "$(mounts_under "$dir")" ] && fail "$name: still mounted under $dir; not removing it"
    rm -rf --one-file-system "$dir"
    say "$name: debootstrap --variant=minbase into $dir (log: $dir.build.log)"
    start=$SECONDS
    rc=0
    closed_locks debootstrap --variant=minbase --include="$PACKAGES" "$name" "$dir" > "$dir.build.log" 2>&1 < /dev/null &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$dir.build.log" >&2
        fail "$name: debootstrap failed (log: $dir.build.log)"
    fi
    # A chroot starts no services: packages installed inside it later must not try to.
    printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    machine_files "$dir"
    touch "$dir/$STAMP"
    unclaim "$name"
    say "$name: root built in $((SECONDS - start)) s ($(du -sh --one-file-system "$dir" | cut -f1))"
}

# --- Entering ----------------------------------------------------------------------------

# Absolute paths named in $@ (pip's config files and the PIP_* values: cert, constraint, find-links ...).
paths_named() {
    local word
    while read -r word; do
        word=${word#file://}
        [[ $word == /* ]] && [ -e "$word" ] && printf '%s\n' "$word"
    done < <(cat "$@" 2>/dev/null | tr '=,[:space:]' '\n\n\n')
    return 0
}

bind_in() {  # $1 a path here, bound read-only at the same path inside root $2
    local src=$1 dst=$2$1
    if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; [ -e "$dst" ] || : > "$dst"; fi
    mount --bind "$src" "$dst"
    mount --make-private "$dst"
    mount -o remount,bind,ro "$dst"
}

enter() {  # $1 name: claim the root and make the mounts
    local name=$1 dir fs f v path
    dir=$(root_of "$name")
    [ -f "$dir/$STAMP" ] || fail "$name: no root at $dir; build it first: scripts/distros.sh build $name"
    claim "$name"
    # The root its own mount point, as / is on a machine: unshare --propagation (tests/live/test_bad_input.py) needs one.
    mount --bind "$dir" "$dir"
    mount --make-private "$dir"
    for fs in proc sys dev; do
        mount --rbind "/$fs" "$dir/$fs"
        mount --make-rslave "$dir/$fs"
    done
    mount -t tmpfs -o mode=1777 tmpfs "$dir/tmp"
    mount --make-private "$dir/tmp"
    # Copied, not bound: apt inside may rewrite them (update-ca-certificates), which a bind would refuse.
    [ -f "$CA_BUNDLE" ] && cp "$CA_BUNDLE" "$dir$CA_BUNDLE"
    [ -e /etc/resolv.conf ] && cp -L --remove-destination /etc/resolv.conf "$dir/etc/resolv.conf"
    for f in "${PIP_CONFS[@]}"; do [ ! -f "$f" ] || bind_in "$f" "$dir"; done
    while read -r path; do
        [ -n "$path" ] || continue
        case $path in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$CA_BUNDLE") continue ;; esac
        [ -n "$(mounts_under "$dir$path")" ] && continue   # named twice
        bind_in "$path" "$dir" || printf '[distros] warning: %s could not be carried into %s\n' "$path" "$dir" >&2
    done < <(paths_named "${PIP_CONFS[@]}" <(for v in $(compgen -e); do [[ $v == PIP_* ]] && printf '%s\n' "${!v}"; done))
}

# The environment inside: a clean one, plus pip's and the proxies' variables from here.
ENV_INSIDE=()
env_inside() {
    local v
    ENV_INSIDE=(HOME=/root PATH="$PATH_INSIDE" LANG=C.UTF-8 TERM="${TERM:-dumb}")
    for v in $(compgen -e); do
        case $v in
            PIP_*|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|all_proxy|ALL_PROXY)
                ENV_INSIDE+=("$v=${!v}") ;;
        esac
    done
}

# Runs CMD inside root $1 and waits for it; a signal to this script interrupts the wait (then cleanup runs).
# Background children of a script ignore SIGINT: env --default-signal gives it back to them.
inside() {  # $1 name, then the command
    local dir pid rc=0
    dir=$(root_of "$1"); shift
    env_inside
    closed_locks env -i --default-signal=INT,QUIT "${ENV_INSIDE[@]}" chroot "$dir" "$@" <&0 &
    pid=$!
    wait "$pid" || rc=$?
    return "$rc"
}

# --- Testing -----------------------------------------------------------------------------

LOG=
LOCKFILE=
LOCKFD=

phase() {  # $1 name, $2 label, then the shell command run in the clone; output to $LOG; returns its status
    local name=$1 label=$2 cmd=$3 start rc=0
    say "$name: $label"
    printf '\n### %s\n' "$label" >> "$LOG"
    start=$SECONDS
    inside "$name" /bin/sh -c "cd $CLONE && $cmd" >> "$LOG" 2>&1 < /dev/null || rc=$?
    say "$name: $label: exit $rc in $((SECONDS - start)) s"
    printf '### %s: exit %s in %s s\n' "$label" "$rc" "$((SECONDS - start))" >> "$LOG"
    return "$rc"
}

bpf_lock() {
    [ -n "$LOCKFILE" ] || return 0
    exec {LOCKFD}>>"$LOCKFILE"
    say "waiting for $LOCKFILE"
    flock "$LOCKFD" & wait $!   # in the background: a signal does not wait for the lock
}

bpf_unlock() {
    [ -n "$LOCKFD" ] || return 0
    flock -u "$LOCKFD"
    exec {LOCKFD}>&-
    LOCKFD=
}

# The closing line of pytest ("3 failed, 117 passed, 2 skipped in 301.20s"), as "P passed, F failed, S skipped".
pytest_counts() {
    local line n word passed=0 failed=0 skipped=0 errors=0
    line=$(grep -E '[0-9]+ (passed|failed|skipped|errors?|deselected)' "$1" | grep -E ' in [0-9.]+s' | tail -n 1) || true
    [ -n "$line" ] || return 1
    while read -r n word; do
        case $word in
            passed) passed=$n ;; failed) failed=$n ;; skipped) skipped=$n ;; error|errors) errors=$n ;;
        esac
    done < <(grep -oE '[0-9]+ [a-z]+' <<< "$line")
    printf '%s passed, %s failed, %s skipped' "$passed" "$failed" "$skipped"
    [ "$errors" -eq 0 ] || printf ', %s errors' "$errors"
}

# In an entered root: a fresh clone of the committed HEAD, what PACKAGES a root built before they grew lacks, and
# the clone's set-up (make setup-test). Output to $LOG; returns non-zero if a step failed.
# What an installed Debian has and debootstrap's minbase may not: /etc/hosts naming localhost (bullseye's root has
# none, trixie's has one; the notebook server resolves localhost through it, as on a learner's machine).
machine_files() {  # $1 root directory
    [ -e "$1/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$1/etc/hosts"
}

prepare_clone() {  # $1 name
    local name=$1 dir rc=0
    dir=$(root_of "$name")
    machine_files "$dir"
    say "$name: cloning $REPO (HEAD $(git -C "$REPO" rev-parse --short HEAD)) into $dir$CLONE (log: $LOG)"
    rm -rf --one-file-system "${dir:?}$CLONE"
    git -c safe.directory="$REPO" -c safe.directory="$REPO/.git" clone --quiet "$REPO" "$dir$CLONE"
    phase "$name" "packages ($PACKAGES)" "dpkg-query -W ${PACKAGES//,/ } >/dev/null 2>&1 || { apt-get update -qq && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${PACKAGES//,/ } >/dev/null; }" || rc=$?
    phase "$name" "set-up (make setup-test)" "make setup-test" || rc=$?
    return "$rc"
}

FAILED=0
test_one() {  # $1 name; adds its summary line to SUMMARY; sets FAILED=1 if anything failed
    local name=$1 dir os python bcc counts ok=0 setup_rc=0 lesson_rc=0 test_rc=0
    dir=$(root_of "$name")
    LOG=$ROOTS/$name.log
    enter "$name"
    : > "$LOG"
    prepare_clone "$name" || setup_rc=$?
    bpf_lock
    phase "$name" "make lesson1 ARGS=--json" "make lesson1 ARGS=--json" || lesson_rc=$?
    phase "$name" "make test" "REQUIRE_BPF=1 make test ARGS=\"$TEST_ARGS\"" || test_rc=$?
    bpf_unlock

    os=$(. "$dir/etc/os-release" && printf '%s %s (%s)' "$ID" "${VERSION_ID:-?}" "${VERSION_CODENAME:-$name}")
    python=$(inside "$name" python3 -c 'import platform; print(platform.python_version())' 2>/dev/null) || python=?
    bcc=$(inside "$name" python3 -c 'import bcc; print(bcc.__version__)' 2>/dev/null) \
        || bcc=$(inside "$name" dpkg-query -W -f='${Version}' python3-bpfcc 2>/dev/null | sed 's/[+~-].*//') \
        || true
    [ -n "$bcc" ] || bcc="not installed"
    if counts=$(pytest_counts "$LOG"); then
        [[ $counts == *" 0 failed, "* && $counts != *errors* && $test_rc -eq 0 ]] || ok=1
    else
        counts="no pytest result (make test exited $test_rc)"
        ok=1
    fi
    [ "$lesson_rc" -eq 0 ] || { counts="make lesson1 exited $lesson_rc; $counts"; ok=1; }
    [ "$setup_rc" -eq 0 ] || counts="set-up exited $setup_rc; $counts"
    if [ "$ok" -ne 0 ]; then
        printf '[distros] %s: the end of %s:\n' "$name" "$LOG" >&2
        tail -n 30 "$LOG" | sed 's/^/    /' >&2
    fi
    SUMMARY+=("$os: python $python, bcc $bcc: $counts")
    unclaim "$name"
    [ "$ok" -eq 0 ] || FAILED=1
}

# --- A root's own kernel, for a VM ---------------------------------------------------------

# The kernel a machine of this distribution boots (what its linux-image-amd64 depends on), with its exact headers,
# fetched with the root's apt and unpacked into the root (not installed: dpkg's database stays as it was) as on
# such a machine: /boot/vmlinuz-V and /lib/modules/V, whose build and source links name the headers in /usr/src.
# First a clone of HEAD set up in the root, as `test` makes it. python3 -m runner.vm boots the kernel in a VM whose
# root filesystem is the root (--kernel 5.10). Prints V last.
KERNEL_STAMP=boot/bcc-lessons-kernel
kernel_one() {  # $1 name
    local name=$1 dir v rc=0
    dir=$(root_of "$name")
    LOG=$ROOTS/$name.kernel.log
    enter "$name"
    : > "$LOG"
    prepare_clone "$name" || { tail -n 20 "$LOG" >&2; fail "$name: the clone's set-up failed (log: $LOG)"; }
    if [ ! -f "$dir/$KERNEL_STAMP" ]; then
        rm -rf "$dir/var/tmp/bcc-lessons-kernel"
        phase "$name" "its kernel (linux-image-amd64) and headers, downloaded" '
            set -e
            apt-get update -qq
            pkg=$(apt-cache depends linux-image-amd64 | sed -n "s/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p" | head -n 1)
            v=${pkg#linux-image-}
            [ -n "$v" ] || { echo "linux-image-amd64 depends on no linux-image-N package" >&2; exit 1; }
            mkdir /var/tmp/bcc-lessons-kernel && chown _apt /var/tmp/bcc-lessons-kernel && cd /var/tmp/bcc-lessons-kernel
            apt-get download -qq "$pkg" "linux-headers-$v" "linux-headers-${v%-amd64}-common"
            echo "$v" > version' || rc=$?
        [ "$rc" -eq 0 ] || { tail -n 20 "$LOG" >&2; fail "$name: its kernel could not be fetched (log: $LOG)"; }
        v=$(cat "$dir/var/tmp/bcc-lessons-kernel/version")
        # Unpacked from here: tar keeps the root's /lib -> usr/lib link (dpkg-deb -x would make /lib a folder
        # and so hide the libraries), and this machine's depmod writes modules.dep (the root may have no kmod).
        for deb in "$dir"/var/tmp/bcc-lessons-kernel/*.deb; do
            dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$dir"
        done
        ln -sfn "/usr/src/linux-headers-$v" "$dir/lib/modules/$v/build"
        ln -sfn "/usr/src/linux-headers-${v%-amd64}-common" "$dir/lib/modules/$v/source"
        depmod -b "$dir" "$v"
        rm -rf "$dir/var/tmp/bcc-lessons-kernel"
        echo "$v" > "$dir/$KERNEL_STAMP"
    fi
    v=$(cat "$dir/$KERNEL_STAMP")
    say "$name: kernel $v in $dir/boot ($(du -sh "$dir/lib/modules/$v" | cut -f1) of modules)"
    unclaim "$name"
    printf '%s\n' "$v"
}

# --- Commands ----------------------------------------------------------------------------

[ "$(id -u)" -eq 0 ] || fail "this mounts file systems and uses chroot: run it as root (sudo)"

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    build)
        names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
        for n in "${names[@]}"; do known "$n"; done
        for n in "${names[@]}"; do build_one "$n"; done
        ;;
    test)
        if [ "${1:-}" = "--lock" ]; then
            [ $# -ge 2 ] || fail "--lock needs a file"
            LOCKFILE=$2; shift 2
        fi
        names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
        for n in "${names[@]}"; do known "$n"; done
        SUMMARY=()
        for n in "${names[@]}"; do test_one "$n"; done
        printf '%s\n' "${SUMMARY[@]}"
        exit "$FAILED"
        ;;
    kernel)
        [ $# -eq 1 ] || fail "usage: scripts/distros.sh kernel NAME"
        known "$1"; build_one "$1"; kernel_one "$1"
        ;;
    shell)
        [ $# -eq 1 ] || fail "usage: scripts/distros.sh shell NAME"
        known "$1"; enter "$1"
        say "$1: a shell in $(root_of "$1") (the clone of make test-distros, if any, is in $CLONE); exit to leave"
        rc=0; inside "$1" /bin/bash -l || rc=$?
        exit "$rc"
        ;;
    run)
        [ $# -ge 2 ] || fail "usage: scripts/distros.sh run NAME CMD..."
        known "$1"; enter "$1"
        name=$1; shift
        rc=0; inside "$name" "$@" || rc=$?
        exit "$rc"
        ;;
    clean)
        names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
        for n in "${names[@]}"; do
            known "$n"
            claim "$n"
            dir=$(root_of "$n")
            [ -z "$(mounts_under "$dir")" ] || fail "$n: still mounted under $dir; not removing it"
            say "$n: removing $dir"
            rm -rf --one-file-system "$dir" "$dir.log" "$dir.build.log"
        done
        ;;
    *)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
        exit 2
        ;;
esac
