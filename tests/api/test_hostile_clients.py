"""Clients that break the rules: bodies over the limit under any transfer encoding, uploads cut
short, stalled or dribbled bodies, requests queued behind camera sessions, giant headers. Each
gets a JSON answer with a `detail`, in time, counted under its route in /metrics."""
import base64
import io
import json
import socket
import time

import httpx
import pytest
from conftest import gradient_image, wait_ready
from fastapi.testclient import TestClient
from test_server import image_bytes, start_server, stylize_request
from websockets.sync.client import connect

from stylize.api.main import create_app
from stylize.api.settings import Settings


def png(size=(64, 48), seed=0):
    buf = io.BytesIO()
    gradient_image(size, seed).save(buf, format="PNG")
    return buf.getvalue()


def form_body(files):
    """A multipart body as httpx encodes it: (bytes, content-type header)."""
    request = httpx.Request("POST", "http://x/", files=files, data={"content_size": "32", "style_size": "32"})
    return request.read(), request.headers["content-type"]


def metric(text, name):
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.fixture(scope="module")
def client(decoder_file):
    app = create_app(Settings(quality_weights=str(decoder_file), device="cpu", max_upload_mb=1, max_side=256))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def test_a_chunked_body_over_the_limit_is_413_and_counted_as_too_large(client):
    body, kind = form_body([("content", ("big.png", b"\0" * (3 * 2**20), "image/png"))])
    before = client.get("/metrics").text

    def chunks():  # no Content-Length: httpx sends it chunked
        for k in range(0, len(body), 65536):
            yield body[k:k + 65536]

    response = client.post("/v1/stylize", content=chunks(), headers={"content-type": kind})
    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "request body larger than the server's limit of 1 MB"
    after = client.get("/metrics").text
    too_large = 'stylize_rejections_total{reason="too_large"}'
    assert metric(after, too_large) == metric(before, too_large) + 1
    counted = 'stylize_requests_total{method="POST",route="/v1/stylize",status="413"}'
    assert metric(after, counted) == metric(before, counted) + 1


