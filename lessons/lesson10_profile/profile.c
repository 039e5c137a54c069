// profile.c: the kernel side of lesson 10.
//
// A CPU profile by sampling: the kernel runs on_sample() on every CPU at a
// fixed frequency (a perf event on the CPU clock), whatever that CPU is doing.
// Each sample records which process was running and the stack of function
// return addresses it was in: counted per stack, the samples say where the
// CPU time went.

#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>

struct sample_t {
    u32 pid;
    int user_stack;             // an id in `stacks`, or a negative error
    char comm[16];
};

BPF_HASH(samples, struct sample_t, u64);
// Each entry is one stack: up to 127 return addresses. get_stackid() stores a
// stack once and returns its id, so equal stacks share an entry.
BPF_STACK_TRACE(stacks, 16384);

int on_sample(struct bpf_perf_event_data *ctx)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid == 0)
        return 0;               // the idle task: this CPU had nothing to run
#ifdef PID
    if (pid != PID)
        return 0;
#endif
    struct sample_t sample = {.pid = pid};
    bpf_get_current_comm(&sample.comm, sizeof(sample.comm));
    // BPF_F_USER_STACK: walk the user-space stack of the interrupted process
    // (through its frame pointers), even when the sample hit it in the kernel.
    sample.user_stack = stacks.get_stackid(&ctx->regs, BPF_F_USER_STACK);
    samples.increment(sample);
    return 0;
}
