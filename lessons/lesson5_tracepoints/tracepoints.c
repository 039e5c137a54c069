// tracepoints.c: the kernel side of lesson 5. Two tracepoints, two ways.
//
// A tracepoint is a hook the kernel developers placed in the code, with a
// record whose layout the kernel publishes in a text file:
//   /sys/kernel/tracing/events/<category>/<event>/format
//
// 1. sched:sched_process_exec with TRACEPOINT_PROBE: BCC reads the format
//    file and declares `args` for us.
// 2. tcp:tcp_send_reset, which tracepoints.py compiles two ways, BCC's own
//    first (RESET_TRACEPOINT_PROBE): TRACEPOINT_PROBE again, where it
//    compiles (kernels before 6.10, e.g. Debian 11's 5.10). Since 6.10 its
//    format names a type (enum sk_rst_reason) that the kernel headers may not
//    have, so TRACEPOINT_PROBE cannot compile there: tracepoints.py then
//    generates the struct of the record from the live format file (fixed-width
//    types, same offsets) and attaches on_tcp_send_reset() itself.

#define EXEC  1
#define RESET 2
#define AF_INET  2
#define AF_INET6 10

// One event, to user space.
struct event_t {
    u32 pid;
    u32 kind;                 // EXEC or RESET
    char comm[16];            // TASK_COMM_LEN
    char filename[64];        // EXEC: the path the program was executed as
    u16 family;               // RESET: AF_INET or AF_INET6
    u16 sport;                // RESET: ports in host byte order
    u16 dport;
    u8 saddr[16];             // RESET: IPv4 uses the first 4 bytes
    u8 daddr[16];
};
BPF_PERF_OUTPUT(events);

// exec: args->... are the fields of sched_process_exec's format file.
#ifndef TP_DATA_LOC_READ_STR
// Older BCC (Debian 11's 0.18) has TP_DATA_LOC_READ_CONST but not this string version: the same, written out.
#define TP_DATA_LOC_READ_STR(dst, field, length) \
    bpf_probe_read_str((void *)(dst), length, (char *)args + (args->data_loc_##field & 0xFFFF))
#endif

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    struct event_t e = {};
    e.kind = EXEC;
    e.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    // filename is a __data_loc field: the record holds (length << 16 | offset)
    // of a string stored after the fixed fields; this macro follows it.
    TP_DATA_LOC_READ_STR(&e.filename, filename, sizeof(e.filename));
    events.perf_submit(args, &e, sizeof(e));
    return 0;
}

#ifdef RESET_TRACEPOINT_PROBE
// 2a. BCC's own way: args-> is the record as its format file lays it out
// (before 6.10: sport, dport, saddr[4], daddr[4], saddr_v6[16], daddr_v6[16];
// no family field on Debian 11's 5.10).
// An IPv4 socket's addresses are in saddr_v6 too, mapped to ::ffff:a.b.c.d.
static inline int v4_mapped(u8 *a)
{
    u8 nonzero = 0;
#pragma unroll
    for (int i = 0; i < 10; i++)
        nonzero |= a[i];
    return !nonzero && a[10] == 0xff && a[11] == 0xff;
}

TRACEPOINT_PROBE(tcp, tcp_send_reset)
{
    struct event_t e = {};
    e.kind = RESET;
    e.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    e.sport = args->sport;
    e.dport = args->dport;
    bpf_probe_read_kernel(e.saddr, 16, args->saddr_v6);
    bpf_probe_read_kernel(e.daddr, 16, args->daddr_v6);
    if (v4_mapped(e.saddr)) {
        e.family = AF_INET;
        bpf_probe_read_kernel(e.saddr, 4, args->saddr);
        bpf_probe_read_kernel(e.daddr, 4, args->daddr);
    } else {
        e.family = AF_INET6;
    }
    events.perf_submit(args, &e, sizeof(e));
    return 0;
}

#else
// 2b. Kernels 6.10 and later: the struct generated from this kernel's format file.
#include "tcp_send_reset_args.h"  // struct tcp_send_reset_args + TCP_SEND_RESET_HAS_<FIELD>
#ifdef TCP_SEND_RESET_HAS_SPORT
#error "this kernel's tcp_send_reset has the layout from before 6.10, which only 2a reads"
#endif

// saddr and daddr each hold a struct sockaddr_in or
// sockaddr_in6 (28 bytes). Both start with the family (2 bytes, host order)
// and the port (2 bytes, network order); the IPv4 address follows at byte 4,
// the IPv6 address at byte 8.
static inline u16 port_of(u8 *sa)
{
    return (sa[2] << 8) | sa[3];
}

static inline void read_addresses(struct tcp_send_reset_args *args, struct event_t *e)
{
    u8 src[28] = {}, dst[28] = {};
    bpf_probe_read_kernel(src, sizeof(src), args->saddr);
    bpf_probe_read_kernel(dst, sizeof(dst), args->daddr);
    e->family = src[0] | (src[1] << 8);
    e->sport = port_of(src);
    e->dport = port_of(dst);
    if (e->family == AF_INET) {
        __builtin_memcpy(e->saddr, &src[4], 4);
        __builtin_memcpy(e->daddr, &dst[4], 4);
    } else {
        __builtin_memcpy(e->saddr, &src[8], 16);
        __builtin_memcpy(e->daddr, &dst[8], 16);
    }
}

// reset: attached by tracepoints.py with attach_tracepoint(); the argument is
// the record, laid out as this kernel's format file says.
int on_tcp_send_reset(struct tcp_send_reset_args *args)
{
    struct event_t e = {};
    e.kind = RESET;
    e.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    read_addresses(args, &e);
    events.perf_submit(args, &e, sizeof(e));
    return 0;
}
#endif
