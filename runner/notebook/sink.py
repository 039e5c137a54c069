"""Where a notebook's run writes: session.Sink's methods, turned into the controller's tables and status.

Stop is an answer, not an exception: stop_requested() says True once the controller's
stop event is set (Stop pressed, or detach()), and the Run ends its trace with its final read.
"""

from ..language import _
from ..session import Sink


class NotebookSink(Sink):
    def __init__(self, controller):
        self.c = controller
        self.loading = True   # during load(): narration is printed in the load cell's output
        self.stopped = False  # the last trace ended because stop was requested
        self._announced = None

    def begin(self):
        """A trace starts (the controller calls it before run.trace())."""
        self.loading, self.stopped, self._announced = False, False, None

    def say(self, text=""):
        if self.loading:
            print(text)

    def note(self, text):
        if self.loading:
            print(text)
        else:
            self.c._status(text)

    def ready(self, text):
        self.c._status(_("Tracing {probes} for {seconds:g} s...").format(probes=self.c.probes_text(),
                                                                         seconds=self.c.tracing_for))

    def interval(self, number, empty):
        self.c.intervals = number

    def event(self, record):
        self.c._add(record)

    def flush(self):
        summary = self.c.run.summary if self.c.run is not None else None
        pid = summary and summary.get("workload_pid")
        if pid and pid != self._announced:
            self._announced = pid
            self.c._status(_("Tracing {probes} for {seconds:g} s; workload pid {pid} started.").format(
                probes=self.c.probes_text(), seconds=self.c.tracing_for, pid=pid))
        self.c._refresh()

    def stop_requested(self):
        if self.c.stop_event.is_set():
            self.stopped = True
        return self.stopped
