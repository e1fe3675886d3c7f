"""WebSocket /v1/stream: config checked like any request, frames stylised and stabilised, the
newest frame served first (stale ones dropped), a stylisation slot held per session."""
import base64
import io
import json

import pytest
from conftest import gradient_image, wait_ready
from fastapi.testclient import TestClient
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from stylize.api.main import create_app
from stylize.api.settings import Settings


def png(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


STYLE = "data:image/png;base64," + base64.b64encode(png(gradient_image((64, 64), 2))).decode()
FRAME = png(gradient_image((96, 64), 1))
SMALL = {"content_size": "32", "style_size": "32"}


@pytest.fixture(scope="module")
def client(decoder_file, fast_file):
    app = create_app(Settings(quality_weights=str(decoder_file), fast_weights=str(fast_file), device="cpu",
                              max_side=256, max_concurrency=1, max_queue=0))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def configure(ws, **fields):
    ws.send_text(json.dumps({"type": "config", **fields}))
    return ws.receive_json()


def test_frames_come_back_stylised_at_the_asked_size(client):
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(FRAME)
        assert ws.receive_json() == {"type": "error", "detail": "send a config message before frames"}
        reply = configure(ws, style_image=STYLE, size=32, alpha=0.8)
        assert reply == {"type": "ready", "model": "fast", "size": 32, "alpha": 0.8, "style": "style_image",
                         "temporal": "flow"}
        for _ in range(3):
            ws.send_bytes(FRAME)
            result = Image.open(io.BytesIO(ws.receive_bytes()))
            assert result.format == "JPEG" and result.size == (48, 32)
        # A bad frame is one error message; the session goes on.
        ws.send_bytes(b"not an image")
        assert ws.receive_json()["detail"] == "not an image (or an unsupported format): frame"
        ws.send_bytes(FRAME)
        assert Image.open(io.BytesIO(ws.receive_bytes())).size == (48, 32)


@pytest.mark.parametrize("fields, message", [
    ({"style_image": STYLE, "alpha": 7}, "alpha must be between 0 and 1"),
    ({"style_image": STYLE, "size": 5000}, "content_size must be between 1 and the server's max side 256"),
    ({"style_image": "%%%"}, "style_image must be an image as a data URL or base64"),
    ({"style_name": "starry"}, "no style 'starry' in this bank"),
    ({"style_image": STYLE, "colour": "red"}, "colour: Extra inputs are not permitted"),
    ({"style_image": STYLE, "model": "huge"}, "model: Input should be 'quality' or 'fast'"),
    ({}, "give either style images or a bank style"),
])
def test_bad_config_is_an_error_message(client, fields, message):
    with client.websocket_connect("/v1/stream") as ws:
        reply = configure(ws, **fields)
        assert reply["type"] == "error" and message in reply["detail"], reply
        ws.send_text("[1, 2]")
        assert ws.receive_json() == {"type": "error", "detail": "text messages must be JSON objects"}


def scrape(client, name):
    line = next(line for line in client.get("/metrics").text.splitlines() if line.startswith(name))
    return float(line.split()[-1])


def test_stale_frames_are_dropped_and_a_session_holds_a_slot(client):
    sent = scrape(client, 'stylize_stream_frames_total{result="sent"}')
    dropped = scrape(client, 'stylize_stream_frames_total{result="dropped"}')
    with client.websocket_connect("/v1/stream") as ws:
        configure(ws, style_image=STYLE, size=64)
        assert scrape(client, "stylize_stream_sessions") == 1
        # The only slot is this session's: another camera, and an image request, are turned away.
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/v1/stream") as other:
                other.receive_json()
        assert refused.value.code == 1013 and "server busy" in refused.value.reason
        files = {"content": ("c.png", FRAME, "image/png"), "style": ("s.png", FRAME, "image/png")}
        busy = client.post("/v1/stylize", files=files, data=SMALL)
        assert busy.status_code == 503 and "server busy" in busy.json()["detail"]
        for _ in range(12):  # faster than they can be stylised
            ws.send_bytes(FRAME)
        ws.receive_bytes()
    assert scrape(client, "stylize_stream_sessions") == 0
    new_sent = scrape(client, 'stylize_stream_frames_total{result="sent"}') - sent
    new_dropped = scrape(client, 'stylize_stream_frames_total{result="dropped"}') - dropped
    assert new_sent >= 1 and new_dropped >= 1 and new_sent + new_dropped <= 12, (new_sent, new_dropped)
    files = {"content": ("c.png", FRAME, "image/png"), "style": ("s.png", FRAME, "image/png")}
    response = client.post("/v1/stylize", files=files, data=SMALL)
    assert response.status_code == 200, response.json()
