// uprobes.c: the kernel side of lesson 6.
//
// A uprobe runs a BPF function when a process executes one instruction of a
// user-space program or library: here the first instruction of strlen() in
// libc, and of one function of the Python interpreter. A uretprobe runs one
// when that function returns. The kernel plants the probe in the file's
// pages, so every process that maps the file hits it (unless the probe was
// attached for one pid only).
#include <uapi/linux/ptrace.h>  // struct pt_regs: the CPU registers at the probe

#define MARK "lesson6:"           // without a pid: count only strings that start with this
#define MARK_LEN (sizeof(MARK) - 1)
#define STR_LEN 64                // bytes of each string we copy (longer ones are cut)

struct call_t {                   // a key: zeroed, so its padding is zero too
    u32 pid;
    char comm[16];                // process name (TASK_COMM_LEN)
    char str[STR_LEN];
};

struct proc_t {
    u32 pid;
    char comm[16];
};

BPF_HASH(calls, struct call_t, u64);     // strlen() calls per process and string
BPF_HASH(inside, u64, u8);               // threads inside a strlen() call we counted
BPF_HISTOGRAM(lengths);                  // log2 histogram of what those calls returned
BPF_HASH(functions, struct proc_t, u64); // calls of the probed program's function per process

// uprobe on strlen(const char *s): runs before strlen's first instruction
int strlen_entry(struct pt_regs *ctx)
{
    struct call_t call = {};

    // The first argument is a pointer into the calling process's memory:
    // copy the string from there, up to STR_LEN bytes including its NUL.
    const char *s = (const char *)PT_REGS_PARM1(ctx);
    if (bpf_probe_read_user_str(call.str, sizeof(call.str), s) < 0)
        return 0;  // unreadable (e.g. not paged in yet)

#ifdef ONLY_MARKED
    char mark[] = MARK;
    // Probing every process (no pid given): every program calls strlen()
    // all the time, so count only the marked calls. With a pid, the kernel
    // already runs this for that process only, and every call counts.
    #pragma unroll
    for (int i = 0; i < MARK_LEN; i++) {
        if (call.str[i] != mark[i])
            return 0;
    }
#endif

    u64 id = bpf_get_current_pid_tgid();  // process id << 32 | thread id
    call.pid = id >> 32;
    bpf_get_current_comm(&call.comm, sizeof(call.comm));
    calls.increment(call);

    u8 yes = 1;
    inside.update(&id, &yes);  // so that strlen_return() knows this call is counted
    return 0;
}

// uretprobe on strlen(): runs when strlen returns to its caller
int strlen_return(struct pt_regs *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    if (inside.lookup(&id) == NULL)
        return 0;  // a call strlen_entry() did not count
    inside.delete(&id);

    // PT_REGS_RC is the return value register (rax on x86_64): the length.
    lengths.increment(bpf_log2l(PT_REGS_RC(ctx)));
    return 0;
}

// uprobe on a function of a program (by default Py_GetVersion in python3)
int function_entry(struct pt_regs *ctx)
{
    struct proc_t proc = {};
    proc.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&proc.comm, sizeof(proc.comm));
    functions.increment(proc);
    return 0;
}
