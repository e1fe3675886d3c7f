"""The deadline of one request (--request-timeout): a FastAPI dependency. It bounds the wait
for a stylisation slot and the work after it; the work checks it at each stage boundary."""
import threading
import time
from typing import Annotated

from fastapi import Depends, Request


class Deadline:
    """`seconds` from now, or sooner if the server starts stopping (`stopping` is set)."""

    def __init__(self, seconds, stopping: threading.Event):
        self.seconds, self.stopping = seconds, stopping
        self.at = time.monotonic() + seconds

    def remaining(self):
        return max(0.0, self.at - time.monotonic())

    def should_stop(self):
        """The library's should_stop callable: why to stop, or None to carry on."""
        if self.stopping.is_set():
            return "the server is shutting down; retry shortly"
        if time.monotonic() > self.at:
            return f"the request took longer than the server's limit of {self.seconds:g} s"
        return None


def request_deadline(request: Request) -> Deadline:
    """Starts when the request's body is in (the body has its own limit, --body-timeout)."""
    return Deadline(request.app.state.settings.request_timeout, request.app.state.stopping)


DeadlineDep = Annotated[Deadline, Depends(request_deadline)]
