// workload.c: the program lesson 10 profiles. workload.py compiles it with
// frame pointers (-fno-omit-frame-pointer), so that every sample's stack can
// be walked from the sampled function up to main().
//
// hot() and warm() run the same loop; each round calls hot() for 3 units of
// work and warm() for 1, so the CPU time splits 3:1 between them. in_kernel()
// (off unless asked for) spends its time in write() system calls instead.
//
//   bcc-spin SECONDS [KERNEL_UNITS] [LINGER_SECONDS]
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define UNIT 100000             // loop steps per unit of work, about 0.1 ms

static volatile unsigned long sink;

__attribute__((noinline)) void hot(unsigned long units)
{
    for (unsigned long i = 0; i < units * UNIT; i++)
        sink += i;
}

__attribute__((noinline)) void warm(unsigned long units)
{
    for (unsigned long i = 0; i < units * UNIT; i++)
        sink += i;
}

__attribute__((noinline)) void in_kernel(unsigned long units, int fd)
{
    char byte = 0;
    for (unsigned long i = 0; i < units * 200; i++)
        if (write(fd, &byte, 1) != 1)
            break;
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    unsigned long kernel = argc > 2 ? strtoul(argv[2], NULL, 10) : 0;
    double linger = argc > 3 ? atof(argv[3]) : 0;
    int fd = open("/dev/null", O_WRONLY);
    unsigned long rounds = 0;
    double start = cpu_seconds();
    while (cpu_seconds() - start < seconds) {
        hot(3);
        warm(1);
        if (kernel)
            in_kernel(kernel, fd);
        rounds++;
    }
    printf("%lu %.6f\n", rounds, cpu_seconds() - start);
    fflush(stdout);
    // A profiler names a sample's addresses from the process's memory map
    // (/proc/PID/maps), which goes when the process exits: stay a moment.
    if (linger > 0) {
        struct timespec rest = {(time_t)linger, (long)((linger - (time_t)linger) * 1e9)};
        nanosleep(&rest, NULL);
    }
    return 0;
}
