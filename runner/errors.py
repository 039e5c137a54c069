"""Errors a learner can meet: one sentence, the fix, and an exit code.

The exit codes are documented in `python3 -m runner --help`:
  0 ok, 1 the lesson failed, 2 usage error, 3 environment not ready.
"""

OK, LESSON_FAILED, USAGE, ENVIRONMENT = 0, 1, 2, 3


class RunnerError(Exception):
    """A failure explained in one sentence (`str(err)`) plus `fix`, what to do next."""

    code = LESSON_FAILED

    def __init__(self, message, fix=None, details=None):
        super().__init__(message)
        self.fix = fix
        self.details = details  # e.g. compiler or verifier output, shown under the sentence


class UsageError(RunnerError):
    code = USAGE


class EnvironmentNotReady(RunnerError):
    code = ENVIRONMENT


class LessonFailed(RunnerError):
    code = LESSON_FAILED


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C, clean up, exit 128+signal.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way (BCC's, a lesson's
    fallback from kprobe to tracepoint, the runner's own load()) mistakes it for a failure and goes on.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
