// flood.c: the measurement programs of python3 -m bench, one function per mechanism.
//
// Each is attached on its own to syscalls:sys_enter_getppid, which bench/flood.py
// calls in a tight loop. Each first checks that the caller is the flood child
// (its pid is in `target`), so nobody else's getppid() is counted or lost; for
// the child, every call does the whole work. Ring sizes come from cflags.

struct data_t {
    u32 pid;
    u32 cpu;
    u64 ts;
    char comm[16];
};

BPF_ARRAY(target, u32, 1);                       // the flood child's pid, set from Python
BPF_PERF_OUTPUT(events);                         // per-CPU rings; their size is chosen when opened
BPF_RINGBUF_OUTPUT(ring_default, RING_DEFAULT_PAGES);  // one ring shared by all CPUs
BPF_RINGBUF_OUTPUT(ring_small, RING_SMALL_PAGES);
BPF_RINGBUF_OUTPUT(ring_big, RING_BIG_PAGES);    // holds a whole cost run: nothing dropped
BPF_RINGBUF_OUTPUT(ring_runner_default, RING_DEFAULT_PAGES);  // the same two sizes, read by the runner's source
BPF_RINGBUF_OUTPUT(ring_runner_small, RING_SMALL_PAGES);
BPF_PERCPU_ARRAY(ring_drops, u64, 1);            // a ring buffer has no lost callback: count here
BPF_HASH(counts, u32, u64);
BPF_HISTOGRAM(hist, u64);                        // a log2 histogram (lesson 8)
BPF_PERCPU_ARRAY(percpu_counts, u64, 1);
BPF_STACK_TRACE(stacks, 1024);                   // stack ids (lesson 10)
BPF_HASH(stack_counts, int, u64);

static inline int is_target(u32 *pid)
{
    int zero = 0;
    u32 *want = target.lookup(&zero);
    *pid = bpf_get_current_pid_tgid() >> 32;
    return want && *want == *pid;
}

static inline void fill(struct data_t *data, u32 pid)
{
    data->pid = pid;
    data->cpu = bpf_get_smp_processor_id();
    data->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data->comm, sizeof(data->comm));
}

static inline void dropped(void)
{
    int zero = 0;
    u64 *n = ring_drops.lookup(&zero);
    if (n)
        (*n)++;
}

// the pid check alone: what any probe costs before it does anything
int on_empty(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    return 0;
}

// the same on a uprobe (loaded as a kprobe-type program, so a function of its own)
int on_uprobe_empty(struct pt_regs *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    return 0;
}

// a line in the kernel's shared trace buffer (lesson 1)
int on_printk(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    bpf_trace_printk("bench-flood %d\n", pid);
    return 0;
}

// a struct through a perf buffer (lesson 2)
int on_perf(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    events.perf_submit(ctx, &data, sizeof(data));
    return 0;
}

// a struct through a ring buffer; a full ring refuses it, and we count that
int on_ring_default(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    if (ring_default.ringbuf_output(&data, sizeof(data), 0) != 0)
        dropped();
    return 0;
}

int on_ring_small(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    if (ring_small.ringbuf_output(&data, sizeof(data), 0) != 0)
        dropped();
    return 0;
}

int on_ring_runner_default(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    if (ring_runner_default.ringbuf_output(&data, sizeof(data), 0) != 0)
        dropped();
    return 0;
}

int on_ring_runner_small(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    if (ring_runner_small.ringbuf_output(&data, sizeof(data), 0) != 0)
        dropped();
    return 0;
}

// reserve room in the ring, fill it in place, submit (lesson 7): no copy from the stack
int on_ring_reserve(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    struct data_t *data = ring_big.ringbuf_reserve(sizeof(struct data_t));
    if (!data) {
        dropped();
        return 0;
    }
    fill(data, pid);
    ring_big.ringbuf_submit(data, 0);
    return 0;
}

int on_ring_big(void *ctx)
{
    struct data_t data = {};
    u32 pid;
    if (!is_target(&pid))
        return 0;
    fill(&data, pid);
    if (ring_big.ringbuf_output(&data, sizeof(data), 0) != 0)
        dropped();
    return 0;
}

// counting in the kernel: a hash keyed by pid (lesson 3) ...
int on_hash(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    counts.increment(pid);
    return 0;
}

// ... a log2 histogram's bucket (lesson 8): a hash keyed by bpf_log2l() of a value ...
int on_hist(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    hist.increment(bpf_log2l(bpf_ktime_get_ns() & 0xffff));
    return 0;
}

// ... and a per-CPU array slot: no lock, no key to hash
int on_percpu(void *ctx)
{
    u32 pid;
    int zero = 0;
    if (!is_target(&pid))
        return 0;
    percpu_counts.increment(zero);
    return 0;
}

// ... and a stack: walk the caller's user stack, store it, count its id (lesson 10's profile, per call here)
int on_stack(void *ctx)
{
    u32 pid;
    if (!is_target(&pid))
        return 0;
    int id = stacks.get_stackid(ctx, BPF_F_USER_STACK);
    stack_counts.increment(id);
    return 0;
}
