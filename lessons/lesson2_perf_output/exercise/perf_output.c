// perf_output.c: the exercise of lesson 2 (the task is in README.md next to this file).
//
// Make each event carry the pid of the parent of the process that called
// clone(). Check your work with:
//     sudo python -m runner check lesson2
// or keep it checked every time you save:  sudo python -m runner watch lesson2

// What one event carries from the kernel to Python. The Python side does not
// repeat this definition: BCC reads it from this file and builds a matching
// ctypes class, which b["events"].event(data) returns.
struct data_t {
    u32 pid;                    // process id (the tgid, what ps calls PID)
    u32 cpu;                    // CPU the event happened on: one ring per CPU
    u64 ts;                     // kernel time in nanoseconds
    char comm[16];              // process name (TASK_COMM_LEN is 16)
    // TODO: add u32 ppid, the pid of the parent process.
};

// Declares the channel "events". Python opens it with
// b["events"].open_perf_buffer(callback).
BPF_PERF_OUTPUT(events);

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
    // TODO: fill data.ppid (README.md says where the kernel tells you the parent).

    // Copy the struct into this CPU's ring of the "events" buffer. If the ring
    // is full (user space has not read it yet) the event is dropped and the
    // kernel counts it as lost; the next read reports how many.
    events.perf_submit(ctx, &data, sizeof(data));
    return 0;
}
