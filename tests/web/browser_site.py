"""Fixtures shared by the page tests: Debian's Chromium, and a static site made by `stylize export-web`
(tiny random fast-model weights) served by `python -m http.server`, with no stylize server anywhere."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from stylize.cli.main import main
from stylize.media.images import to_tensor
from stylize.pipelines.engine import pad_to_multiple

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
# WebGPU on Chromium's software adapter (SwiftShader): the page's WebGPU runtime, with no GPU.
WEBGPU = [arg for arg in CHROMIUM_ARGS if arg != "--disable-gpu"] + [
    "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader"]
# The browser's result against the same graphs run by Python's onnxruntime, in 0-255 steps: only the
# runtime's arithmetic and the page's pixel handling differ. (The graphs against the torch model:
# tests/web/test_static_site.py, where the int8 weights are the difference.)
MEAN_TOLERANCE = 0.5
MAX_TOLERANCE = 2


def sync_playwright_or_skip():
    """Playwright's sync API over Debian's Chromium, or a skip (a failure in CI, which sets
    STYLIZE_REQUIRE_BROWSER=1)."""
    required = os.environ.get("STYLIZE_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if required:
            raise AssertionError(f"chromium not found at {CHROMIUM}")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return sync_playwright


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def site(fast_file, tmp_path_factory):
    """The exported static site's folder."""
    pytest.importorskip("onnx")
    out = tmp_path_factory.mktemp("site")
    assert main(["export-web", str(out), "--weights", str(fast_file)]) == 0
    return out


@pytest.fixture(scope="session")
def site_url(site):
    """The site served by Python's own static file server, and nothing else."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory",
                             str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 30
    while True:
        try:
            httpx.get(base)
            break
        except httpx.TransportError:
            assert time.time() < deadline, "http.server never answered"
            time.sleep(0.1)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


# Per module: each test module imports these fixtures and so has its own; two Playwright
# instances may not run at once.
@pytest.fixture(scope="module")
def chromium():
    sync_playwright = sync_playwright_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_CAMERA)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, site_url):
    """A fresh browser context on the static site, once the page has found its engines."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site_url)
    wait_ready(page)
    yield page
    context.close()
    assert not errors, errors


def wait_ready(page):
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)


def python_result(site, content, style, alpha):
    """The site's two graphs run by Python's onnxruntime on PIL images, padded as the engine pads:
    the bytes the page should show."""
    import onnxruntime as ort

    def run(name, feed):
        return ort.InferenceSession(str(site / "static" / "model" / name)).run(None, feed)[0]

    content_t, style_t = to_tensor(content), to_tensor(style)
    stats = run("style_encoder.onnx", {"style": pad_to_multiple(style_t[None]).numpy()})
    image = run("stylizer.onnx", {"content": pad_to_multiple(content_t[None]).numpy(), "style_stats": stats,
                                  "alpha": np.array([alpha], np.float32)})[0, :, :content.height, :content.width]
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)


def stylise_and_download(page, tmp_path, name):
    with page.expect_download() as download:
        page.click("#go")
        page.wait_for_selector("#result-image", timeout=60_000)
        page.click("#download")
    path = tmp_path / name
    download.value.save_as(path)
    return download.value.suggested_filename, np.asarray(Image.open(path).convert("RGB"))
