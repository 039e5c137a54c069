// hello.c: the kernel side of lesson 1.
//
// BCC compiles this file to BPF bytecode, the kernel's verifier checks it,
// and from then on it runs inside the kernel every time a process calls
// clone() (which is what fork() does underneath).

int hello(void *ctx)
{
    // Append one line to the kernel's trace buffer. Each line also carries
    // the current process's name, pid, CPU and a timestamp, added by the
    // kernel. User space reads the lines from /sys/kernel/debug/tracing/trace_pipe.
    bpf_trace_printk("Hello, World!\n");
    return 0;
}
