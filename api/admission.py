"""Admission: at most `running` stylisations at once (each on one of as many work threads) and
`waiting` more in line; beyond that, 503 busy with Retry-After. The gate admits image requests
before their bodies are read; the stream admits camera sessions; both through `Admission.place`."""
import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, suppress

import anyio
from fastapi.responses import JSONResponse

from stylize.errors import Cancelled

from .memory import release_free_memory

BUSY = "server busy: too many requests in progress, retry shortly"


class ServerBusy(Cancelled):
    """Every place in line is taken, or no slot freed in time."""


class Admission:
    """A request takes a place in line (`place`), then waits for a running slot (`slot`) and
    runs its work on the slot's thread (`run`).

    Places are taken before bodies are read, so a burst holds at most (running + waiting) x
    max_upload bytes of uploads; the body deadline frees the place of an upload that stalls.
    The work runs on `running` threads of its own (not the event loop's pool of 40): each thread
    that runs the network keeps a malloc arena and PyTorch buffers, so fewer threads, less memory.
    """

    def __init__(self, running, waiting):
        self.slots = asyncio.Semaphore(running)
        self.capacity, self.admitted, self.running = running + waiting, 0, 0
        self.threads = ThreadPoolExecutor(running, thread_name_prefix="stylize-work")

    @property
    def queued(self):
        return self.admitted - self.running

    @property
    def full(self):
        return self.admitted >= self.capacity

    @contextmanager
    def place(self):
        """A place in line, or ServerBusy."""
        if self.full:
            raise ServerBusy(BUSY)
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    @asynccontextmanager
    async def slot(self, deadline=None):
        """A running slot, waited for until `deadline` (a Deadline; None: only a slot free now);
        ServerBusy when none frees in time."""
        if deadline is None and self.slots.locked():
            raise ServerBusy("server busy: every stylisation slot is taken, retry shortly")
        try:
            with anyio.fail_after(deadline.remaining() if deadline else None):
                await self.slots.acquire()
        except TimeoutError:
            raise ServerBusy(f"server busy: no stylisation slot freed within the server's limit of "
                             f"{deadline.seconds:g} s, retry shortly") from None
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self.slots.release()
            if self.running == 0:  # a burst is over: hand back what it freed (on a work thread: it takes ms)
                with suppress(RuntimeError):  # the threads have shut down with the app
                    self.threads.submit(release_free_memory)

    async def run(self, function, *args):
        """function(*args) on a work thread (call it holding a slot)."""
        return await asyncio.get_running_loop().run_in_executor(self.threads, functools.partial(function, *args))

    def close(self):
        self.threads.shutdown(wait=False, cancel_futures=True)


def busy_response(detail=BUSY):
    return JSONResponse({"detail": detail}, 503, headers={"Retry-After": "1"})


class AdmissionGate:
    """ASGI middleware: a request to one of the `routes` (path templates, as `route_of` names
    them) takes its place in line before its body is read; with none left it is answered 503
    with Retry-After at once."""

    def __init__(self, app, admission, routes, route_of, on_reject=None):
        self.app, self.admission, self.routes, self.route_of = app, admission, set(routes), route_of
        self.on_reject = on_reject

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or self.route_of(scope) not in self.routes:
            return await self.app(scope, receive, send)
        if self.admission.full:
            if self.on_reject is not None:
                self.on_reject("busy")
            return await busy_response()(scope, receive, send)
        with self.admission.place():
            await self.app(scope, receive, send)
