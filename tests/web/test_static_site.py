"""`stylize export-web`: the static site's files, and the page running the fast model in Chromium
with no stylize server, its pixels against the Python library's."""
import json

import numpy as np
import pytest
from browser_site import chromium, page, site, site_url  # noqa: F401  (fixtures)
from conftest import gradient_image
from PIL import Image

from stylize.cli.main import main
from stylize.media.images import to_tensor
from stylize.pipelines.engine import Engine

ort = pytest.importorskip("onnxruntime")

# The browser's result against the library's, in 0-255 steps: the page runs the same graphs, their
# weights stored in fp16, in WebAssembly's float32 arithmetic, and rounds to bytes.
MEAN_TOLERANCE = 0.5
MAX_TOLERANCE = 2


def test_site_holds_the_page_runtime_and_the_graphs(site):
    listing = json.loads((site / "static" / "site-files.json").read_text())["files"]
    for needed in ("index.html", "sw.js", "static/app.js", "static/model/stylizer.onnx",
                   "static/model/style_encoder.onnx", "static/model/model.json", "static/examples/sower.jpg",
                   "static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm"):
        assert needed in listing and (site / needed).is_file(), needed
    assert not [p for p in site.rglob(".*") if p.is_file()], "a temporary file was left behind"
    import onnx

    def large_weight_types(name):
        graph = onnx.load(str(site / "static" / "model" / name))
        return {t.data_type for t in graph.graph.initializer if int(np.prod(t.dims)) >= 1024}

    for name in ("style_encoder.onnx", "stylizer.onnx"):  # half the download
        assert large_weight_types(name) == {onnx.TensorProto.FLOAT16}, name


def test_site_graphs_match_the_torch_path(site, fast_file):
    engine = Engine.load("fast", fast_file, device="cpu", precision="fp32")  # the page's graphs, in Python
    encoder = ort.InferenceSession(str(site / "static" / "model" / "style_encoder.onnx"))
    stylizer = ort.InferenceSession(str(site / "static" / "model" / "stylizer.onnx"))
    content, style = to_tensor(gradient_image((64, 48), 1)), to_tensor(gradient_image((48, 48), 2))
    stats = encoder.run(None, {"style": style[None].numpy()})[0]
    image = stylizer.run(None, {"content": content[None].numpy(), "style_stats": stats,
                                "alpha": np.array([0.8], np.float32)})[0]
    expected = engine.stylize_tensor(content, engine.style_stats(style), alpha=0.8).numpy()
    assert np.abs(image[0] - expected).max() <= 4 / 255


def test_output_folder_that_is_a_file_is_one_error_line(fast_file, tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["export-web", str(tmp_path / "taken"), "--weights", str(fast_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot create output folder"), err


def python_result(fast_file, content, style, alpha):
    engine = Engine.load("fast", fast_file, device="cpu", precision="fp32")
    out = engine.stylize_tensor(to_tensor(content), engine.style_stats(to_tensor(style)), alpha=alpha)
    return out.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


def stylise_and_download(page, tmp_path, name):
    with page.expect_download() as download:
        page.click("#go")
        page.wait_for_selector("#result-image", timeout=60_000)
        page.click("#download")
    path = tmp_path / name
    download.value.save_as(path)
    return download.value.suggested_filename, np.asarray(Image.open(path).convert("RGB"))


def test_static_site_stylises_like_the_python_fast_model_and_offline(page, fast_file, tmp_path):
    # Sizes that are not multiples of 8 (the padding) and small enough that nothing is resized.
    content, style = gradient_image((60, 44), 1), gradient_image((40, 40), 2)
    content.save(tmp_path / "holiday.png")
    style.save(tmp_path / "brush.png")
    assert page.evaluate("crossOriginIsolated")  # the service worker's headers: the runtime has threads
    page.set_input_files("#content", str(tmp_path / "holiday.png"))
    page.set_input_files("#style", str(tmp_path / "brush.png"))
    page.eval_on_selector("#alpha", "el => { el.value = 0.6; el.dispatchEvent(new Event('input')); }")
    name, browser = stylise_and_download(page, tmp_path, "result.png")
    assert name == "holiday-brush.png"
    assert "in this browser" in page.text_content("#status")
    expected = python_result(fast_file, content, style, 0.6)
    assert browser.shape == expected.shape == (44, 60, 3)
    difference = np.abs(browser.astype(int) - expected.astype(int))
    print(f"browser vs Python fast model: mean {difference.mean():.3f}, max {difference.max()} (0-255)")
    assert difference.mean() <= MEAN_TOLERANCE and difference.max() <= MAX_TOLERANCE
    # Not a coincidence of a model that ignores its inputs: another strength gives other pixels.
    assert np.abs(browser.astype(int) - python_result(fast_file, content, style, 1.0).astype(int)).mean() > 1

    # With no network at all, the page comes back from the service worker's cache and still works.
    page.context.set_offline(True)
    page.reload()
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
    page.set_input_files("#content", str(tmp_path / "holiday.png"))
    page.set_input_files("#style", str(tmp_path / "brush.png"))
    page.eval_on_selector("#alpha", "el => { el.value = 0.6; el.dispatchEvent(new Event('input')); }")
    _, offline = stylise_and_download(page, tmp_path, "offline.png")
    assert np.array_equal(offline, browser)
    page.context.set_offline(False)
