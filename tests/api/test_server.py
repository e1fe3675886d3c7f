"""The real thing: `stylize serve` under uvicorn on a loopback port, hit over HTTP and from Chromium."""
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import gradient_image
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(decoder_file, log, *options):
    """`stylize serve` on a free loopback port, once its model is ready: (process, base URL)."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "stylize.cli.main", "serve", "--port", str(port),
                                 "--quality-weights", str(decoder_file), "--device", "cpu", *options],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server never became ready: {log.read_text()}")


@pytest.fixture(scope="module")
def server(decoder_file, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base = start_server(decoder_file, log, "--max-concurrency", "2", "--max-queue", "2")
    yield base, log
    proc.terminate()
    proc.wait(timeout=30)


def slow_request(base, timeout=120):
    """A request that runs for tens of seconds on 2 cores: a small smooth photo worked on at
    2048 px, which goes through 512 px tiles (two passes of 25 tiles)."""
    buf = io.BytesIO()
    Image.linear_gradient("L").convert("RGB").resize((128, 128)).save(buf, format="PNG")
    files = [("content", ("big.png", buf.getvalue(), "image/png")),
             ("style", ("s.png", image_bytes((64, 64), 2), "image/png"))]
    return httpx.post(f"{base}/v1/stylize", files=files, data={"content_size": "2048", "style_size": "64"},
                      timeout=timeout)


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


def test_sigterm_during_a_slow_request_stops_within_the_grace_period(decoder_file, tmp_path):
    proc, base = start_server(decoder_file, tmp_path / "server.log", "--graceful-timeout", "10")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(slow_request, base)
        time.sleep(3)  # the request is in its tiles now
        assert not answer.done()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stopped_after = time.monotonic() - sent
        response = answer.result(timeout=5)
    assert stopped_after < 12, stopped_after  # within the 10 s grace period (and some slack)
    assert response.status_code == 503 and "shutting down" in response.json()["detail"]


def test_request_deadline_answers_503_and_frees_the_slot(decoder_file, tmp_path):
    proc, base = start_server(decoder_file, tmp_path / "server.log", "--request-timeout", "1",
                              "--max-concurrency", "1", "--max-queue", "0")
    try:
        start = time.monotonic()
        response = slow_request(base)
        assert response.status_code == 503 and "longer than the server's limit of 1 s" in response.json()["detail"]
        assert time.monotonic() - start < 15
        assert stylize_request(base).status_code == 200  # the only slot is free again
        metrics = httpx.get(f"{base}/metrics").text
        assert 'stylize_rejections_total{reason="timeout"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_burst_with_oversized_requests_never_fails_or_loses_one(decoder_file, tmp_path):
    proc, base = start_server(decoder_file, tmp_path / "server.log", "--max-concurrency", "2", "--max-queue", "6",
                              "--max-upload-mb", "1", "--max-side", "512")
    strip = io.BytesIO()
    Image.new("RGB", (8000, 100), (120, 80, 40)).save(strip, format="PNG")

    def one(i):
        if i % 4 == 1:  # a style whose working size is over the limit
            files = [("content", ("c.png", image_bytes((96, 64), i), "image/png")),
                     ("style", ("s.png", strip.getvalue(), "image/png"))]
            return httpx.post(f"{base}/v1/stylize", files=files, data={"style_size": "512"}, timeout=120)
        if i % 4 == 2:  # a body over the upload limit
            files = [("content", ("c.png", b"\0" * (2 * 2**20), "image/png"))]
            return httpx.post(f"{base}/v1/stylize", files=files, timeout=120)
        return stylize_request(base, 128)

    try:
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(one, range(32)))
        codes = [a.status_code for a in answers]
        assert len(codes) == 32 and 500 not in codes and set(codes) <= {200, 413, 503}, codes
        assert 200 in codes and 413 in codes
        assert httpx.get(f"{base}/healthz").status_code == 200 and stylize_request(base).status_code == 200
        peak_kb = int(next(line for line in open(f"/proc/{proc.pid}/status") if line.startswith("VmHWM")).split()[1])
        print(f"burst of 32: {codes.count(200)} x 200, {codes.count(413)} x 413, {codes.count(503)} x 503; "
              f"server peak memory {peak_kb / 1024:.0f} MB")
        metrics = httpx.get(f"{base}/metrics").text
        for name in ("stylize_requests_total", "stylize_request_seconds_bucket", "stylize_requests_in_flight",
                     "stylize_queue_depth", "stylize_style_cache_hits", "stylize_model_load_seconds"):
            assert name in metrics, name
        assert 'route="/v1/stylize",status="413"' in metrics
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_bad_environment_value_or_option_is_one_line_at_startup(tmp_path):
    def serve(*options, **env):
        result = subprocess.run([sys.executable, "-m", "stylize.cli.main", "serve", "--port", str(free_port()),
                                 *options], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True,
                                timeout=60)
        return result.returncode, result.stderr.strip().splitlines()

    code, lines = serve(STYLIZE_MAX_CONCURRENCY="lots")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: bad server setting: --max-concurrency (STYLIZE_MAX_CONCURRENCY): "), lines
    assert serve("--max-side", "0") == (2, ["error: bad server setting: --max-side (STYLIZE_MAX_SIDE): Input should "
                                            "be greater than 0"])


def test_serve_options_are_the_settings_with_their_defaults():
    from stylize.api.settings import Settings
    from stylize.cli.main import build_parser
    from stylize.models.registry import MODELS

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    options = {action.dest: action for action in serve._actions}
    for name, field in Settings.model_fields.items():
        assert options[name].default is None, name  # unset, so that STYLIZE_* variables apply
        assert options[name].help.startswith(field.description), name
        if field.default is not None:
            assert options[name].help.endswith(f"(default {field.default})"), name
    assert options["default_model"].choices == ("quality", "fast")
    assert {spec.weights_option for spec in MODELS.values()} == {"quality_weights", "fast_weights"}
    assert {spec.weights_option for spec in MODELS.values()} <= set(options)


def playwright_or_skip():
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


def launch_chromium(p, *extra_args):
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", *extra_args])


def test_web_page_in_chromium(server, tmp_path):
    sync_playwright = playwright_or_skip()
    base, _ = server
    gradient_image((120, 80), 1).save(tmp_path / "content.png")
    gradient_image((64, 64), 2).save(tmp_path / "style.png")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page()
        page.goto(base + "/")
        page.click("#go")  # nothing chosen yet: the page says so in words
        assert "Choose a photo and a painting first." in page.text_content("#error")
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
        assert page.get_attribute("#download", "download") == "content-style.png"  # named after the photo and style
        assert "Done in" in page.text_content("#status")
        # An example photo and a bank style from the gallery, no uploads at all.
        page.click("#example-photos .thumb:nth-child(2)")
        page.wait_for_function("document.querySelector('#content-preview').src.startsWith('blob:')")
        page.click("#bank-styles .thumb:first-child")
        previous = page.get_attribute("#result-image", "src")
        page.click("#go")
        page.wait_for_function(f"document.querySelector('#result-image').src !== {previous!r}", timeout=60_000)
        assert "quality model" in page.text_content("#status")
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, nothing cut off
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        browser.close()


# Mean absolute difference (0-255) between the camera's current picture and the stylised frame
# on screen, both drawn at the stylised frame's size.
CAMERA_VS_RESULT = """() => {
    const img = document.getElementById('live-image'), video = document.getElementById('camera-video');
    const w = img.naturalWidth, h = img.naturalHeight;
    const pixels = (source) => {
        const c = document.createElement('canvas'); c.width = w; c.height = h;
        const g = c.getContext('2d'); g.drawImage(source, 0, 0, w, h); return g.getImageData(0, 0, w, h).data;
    };
    const a = pixels(video), b = pixels(img);
    let sum = 0;
    for (let i = 0; i < a.length; i += 4)
        sum += Math.abs(a[i] - b[i]) + Math.abs(a[i+1] - b[i+1]) + Math.abs(a[i+2] - b[i+2]);
    return sum / (3 * w * h);
}"""


def test_camera_tab_streams_stylised_frames_in_chromium(server):
    sync_playwright = playwright_or_skip()
    base, _ = server
    frames = "Number(document.getElementById('fps').dataset.frames || 0)"
    with sync_playwright() as p:
        browser = launch_chromium(p, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
        page = browser.new_page()
        page.goto(base + "/")
        page.click("#tab-camera")
        assert page.is_checked("#model-fast")  # the camera starts on the fast model
        page.click("#camera-toggle")
        page.wait_for_function(f"{frames} >= 5", timeout=60_000)
        assert "fast model, 256 px" in page.text_content("#live-status")
        size = page.evaluate("[document.getElementById('live-image').naturalWidth, "
                             "document.getElementById('live-image').naturalHeight]")
        assert size == [341, 256]  # the 640x480 fake camera at 256 px (the stream does not round sides to even)
        painted = page.evaluate(CAMERA_VS_RESULT)
        assert painted > 20, painted  # the painting, not the camera's own picture
        # The counter moves while frames keep coming.
        count = page.evaluate(frames)
        page.wait_for_function(f"{frames} >= {count + 5}", timeout=60_000)
        assert float(page.text_content("#fps").split()[0]) > 0
        # The strength slider reaches the running stream, which confirms it and keeps streaming.
        page.eval_on_selector("#alpha", "el => { el.value = 0.4; el.dispatchEvent(new Event('input')); }")
        page.wait_for_function("document.getElementById('live-status').textContent.includes('strength 0.40')",
                               timeout=30_000)
        count = page.evaluate(frames)
        page.wait_for_function(f"{frames} >= {count + 5}", timeout=60_000)
        page.click("#camera-toggle")
        page.wait_for_function("document.getElementById('camera-toggle').textContent === 'Start camera'")
        browser.close()
    # The server counts a stream session's frames when it has closed it, which may be after the page has
    # gone (a frame still in the network finishes first).
    deadline = time.time() + 60
    while "stylize_stream_sessions 0.0" not in (scrape := httpx.get(f"{base}/metrics").text):
        assert time.time() < deadline, "the session never closed"
        time.sleep(0.2)
    sent = next(float(line.split()[-1]) for line in scrape.splitlines()
                if line.startswith('stylize_stream_frames_total{result="sent"}'))
    assert sent >= 15
