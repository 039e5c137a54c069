// perf_output.c: the reference solution of lesson 2's exercise.
//
// Each event now carries the parent's pid too. The kernel announces every new
// process at the sched:sched_process_fork tracepoint, in its parent's context:
// the program remembers child -> parent in a hash map there, and hello() looks
// the caller up. (task->real_parent->tgid would read it from the task_struct,
// but only where the kernel headers match the running kernel: see README.md.)

// What one event carries from the kernel to Python. The Python side does not
// repeat this definition: BCC reads it from this file and builds a matching
// ctypes class, which b["events"].event(data) returns.
struct data_t {
    u32 pid;                    // process id (the tgid, what ps calls PID)
    u32 cpu;                    // CPU the event happened on: one ring per CPU
    u64 ts;                     // kernel time in nanoseconds
    char comm[16];              // process name (TASK_COMM_LEN is 16)
    u32 ppid;                   // parent's process id (0: forked before we attached)
};

// Declares the channel "events". Python opens it with
// b["events"].open_perf_buffer(callback).
BPF_PERF_OUTPUT(events);

// child pid -> parent pid, for every process forked since the program was loaded.
BPF_HASH(parents, u32, u32);

// A process forks: this runs in the parent, and args->child_pid is the new task.
TRACEPOINT_PROBE(sched, sched_process_fork)
{
    u32 child = args->child_pid;
    u32 parent = bpf_get_current_pid_tgid() >> 32;   // the parent's process id
    parents.update(&child, &parent);
    return 0;
}

int hello(void *ctx)
{
    // The struct lives on the BPF stack (512 bytes at most). Zero it, so no
    // uninitialised stack bytes (padding included) are copied to user space.
    struct data_t data = {};

    // The upper 32 bits of pid_tgid are the process id, the lower the thread id.
    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.cpu = bpf_get_smp_processor_id();
    data.ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data.comm, sizeof(data.comm));

    // Who forked the caller? Absent for processes older than this program.
    u32 *ppid = parents.lookup(&data.pid);
    if (ppid)
        data.ppid = *ppid;

    // Copy the struct into this CPU's ring of the "events" buffer. If the ring
    // is full (user space has not read it yet) the event is dropped and the
    // kernel counts it as lost; the next read reports how many.
    events.perf_submit(ctx, &data, sizeof(data));
    return 0;
}
