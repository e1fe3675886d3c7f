"""The page as `stylize serve` serves it: the in-browser mode beside the server's models (the
server makes the graphs from its fast model), results that go stale, and a failed request."""
import subprocess
import sys
import time

import httpx
import pytest
from browser_site import chromium, free_port, wait_ready  # noqa: F401  (fixtures)
from conftest import gradient_image

pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def served(decoder_file, fast_file, tmp_path_factory):
    log = tmp_path_factory.mktemp("served") / "server.log"
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "stylize.cli.main", "serve", "--port", str(port),
                                 "--quality-weights", str(decoder_file), "--fast-weights", str(fast_file),
                                 "--device", "cpu"],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"{base}readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.time() < deadline, log.read_text()
        time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_web_model_files_are_made_from_the_servers_fast_model(served):
    info = httpx.get(f"{served}v1/web-model/model.json", timeout=120).json()
    assert info["model"] == "fast" and info["style_stats_size"] > 0
    assert info["style_size"] == 320  # the page reads paintings at the side the library does
    assert httpx.get(f"{served}v1/web-model/stylizer.onnx").status_code == 200
    missing = httpx.get(f"{served}v1/web-model/secrets.txt")
    assert missing.status_code == 404 and "secrets.txt" in missing.json()["detail"]


def test_served_page_runs_in_the_browser_beside_the_server_models(served, chromium, tmp_path):
    gradient_image((96, 64), 1).save(tmp_path / "content.png")
    gradient_image((64, 64), 2).save(tmp_path / "style.png")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(served)
    wait_ready(page)
    page.wait_for_function("!document.getElementById('choice-browser').hidden", timeout=120_000)
    assert page.is_checked("#model-quality")  # the server's default stays the choice
    assert page.is_visible("#model-fast") and page.is_visible("#model-browser")
    page.set_input_files("#content", str(tmp_path / "content.png"))
    page.set_input_files("#style", str(tmp_path / "style.png"))
    page.fill("#size", "64")
    page.check("#model-browser")
    page.click("#go")
    page.wait_for_selector("#result-image", timeout=60_000)
    assert "in this browser" in page.text_content("#status")
    assert page.get_attribute("#download", "download") == "content-style.png"
    # The quality model does not repaint on its own: the old result says it is out of date.
    page.check("#model-quality")
    assert "settings changed since this result" in page.text_content("#result").lower()
    page.screenshot(path=str(tmp_path / "served-stale.png"), full_page=True)
    # A refused request: the message names the photo, and the old result and its download go.
    page.route("**/v1/stylize", lambda route: route.fulfill(status=422, json={"detail": "the server says no"}))
    page.click("#go")
    page.wait_for_function("document.getElementById('error').textContent !== ''", timeout=30_000)
    assert page.text_content("#error") == "Could not stylize content.png: the server says no"
    assert page.query_selector("#result-image") is None and page.is_hidden("#download")
    page.screenshot(path=str(tmp_path / "served-failed.png"), full_page=True)
    context.close()
