// usdt.c: the kernel side of lesson 9.
//
// USDT probes are marks a program's authors compiled into it: a nop
// instruction, plus a note in the ELF file that says where it is and where
// each argument will be (a register, or the stack). Python's interpreter has
// some. BCC turns each probe into a uprobe on its nop, and bpf_usdt_readarg()
// reads an argument from where the note says it is.

#include <uapi/linux/ptrace.h>

#define NAME_LEN 48
#define AUDIT 1
#define FUNCTION_ENTRY 2

// Calls counted per process, probe and name.
struct call_t {
    u32 pid;
    u32 probe;                  // AUDIT or FUNCTION_ENTRY
    char name[NAME_LEN];        // the audit event's name, or the Python function's
};
BPF_HASH(calls, struct call_t, u64);

// python:audit(const char *event, PyObject *args): Python 3.8 and later fire
// it at each audit event, its own (open, import, exec...) and those that
// Python code fires with sys.audit(event, *args).
int on_audit(struct pt_regs *ctx)
{
    struct call_t call = {.probe = AUDIT};
    u64 event = 0;
    call.pid = bpf_get_current_pid_tgid() >> 32;
    // Argument 1 is a pointer into the interpreter's memory: read the
    // pointer, then copy the string it points to.
    bpf_usdt_readarg(1, ctx, &event);
    bpf_probe_read_user_str(&call.name, sizeof(call.name), (void *)event);
    calls.increment(call);
    return 0;
}

#ifdef ENABLE_FUNCTION_ENTRY
// python:function__entry(const char *file, const char *function, int line):
// fires at each call of a Python function (Python 3.6 to 3.10). Compiled only
// where the probe is enabled: BCC generates bpf_usdt_readarg() for each
// enabled probe from its note, and has nothing to generate for a probe the
// interpreter lacks.
int on_function_entry(struct pt_regs *ctx)
{
    struct call_t call = {.probe = FUNCTION_ENTRY};
    u64 function = 0;
    call.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_usdt_readarg(2, ctx, &function);
    bpf_probe_read_user_str(&call.name, sizeof(call.name), (void *)function);
    calls.increment(call);
    return 0;
}
#endif
