# The kernel matrix: the live lessons inside VMs on Debian's 6.1 and 6.12 kernels,
# which have kprobes where this machine's kernel may not. Included from the Makefile.
#
#   sudo make kernels        the VM tools and both kernels (cached; downloaded once)
#   sudo make test-kernels   the live tests marked kprobe or per_kernel (-m 'bpf and (kprobe or per_kernel) and not vm') inside each kernel,
#                            one result line per kernel, then the VM runner's own failure tests (-m vm) on the host
#   sudo make test-kernels KERNELS=6.12                 one kernel only
#   sudo BCC_LESSONS_VM_TIMEOUT=1800 make test-kernels KERNEL_TESTS="tests/live/test_lesson5_tracepoints.py -m 'bpf and not vm'"
#                            other live tests than the kprobe paths; how long they take depends on whether KVM is
#                            usable (else QEMU emulates the CPU) and on the cores: raise BCC_LESSONS_VM_TIMEOUT to fit
KERNELS ?= 5.10 6.1 6.12
KERNEL_TESTS ?=

.PHONY: kernels test-kernels

kernels: setup
	@bash scripts/vm-setup.sh

test-kernels: kernels
	$(PYTHON) -m runner.vm test $(foreach k,$(KERNELS),--kernel $(k)) $(if $(KERNEL_TESTS),-- $(KERNEL_TESTS))
	$(PYTHON) -m pytest -p no:cacheprovider -m vm tests/live
