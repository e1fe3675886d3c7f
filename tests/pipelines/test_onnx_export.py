"""ONNX export: both graphs run in onnxruntime and match the torch path at float32."""
import json

import numpy as np
import pytest
import torch
from conftest import gradient_image

from stylize.cli.main import main
from stylize.media.images import to_tensor
from stylize.models.style_stats import blend
from stylize.pipelines.engine import Engine

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("model", ["quality", "fast"])
def test_exported_graphs_match_the_torch_path(model, decoder_file, fast_file, tmp_path, capsys):
    weights = decoder_file if model == "quality" else fast_file
    assert main(["export-onnx", str(tmp_path), "--model", model, "--weights", str(weights)]) == 0
    assert "wrote" in capsys.readouterr().out
    engine = Engine.load(model, weights, device="cpu", precision="fp32")
    encoder = ort.InferenceSession(str(tmp_path / "style_encoder.onnx"))
    stylizer = ort.InferenceSession(str(tmp_path / "stylizer.onnx"))
    size = json.loads((tmp_path / "README.md").read_text().rsplit("```json", 1)[1].split("```")[0])["style_stats_size"]
    for (w, h), alpha in (((64, 64), 1.0), ((80, 48), 0.6)):
        content, style = to_tensor(gradient_image((w, h), 1)), to_tensor(gradient_image((w, h), 2))
        stats = encoder.run(None, {"style": style[None].numpy()})[0]
        assert stats.shape == (1, size)
        image = stylizer.run(None, {"content": content[None].numpy(), "style_stats": stats,
                                    "alpha": np.array([alpha], np.float32)})[0]
        expected = engine.stylize_tensor(content, engine.style_stats(style), alpha=alpha)
        assert image.shape == (1, 3, h, w)
        assert np.abs(image[0] - expected.numpy()).max() <= 1e-3


def test_blend_is_a_weighted_sum_of_rows(decoder_file, tmp_path):
    main(["export-onnx", str(tmp_path), "--weights", str(decoder_file)])
    engine = Engine.load("quality", decoder_file, device="cpu", precision="fp32")
    encoder = ort.InferenceSession(str(tmp_path / "style_encoder.onnx"))
    a, b = (to_tensor(gradient_image((48, 48), seed)) for seed in (2, 3))
    rows = [encoder.run(None, {"style": x[None].numpy()})[0] for x in (a, b)]
    mixed = blend([engine.style_stats(a), engine.style_stats(b)], [0.25, 0.75])
    flat = torch.cat([t.flatten() for level in engine.model.reads for t in (mixed.means[level], mixed.stds[level])])
    np.testing.assert_allclose(0.25 * rows[0][0] + 0.75 * rows[1][0], flat.numpy(), atol=1e-4, rtol=1e-4)


def test_output_folder_that_is_a_file_is_one_error_line(decoder_file, tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["export-onnx", str(tmp_path / "taken"), "--weights", str(decoder_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create output folder" in err[0]
