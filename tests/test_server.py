"""The real thing: `stylize serve` under uvicorn on a loopback port, hit over HTTP and from Chromium."""
import io
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conftest import gradient_image

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(decoder_file, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--decoder",
                                 str(decoder_file), "--device", "cpu", "--max-concurrency", "2", "--max-queue", "2"],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.2)
    yield base, log
    proc.terminate()
    proc.wait(timeout=30)


def image_bytes(size, seed):
    buf = io.BytesIO()
    gradient_image(size, seed).save(buf, format="PNG")
    return buf.getvalue()


def stylize_request(base, size=64):
    files = [("content", ("c.png", image_bytes((96, 64), 1), "image/png")),
             ("style", ("s.png", image_bytes((64, 64), 2), "image/png"))]
    return httpx.post(f"{base}/v1/stylize", files=files, data={"content_size": str(size), "style_size": "64"},
                      timeout=120)


def test_request_end_to_end_and_access_log(server):
    base, log = server
    response = stylize_request(base)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (96, 64)
    time.sleep(0.2)
    assert "method=POST path=/v1/stylize status=200 ms=" in log.read_text()


def test_burst_is_served_or_refused_never_lost(server):
    base, _ = server
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: stylize_request(base, 128), range(16)))
    codes = [a.status_code for a in answers]
    assert len(codes) == 16 and set(codes) <= {200, 503}, codes
    assert 200 in codes
    for refused in (a for a in answers if a.status_code == 503):
        assert refused.headers["retry-after"] and "busy" in refused.json()["detail"]
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert stylize_request(base).status_code == 200


def test_web_page_in_chromium(server, tmp_path):
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
    base, _ = server
    gradient_image((120, 80), 1).save(tmp_path / "content.png")
    gradient_image((64, 64), 2).save(tmp_path / "style.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.goto(base + "/")
        page.click("#go")  # nothing chosen yet: the page says so in words
        assert "Choose a content photo" in page.text_content("#error")
        page.set_input_files("#content", str(tmp_path / "content.png"))
        page.set_input_files("#style", str(tmp_path / "style.png"))
        page.fill("#size", "64")
        page.click("#go")
        page.wait_for_selector("#result-image", timeout=60_000)
        size = page.evaluate("""async () => {
            const img = document.getElementById('result-image');
            await img.decode();
            return [img.naturalWidth, img.naturalHeight];
        }""")
        assert size == [96, 64]
        assert page.get_attribute("#download", "download") == "stylized.png"
        browser.close()
