// latency.c: the kernel side of lesson 8.
//
// How long does something take? When it starts, note the time in a map,
// keyed by what is being timed (a thread, a disk request). When it ends,
// look the start up, subtract, and count the difference in a histogram: a
// map of buckets that the kernel updates, so Python reads a few numbers
// instead of one event per call.

// A histogram per process: the key is the pid and the bucket ("slot").
// print_log2_hist(section_header="pid") in Python expects exactly this
// shape: the section first, the slot last, both u64 (no padding between).
struct pid_key_t {
    u64 pid;
    u64 slot;
};

struct name_t {
    char comm[16];
};

// Part 1, sleeps of known length: clock_nanosleep() from entry to exit.
BPF_HASH(sleep_start, u32, u64);                   // thread id -> when its sleep began (ns)
BPF_HISTOGRAM(sleeps, struct pid_key_t, 10240);    // per pid: log2(us), or whole ms with -DLINEAR
BPF_HASH(names, u32, struct name_t);               // pid -> its name, for the rows Python prints

// Part 2, something real: how long each block I/O request takes, from the
// moment it is issued to the disk to its completion (like BCC's biolatency).
struct request_t {
    u64 dev;      // the disk (major << 20 | minor, as the kernel numbers it)
    u64 sector;   // where the request starts: with dev, it names the request
};
BPF_HASH(io_start, struct request_t, u64);         // request -> when it was issued (ns)
BPF_HISTOGRAM(io, u64);                            // log2(us) of every request, all disks (a hash:
                                                   // with an int key it would be an array)

TRACEPOINT_PROBE(syscalls, sys_enter_clock_nanosleep)
{
    u64 id = bpf_get_current_pid_tgid();
#ifdef PID
    if (id >> 32 != PID)
        return 0;  // --pid: time only that process's sleeps
#endif
    u32 tid = id;  // the lower 32 bits: the thread, which sleeps and wakes
    u64 ts = bpf_ktime_get_ns();
    sleep_start.update(&tid, &ts);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clock_nanosleep)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id;
    u64 *start = sleep_start.lookup(&tid);
    if (start == 0)
        return 0;  // its entry came before we attached, or was filtered out
    u64 us = (bpf_ktime_get_ns() - *start) / 1000;
    sleep_start.delete(&tid);

    struct pid_key_t key = {};
    key.pid = id >> 32;
#ifdef LINEAR
    key.slot = us / 1000;        // linear: one bucket per whole millisecond
#else
    key.slot = bpf_log2l(us);    // log2: bucket k holds 2^(k-1) to 2^k - 1 us
#endif
    sleeps.increment(key);

    struct name_t name = {};
    bpf_get_current_comm(&name.comm, sizeof(name.comm));
    u32 pid = key.pid;
    names.update(&pid, &name);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_issue)
{
    struct request_t rq = {};
    rq.dev = args->dev;
    rq.sector = args->sector;
    u64 ts = bpf_ktime_get_ns();
    io_start.update(&rq, &ts);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_complete)
{
    struct request_t rq = {};
    rq.dev = args->dev;
    rq.sector = args->sector;
    u64 *start = io_start.lookup(&rq);
    if (start == 0)
        return 0;  // issued before we attached
    u64 us = (bpf_ktime_get_ns() - *start) / 1000;
    io_start.delete(&rq);
    io.increment(bpf_log2l(us));
    return 0;
}