def test_a_truncated_multipart_body_is_400_with_a_detail(client):
    body, kind = form_body([("content", ("c.png", png(), "image/png")), ("style", ("s.png", png(seed=2), "image/png"))])
    response = client.post("/v1/stylize", content=body[:len(body) // 2], headers={"content-type": kind})
    assert response.status_code == 400, response.text
    assert "ends before its closing boundary" in response.json()["detail"]
    assert client.post("/v1/stylize", content=body, headers={"content-type": kind}).status_code == 200


def test_busy_refusals_are_counted_under_their_route(decoder_file):
    app = create_app(Settings(quality_weights=str(decoder_file), device="cpu", max_concurrency=1, max_queue=0))
    with TestClient(app) as c:
        wait_ready(c)
        with c.websocket_connect("/v1/stream"):  # the only place and slot, until it closes
            files = [("content", ("c.png", png(), "image/png")), ("style", ("s.png", png(seed=2), "image/png"))]
            busy = c.post("/v1/stylize", files=files)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        scrape = c.get("/metrics").text
    assert metric(scrape, 'stylize_requests_total{method="POST",route="/v1/stylize",status="503"}') == 1
    assert 'route="unmatched"' not in scrape


def raw_request(base, pieces, pause=0.05, wait=30.0):
    """Send byte strings over a socket, `pause` s apart, until the server answers; -> (status,
    headers, body text, seconds), status None if it never answered."""
    host, port = base.removeprefix("http://").split(":")
    start, answer = time.monotonic(), b""
    with socket.create_connection((host, int(port))) as s:
        try:
            for piece in pieces:
                s.sendall(piece)
                s.settimeout(pause)
                try:
                    if s.recv(1, socket.MSG_PEEK):
                        break  # answered (or closed) before the rest was sent
                except TimeoutError:
                    continue
            s.settimeout(wait)
            while chunk := s.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionError):
            pass
    seconds = time.monotonic() - start
    if not answer.startswith(b"HTTP/1.1 "):
        return None, {}, answer.decode("latin-1"), seconds
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body.decode(), seconds


def post_head(length, boundary="x"):
    return (f"POST /v1/stylize HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


@pytest.fixture(scope="module")
def strict_server(decoder_file, tmp_path_factory):
    """One stylisation at a time, one request in line; 2 s for the headers, 2 s for a body, 5 s
    from body to answer."""
    log = tmp_path_factory.mktemp("strict") / "server.log"
    proc, base = start_server(decoder_file, log, "--max-concurrency", "1", "--max-queue", "1", "--header-timeout", "2",
                              "--body-timeout", "2", "--request-timeout", "5", "--max-upload-mb", "1")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_stalled_and_dribbled_uploads_are_408_within_the_body_deadline(strict_server):
    base = strict_server
    status, headers, body, seconds = raw_request(base, [post_head(5000)])  # headers, then nothing
    assert status == 408 and headers["content-type"] == "application/json", (status, body)
    assert json.loads(body)["detail"] == "request body not received within the server's limit of 2 s"
    assert seconds < 3.5, seconds
    body = b"--x\r\n" + b"a" * 195  # the headers at once, then the body at a byte a second
    status, _, body, seconds = raw_request(base, [post_head(200), *(body[k:k + 1] for k in range(200))], pause=1.0)
    assert status == 408 and seconds < 4.5, (status, body, seconds)
    # Two of them hold both places in line only until their deadline, then the places are free.
    assert stylize_request(base).status_code == 200, "the stalled uploads still hold their places"
    assert 'stylize_rejections_total{reason="slow_body"} 2.0' in httpx.get(f"{base}/metrics").text


def test_stalled_headers_are_408_and_idle_connections_close_within_the_header_deadline(strict_server):
    half_a_head = b"POST /v1/stylize HTTP/1.1\r\nHost: test\r\nContent-Len"
    status, headers, body, seconds = raw_request(strict_server, [half_a_head])
    assert status == 408 and headers["content-type"] == "application/json", (status, body)
    assert json.loads(body)["detail"] == "request line and headers not received within the server's limit of 2 s"
    assert 1.9 < seconds < 3.5, seconds
    status, _, body, seconds = raw_request(strict_server, [b""])  # connects, sends nothing
    assert (status, body) == (None, "") and 1.9 < seconds < 3.5, (status, body, seconds)
    # A kept-alive connection has the same deadline for its next request.
    status, _, body, seconds = raw_request(strict_server, [b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /he"])
    assert status == 200 and "HTTP/1.1 408 Request Timeout" in body and 1.9 < seconds < 3.5, (status, body, seconds)


def test_a_queued_request_gets_503_within_the_request_timeout_behind_a_camera(strict_server):
    base = strict_server
    style = "data:image/png;base64," + base64.b64encode(image_bytes((32, 32), 2)).decode()
    with connect(base.replace("http", "ws") + "/v1/stream") as camera:
        camera.send(json.dumps({"type": "config", "style_image": style, "model": "quality", "size": 32,
                                "style_size": 32}))
        assert json.loads(camera.recv(timeout=60))["type"] == "ready"  # it holds the only slot, and sits idle
        start = time.monotonic()
        response = stylize_request(base)
        waited = time.monotonic() - start
    assert response.status_code == 503 and response.headers["retry-after"] == "1", response.text
    assert "no stylisation slot freed within the server's limit of 5 s" in response.json()["detail"]
    assert 5 <= waited < 6, waited
    assert stylize_request(base).status_code == 200  # the camera has gone: its slot is free


def test_a_1mb_header_is_answered_in_json(strict_server):
    request = f"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: {'a' * 2**20}\r\n\r\n".encode()
    pieces = [request[k:k + 65536] for k in range(0, len(request), 65536)]
    status, headers, body, _ = raw_request(strict_server, pieces)
    assert status == 400 and headers["content-type"] == "application/json"
    assert "headers are over the server's limit" in json.loads(body)["detail"]
