"""uvicorn's HTTP/1.1 protocol (h11), answering a request it cannot parse in JSON like every
other error of the API (uvicorn's own answer is plain text)."""
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

UNPARSABLE = ("invalid HTTP request: malformed, or its request line and headers are over the server's limit "
              "of 16 KB")


class JsonErrorsH11Protocol(H11Protocol):
    def send_400_response(self, msg):
        body = json.dumps({"detail": UNPARSABLE}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
