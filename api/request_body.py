"""The rules of a request body, kept before any endpoint reads it: at most `limit` bytes under
any transfer encoding (413), all of it within `seconds` (408), and a multipart form complete to
its closing boundary (400). A broken body is answered here in JSON, in place of whatever the
app made of it (FastAPI calls any body it cannot parse 400 "There was an error parsing the body")."""
import time

import anyio
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers

TAIL = 4096  # bytes of the body's end kept to look for the closing boundary (and an epilogue)


class BodyProblem(Exception):
    def __init__(self, status, detail, reason):
        super().__init__(detail)
        self.status, self.detail, self.reason = status, detail, reason


def closing_boundary(headers):
    """b"--BOUNDARY--" of a multipart/form-data request, else None."""
    kind, _, params = headers.get("content-type", "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return b"--" + value.strip('"').encode("latin-1") + b"--"
    return None


def too_large(limit):
    return BodyProblem(413, f"request body larger than the server's limit of {limit / 2**20:g} MB", "too_large")


class BodyReader:
    """The app's `receive`, counting bytes against the limit and the clock against the deadline."""

    def __init__(self, receive, limit, seconds, boundary):
        self.receive, self.limit, self.seconds, self.boundary = receive, limit, seconds, boundary
        self.deadline = time.monotonic() + seconds
        self.seen, self.tail, self.complete, self.problem = 0, b"", False, None

    async def __call__(self):
        if self.complete:  # past the body: what remains is the disconnect, which has no deadline
            return await self.receive()
        try:
            with anyio.fail_after(max(0.0, self.deadline - time.monotonic())):
                message = await self.receive()
        except TimeoutError:
            self.fail(BodyProblem(408, f"request body not received within the server's limit of {self.seconds:g} s",
                                  "slow_body"))
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        self.seen += len(chunk)
        if self.seen > self.limit:
            self.fail(too_large(self.limit))
        self.tail = (self.tail + chunk)[-TAIL:]
        if not message.get("more_body", False):
            self.complete = True
            if self.boundary is not None and self.boundary not in self.tail:
                self.fail(BodyProblem(400, "the multipart form ends before its closing boundary: the upload was "
                                      "cut short; send it again", "truncated_body"))
        return message

    def fail(self, problem):
        self.problem = problem
        raise problem


class BodyRules:
    """ASGI middleware over the whole app; `on_reject(reason)` counts each refusal."""

    def __init__(self, app, limit, seconds, on_reject=None):
        self.app, self.limit, self.seconds, self.on_reject = app, limit, seconds, on_reject

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:  # refused before a byte of it is read
            return await self.answer(too_large(self.limit), scope, send)
        body = BodyReader(receive, self.limit, self.seconds, closing_boundary(headers))
        started = False

        async def send_unless_broken(message):
            nonlocal started
            if body.problem is None or started:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, body, send_unless_broken)
        except BodyProblem:
            pass
        if body.problem is not None and not started:
            await self.answer(body.problem, scope, send)

    async def answer(self, problem, scope, send):
        if self.on_reject is not None:
            self.on_reject(problem.reason)
        # The rest of the body is not read: the connection cannot carry another request.
        response = JSONResponse({"detail": problem.detail}, problem.status, headers={"Connection": "close"})
        await response(scope, None, send)
