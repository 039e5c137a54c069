// hello.c: the exercise of lesson 1 (the task is in README.md next to this file).
//
// Make each line say which process called clone(). Check your work with:
//     sudo python -m runner check lesson1
// or keep it checked every time you save:  sudo python -m runner watch lesson1

int hello(void *ctx)
{
    // TODO: print the pid of the process that called clone(), e.g. "Hello from 1234".
    //       bpf_get_current_pid_tgid() returns it in its upper 32 bits.
    bpf_trace_printk("Hello, World!\n");
    return 0;
}
