"""Protecting the server: request body size, admission (bounded concurrency and queue), and
the cache of encoded styles."""
import asyncio
import threading
from collections import OrderedDict
from contextlib import asynccontextmanager

from fastapi.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse request bodies over `limit` bytes with 413, without buffering them.

    A declared Content-Length over the limit is refused before the body is read; a body that
    turns out larger than declared (or has no length) is cut off once it passes the limit.
    """

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send):
        mb = self.limit / 2**20
        await JSONResponse({"detail": f"request body larger than the server's limit of {mb:g} MB"}, 413)(
            {"type": "http"}, None, send)


class StyleCache:
    """LRU of encoded styles keyed by SHA-256 of the style file (+ size and model): a repeated
    painting is not re-encoded."""

    def __init__(self, capacity):
        self.capacity, self.items, self.hits, self.misses = capacity, OrderedDict(), 0, 0
        self.lock = threading.Lock()

    def get_or_compute(self, key, compute):
        with self.lock:
            if key in self.items:
                self.hits += 1
                self.items.move_to_end(key)
                return self.items[key]
            self.misses += 1
        value = compute()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.capacity:
                self.items.popitem(last=False)
        return value

    def stats(self):
        return {"entries": len(self.items), "capacity": self.capacity, "hits": self.hits, "misses": self.misses}


class Admission:
    """At most `running` stylisations at once and `waiting` more in line; beyond that, refuse.

    A request is admitted (counted) by the AdmissionGate middleware before its body is read, so
    a burst can hold at most (running + waiting) x max_upload bytes of uploads in memory; the
    endpoint then waits for one of the `running` slots.
    """

    def __init__(self, running, waiting):
        self.semaphore = asyncio.Semaphore(running)
        self.capacity, self.admitted, self.running = running + waiting, 0, 0

    @property
    def queued(self):
        return self.admitted - self.running

    @asynccontextmanager
    async def run(self):
        async with self.semaphore:
            self.running += 1
            try:
                yield
            finally:
                self.running -= 1


class AdmissionGate:
    """ASGI middleware: count requests to `paths` against the admission capacity before their
    bodies are read; over capacity, answer 503 with Retry-After at once."""

    def __init__(self, app, admission, paths, on_reject=None):
        self.app, self.admission, self.paths, self.on_reject = app, admission, set(paths), on_reject

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        if self.admission.admitted >= self.admission.capacity:
            if self.on_reject is not None:
                self.on_reject("busy")
            response = JSONResponse({"detail": "server busy: too many requests in progress, retry shortly"}, 503,
                                    headers={"Retry-After": "1"})
            return await response(scope, receive, send)
        self.admission.admitted += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.admitted -= 1
