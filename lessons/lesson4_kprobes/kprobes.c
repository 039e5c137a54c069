// kprobes.c: the kernel side of lesson 4. Count the bytes each process sends over TCP.
//
// BCC attaches a function by its name alone: kprobe__tcp_sendmsg() runs when
// the kernel enters tcp_sendmsg(), kretprobe__tcp_sendmsg() when it returns.
// No attach_kprobe() call is needed in Python (-DEXPLICIT=1 below shows it).
#include <uapi/linux/ptrace.h>  // struct pt_regs: the CPU registers at the probe

// The probed function's argument types. Pointers to them are all this file
// needs, so declaring the names is enough (<net/sock.h> would define them,
// but with headers from a newer kernel than BCC's clang it does not compile).
struct sock;
struct msghdr;

#ifdef EXPLICIT
// Built with -DEXPLICIT=1 (python3 -m runner lesson4 --explicit): the same two
// functions under plain names. Without the prefix BPF() attaches nothing by
// itself; kprobes.py attaches them by hand, naming the kernel function:
//   b.attach_kprobe(event="tcp_sendmsg", fn_name="trace_sendmsg_entry")
//   b.attach_kretprobe(event="tcp_sendmsg", fn_name="trace_sendmsg_return")
#define kprobe__tcp_sendmsg    trace_sendmsg_entry
#define kretprobe__tcp_sendmsg trace_sendmsg_return
#elif defined(NO_KPROBES)
// Built with -DNO_KPROBES=1 on a kernel without kprobes (CONFIG_KPROBES off):
// BCC would try to attach the kprobe__/kretprobe__ functions as soon as it
// loads this file, and fail. These two lines give them names without the
// magic prefix, so they are still compiled and checked by the verifier, just
// not attached; the tracepoints at the end of the file count instead.
#define kprobe__tcp_sendmsg    noattach_kprobe__tcp_sendmsg
#define kretprobe__tcp_sendmsg noattach_kretprobe__tcp_sendmsg
#endif

// One event per send, to user space.
struct send_t {
    u32 pid;
    char comm[16];  // TASK_COMM_LEN
    u64 size;   // bytes the process asked to send (tcp_sendmsg's size argument)
    u64 sent;   // bytes tcp_sendmsg returned as sent
    u64 total;  // all bytes this process sent so far
};
BPF_PERF_OUTPUT(events);

BPF_HASH(asked, u32, u64);   // thread id -> size, from entry to return
BPF_HASH(totals, u32, u64);  // process id -> bytes sent so far

// static inline: a helper, not a probe. BCC inlines it into each probe that
// calls it (BPF programs of this era cannot call ordinary functions).
static inline int remember_size(u64 size)
{
    u32 tid = bpf_get_current_pid_tgid();
    asked.update(&tid, &size);
    return 0;
}

static inline int count_sent(void *ctx, long sent)
{
    u32 tid = bpf_get_current_pid_tgid();
    u64 *size = asked.lookup(&tid);
    struct send_t e = {};

    if (size != 0) {  // 0 when the entry was missed (attached mid-call)
        e.size = *size;
        asked.delete(&tid);
    }
    if (sent <= 0)
        return 0;  // an error, or nothing sent

    e.pid = bpf_get_current_pid_tgid() >> 32;
    u64 zero = 0;
    u64 *total = totals.lookup_or_try_init(&e.pid, &zero);
    if (total == 0)
        return 0;  // the map is full
    *total += sent;
    e.sent = sent;
    e.total = *total;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    events.perf_submit(ctx, &e, sizeof(e));
    return 0;
}

// entry: the arguments of int tcp_sendmsg(struct sock *sk, struct msghdr *msg,
// size_t size) follow ctx; BCC reads them from the registers for us.
int kprobe__tcp_sendmsg(struct pt_regs *ctx, struct sock *sk, struct msghdr *msg, size_t size)
{
    return remember_size(size);
}

// return: PT_REGS_RC(ctx) is tcp_sendmsg's return value, the bytes it sent.
int kretprobe__tcp_sendmsg(struct pt_regs *ctx)
{
    return count_sent(ctx, PT_REGS_RC(ctx));
}

#ifdef NO_KPROBES
// The nearest tracepoints: send()'s syscall entry has the size asked for,
// sock:sock_send_length fires after the protocol's sendmsg (tcp_sendmsg
// for TCP) returned, with its return value.
TRACEPOINT_PROBE(syscalls, sys_enter_sendto)
{
    return remember_size(args->len);
}

TRACEPOINT_PROBE(sock, sock_send_length)
{
    if (args->protocol != 6)  // IPPROTO_TCP
        return 0;  // only TCP, like tcp_sendmsg
    return count_sent(args, args->ret);
}
#endif
