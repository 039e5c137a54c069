// bpf_hash.c: the reference solution of lesson 3's exercise.
//
// Count, per command name, how many times its processes slept in
// clock_nanosleep() and for how long in total. Every process of one name
// adds to the same entry: the key decides what is counted together.

// The key is the command name only: no pid, so processes that share a name
// share an entry. (It stays a struct, so a field could be added back later.)
struct key_t {
    char comm[16];   // the process name: the kernel keeps 16 bytes (TASK_COMM_LEN)
};

// BPF_HASH(name, key type, value type, max entries)
BPF_HASH(start, u32, u64);              // thread id -> time it went to sleep
BPF_HASH(calls, struct key_t, u64);     // sleeps completed, per command name
BPF_HASH(slept_ns, struct key_t, u64);  // time asleep in nanoseconds, per command name

// On entry to clock_nanosleep(): remember when this thread went to sleep.
TRACEPOINT_PROBE(syscalls, sys_enter_clock_nanosleep)
{
    u32 tid = bpf_get_current_pid_tgid();   // the lower 32 bits: the thread id
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
}

// On exit from clock_nanosleep(): how long was it? Count it, then forget the start.
TRACEPOINT_PROBE(syscalls, sys_exit_clock_nanosleep)
{
    u32 tid = bpf_get_current_pid_tgid();
    u64 *tsp = start.lookup(&tid);
    if (tsp == 0)
        return 0;   // missed the entry (the thread was asleep when we attached)
    u64 delta = bpf_ktime_get_ns() - *tsp;
    start.delete(&tid);   // the pair is complete: free the slot for the next sleep

    struct key_t key = {};   // zeroed: a short name leaves no garbage after its end
    bpf_get_current_comm(&key.comm, sizeof(key.comm));

    // Counting the long way: look the key up; add one in place if it is there,
    // insert it with a count of 1 if not. lookup() returns a pointer into the map
    // (or 0), and the verifier insists on the check before it is used.
    u64 one = 1;
    u64 *count = calls.lookup(&key);
    if (count)
        __sync_fetch_and_add(count, 1);   // atomic: other CPUs may count the same key
    else
        calls.update(&key, &one);

    // The same thing in one line, BCC's idiom: insert 0 if absent, then add atomically.
    slept_ns.increment(key, delta);
    return 0;
}
