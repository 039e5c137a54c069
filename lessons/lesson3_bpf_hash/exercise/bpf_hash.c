// bpf_hash.c: the exercise of lesson 3 (the task is in README.md next to this file).
//
// Count per command name instead of per process, and print the top 5.
// Check your work with:
//     sudo python -m runner check lesson3
// or keep it checked every time you save:  sudo python -m runner watch lesson3

// A map key can be any fixed-size struct: here a process id and its name.
// TODO: key by the command name only, so all processes of one name share a count.
struct key_t {
    u32 pid;
    char comm[16];   // the process name: the kernel keeps 16 bytes (TASK_COMM_LEN)
};

// BPF_HASH(name, key type, value type, max entries)
BPF_HASH(start, u32, u64);              // thread id -> time it went to sleep
BPF_HASH(calls, struct key_t, u64);     // sleeps completed, per process
BPF_HASH(slept_ns, struct key_t, u64);  // time asleep in nanoseconds, per process

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
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tid = pid_tgid;
    u64 *tsp = start.lookup(&tid);
    if (tsp == 0)
        return 0;   // missed the entry (the thread was asleep when we attached)
    u64 delta = bpf_ktime_get_ns() - *tsp;
    start.delete(&tid);   // the pair is complete: free the slot for the next sleep

    struct key_t key = {};   // zeroed: the whole struct, padding included, is the key
    key.pid = pid_tgid >> 32;
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
