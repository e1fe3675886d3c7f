"""uvicorn's HTTP/1.1 protocol (h11) with the API's rules for what arrives before the app sees a
request: an unparsable request is answered in JSON like every other error of the API (uvicorn's
own answer is plain text), and the request line and headers have a deadline (uvicorn times only
the idle wait after a response, so a client that connects, or sends half its headers, and then
stalls would hold its connection for ever)."""
import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

UNPARSABLE = ("invalid HTTP request: malformed, or its request line and headers are over the server's limit "
              "of 16 KB")

log = logging.getLogger(__name__)


def json_answer(status, reason, detail):
    body = json.dumps({"detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode()
    return head + body


class ApiH11Protocol(H11Protocol):
    def __init__(self, *args, header_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.header_clock = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self.start_header_clock()

    def on_response_complete(self):
        super().on_response_complete()
        self.start_header_clock()  # the next request on this connection has the same deadline

    def handle_events(self):
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are in
            self.stop_header_clock()

    def connection_lost(self, exc):
        self.stop_header_clock()
        super().connection_lost(exc)

    def start_header_clock(self):
        self.stop_header_clock()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.header_clock = self.loop.call_later(self.header_timeout, self.headers_too_slow)

    def stop_header_clock(self):
        if self.header_clock is not None:
            self.header_clock.cancel()
            self.header_clock = None

    def headers_too_slow(self):
        self.header_clock = None
        if self.transport.is_closing():
            return
        started, _ = self.conn.trailing_data
        if started:  # part of a request came: say why it ends; an idle connection just closes
            log.info("closed a connection whose headers did not arrive within %g s", self.header_timeout)
            self.transport.write(json_answer(408, "Request Timeout", "request line and headers not received "
                                             f"within the server's limit of {self.header_timeout:g} s"))
        self.transport.close()

    def send_400_response(self, msg):
        self.transport.write(json_answer(400, "Bad Request", UNPARSABLE))
        self.transport.close()
