// ring_buffer.c: the kernel side of lesson 7.
//
// Every openat() call, by any process, becomes one event, sent to user space
// through a BPF ring buffer: one buffer shared by all CPUs (Linux 5.8 and
// later), where lesson 2's perf buffer has one ring per CPU.

struct event_t {
    u32 pid;                    // process id (the tgid)
    u32 cpu;                    // CPU the event happened on
    u64 ts;                     // kernel time in nanoseconds
    char comm[16];              // process name
    char filename[64];          // the path openat() was asked to open (longer ones are cut)
};

#ifndef PERF_BUFFER
// One ring of RING_PAGES memory pages (a power of two), shared by all CPUs.
// The glue sets RING_PAGES when it compiles this file (-DRING_PAGES=64).
BPF_RINGBUF_OUTPUT(events, RING_PAGES);
#else
// Kernels older than 5.8 have no ring buffer: the same events through a perf
// buffer, one ring per CPU, as in lesson 2.
BPF_PERF_OUTPUT(events);
#endif

// Events that found the buffer full, per process. A ring buffer reports no
// loss to user space: the program learns it when the reserve fails, and
// counts it here so that Python can say how many were dropped.
BPF_HASH(dropped, u32, u64);

static inline void fill(struct event_t *e, const char *filename)
{
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->cpu = bpf_get_smp_processor_id();
    e->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    // filename points into the calling process's memory: copy the string.
    if (bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename) < 0)
        e->filename[0] = 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_openat)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
#ifndef PERF_BUFFER
    // Reserve room for one event inside the ring itself, fill it in place,
    // then submit it: no copy from the stack, and no 512-byte stack limit.
    // The reserve fails (NULL) when the ring has no room left. The verifier
    // makes sure every reserved event is either submitted or discarded.
    struct event_t *e = events.ringbuf_reserve(sizeof(struct event_t));
    if (!e) {
        dropped.increment(pid);
        return 0;
    }
    fill(e, args->filename);
    // 0: wake the reader if it is waiting for data (BPF_RB_NO_WAKEUP never
    // wakes it, BPF_RB_FORCE_WAKEUP always does).
    events.ringbuf_submit(e, 0);
#else
    struct event_t e = {};
    fill(&e, args->filename);
    // perf_submit fails (< 0) when this CPU's ring is full.
    if (events.perf_submit(args, &e, sizeof(e)) < 0)
        dropped.increment(pid);
#endif
    return 0;
}
