"""python3 -m bench: what the runner costs at start-up, how many events each way of streaming them delivers,
and what each tracing mechanism adds to a traced system call. Run as root; see bench/__main__.py."""
