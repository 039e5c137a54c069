# The distribution matrix: the set-up, lesson 1 and the test suite inside Debian 11 (bullseye: Python 3.9,
# bcc 0.18) and Debian 13 (trixie: Python 3.13, bcc 0.31) userlands, on this machine's kernel, through chroot
# (scripts/distros.sh). Included from the Makefile.
#
#   sudo make distros        the root filesystems (debootstrap, in /var/lib/bcc-lessons/roots; built once, cached)
#   sudo make test-distros   the harness's own cleanup test (-m distros) here, then in each root a fresh clone
#                            of the committed HEAD, its set-up, make lesson1 and make test (all but the browser
#                            test, which stays here); one result line per distribution, logs in
#                            /var/lib/bcc-lessons/roots/<codename>.log
#   sudo make test-distros DISTROS=trixie                                one distribution only
#   sudo make test-distros DISTROS_LOCK=/tmp/bcc-lessons-bpf.lock        hold that lock (flock) while BPF programs are
#                            loaded inside the roots, so that no other job's leak checks count them
#   sudo scripts/distros.sh shell bullseye                               a shell inside a root
DISTROS ?= bullseye trixie
DISTROS_LOCK ?=

.PHONY: distros test-distros

distros:
	@bash scripts/distros.sh build $(DISTROS)

test-distros: distros setup
	$(PYTHON) -m pytest -p no:cacheprovider -m distros tests/live
	bash scripts/distros.sh test $(if $(DISTROS_LOCK),--lock $(DISTROS_LOCK)) $(DISTROS)
