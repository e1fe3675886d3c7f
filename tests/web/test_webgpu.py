"""The static site where the browser has WebGPU (Chromium's software adapter, SwiftShader, so no GPU
is needed): the page loads the WebGPU runtime, says so, and paints what the same graphs paint in
Python."""
import os

import numpy as np
import pytest
from browser_site import (  # noqa: F401  (fixtures)
    CHROMIUM,
    MAX_TOLERANCE,
    MEAN_TOLERANCE,
    WEBGPU,
    python_result,
    site,
    site_url,
    stylise_and_download,
    sync_playwright_or_skip,
    wait_ready,
)
from conftest import gradient_image

HAS_ADAPTER = "async () => Boolean(navigator.gpu && await navigator.gpu.requestAdapter())"


@pytest.fixture(scope="module")
def webgpu_page(site_url):
    sync_playwright = sync_playwright_or_skip()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=WEBGPU)
        page = browser.new_context(accept_downloads=True).new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site_url)
        wait_ready(page)
        if not page.evaluate(HAS_ADAPTER):
            assert os.environ.get("STYLIZE_REQUIRE_BROWSER") != "1", "Chromium offers no WebGPU adapter"
            pytest.skip("this Chromium offers no WebGPU adapter")
        yield page
        browser.close()
        assert not errors, errors


def test_page_paints_on_webgpu_like_its_graphs_in_python(webgpu_page, site, tmp_path):
    content, style = gradient_image((60, 44), 1), gradient_image((40, 40), 2)
    content.save(tmp_path / "holiday.png")
    style.save(tmp_path / "brush.png")
    webgpu_page.set_input_files("#content", str(tmp_path / "holiday.png"))
    webgpu_page.set_input_files("#style", str(tmp_path / "brush.png"))
    webgpu_page.eval_on_selector("#alpha", "el => { el.value = 0.6; el.dispatchEvent(new Event('input')); }")
    _, browser = stylise_and_download(webgpu_page, tmp_path, "result.png")
    assert "in this browser (fast model, WebGPU)" in webgpu_page.text_content("#status")
    difference = np.abs(browser.astype(int) - python_result(site, content, style, 0.6).astype(int))
    print(f"WebGPU vs the graphs in Python: mean {difference.mean():.3f}, max {difference.max()} (0-255)")
    assert difference.mean() <= MEAN_TOLERANCE and difference.max() <= MAX_TOLERANCE
