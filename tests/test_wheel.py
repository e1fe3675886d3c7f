"""The wheel carries the shipped weights and the web page: installed outside the clone, it
stylises with the default decoder from another directory."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True)
    return next(out.glob("stylize-*.whl"))


def test_wheel_holds_the_weights_and_the_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("stylize_weights/adain_decoder.safetensors", "stylize_weights/attention_decoder.safetensors",
                   "stylize_weights/style_bank.safetensors",
                   "stylize_weights/fast.safetensors", "stylize/api/static/examples/gorilla.jpg",
                   "stylize_weights/README.md", "stylize/api/static/index.html", "stylize/api/static/app.js",
                   "stylize/api/static/vendor/onnxruntime-web/ort-wasm-simd-threaded.wasm",
                   "stylize/api/static/vendor/onnxruntime-web/LICENSE", "stylize/pipelines/engine.py",
                   "stylize/cli/main.py", "stylize/dataset/runner.py", "stylize/augment.py"):
        assert needed in names, needed


def test_installed_wheel_stylizes_from_another_directory(wheel, tmp_path):
    target, work = tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    from conftest import gradient_image

    gradient_image((64, 48), 1).save(work / "photo.png")
    gradient_image((40, 40), 2).save(work / "painting.png")
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([str(target / "bin" / "stylize"), "transfer", "--content", "photo.png",
                             "--style", "painting.png", "--output", "out.png", "--content-size", "32",
                             "--style-size", "32"], cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (work / "out.png").stat().st_size > 0
    show = "import stylize.models.weights as w; print(w.__file__, w.DEFAULT_DECODER)"
    where = subprocess.run([sys.executable, "-c", show], cwd=work, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert all(p.startswith(str(target)) for p in where), where  # the installed copy ran, not the clone


def test_the_faces_install_inside_the_stylize_namespace(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if "dist-info" not in name}
    assert tops == {"stylize", "stylize_weights"}  # no top-level `api` or `cli` to clash with a user's packages
