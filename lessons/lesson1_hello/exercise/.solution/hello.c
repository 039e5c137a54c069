// hello.c: the reference solution of lesson 1's exercise.
//
// Make each line say which process called clone(). Check your work with:
//     sudo python -m runner check lesson1
// or keep it checked every time you save:  sudo python -m runner watch lesson1

int hello(void *ctx)
{
    // The upper 32 bits are the thread group id: the pid, as user space calls it.
    // (The lower 32 bits are the thread id, which only equals it in a main thread.)
    u32 pid = bpf_get_current_pid_tgid() >> 32;

    // Like printf: bpf_trace_printk() formats up to three arguments into the line.
    bpf_trace_printk("Hello from %d\n", pid);
    return 0;
}
