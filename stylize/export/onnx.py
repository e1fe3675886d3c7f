"""Export a model as two ONNX graphs with dynamic height and width, for runtimes without Python.

  style_encoder.onnx  style (1, 3, H, W) RGB in [0, 1] -> style_stats (1, S)
  stylizer.onnx       content (1, 3, H, W) in [0, 1], H and W multiples of 8; style_stats (1, S);
                      alpha (1,) -> image (1, 3, H, W) in [0, 1]

style_stats holds, for every VGG-19 level the model's style is read at (the quality decoder's
reads; all four for the fast model, whose head turns them into the slim network's AdaIN targets
and modulation inside stylizer.onnx), relu1_1 first, that level's per-channel means and then its
per-channel standard deviations, concatenated; S is twice the sum of those levels' channel
counts. A blend of styles is a weighted sum of style_stats rows (weights summing to 1), as in the
library: no extra graph is needed.
"""
import json
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from stylize.errors import StylizeError
from stylize.files import atomic_write
from stylize.models.networks import TAP_NAMES
from stylize.models.style_stats import StyleStats
from stylize.models.style_transfer import StyleTransferModel

OPSET = 17


class StyleEncoderGraph(nn.Module):
    """style -> its StyleStats at the model's style levels, flattened into one row."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, style):
        stats = self.model.style_stats(style)
        return torch.cat([part for level in self.model.style_widths
                          for part in (stats.means[level].flatten(1), stats.stds[level].flatten(1))], dim=1)


class StylizerGraph(nn.Module):
    """(content, a style_stats row, alpha) -> the model's painting."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, content, style_stats, alpha):
        means, stds, offset = [None] * 4, [None] * 4, 0
        for level, width in self.model.style_widths.items():
            means[level] = style_stats[:, offset:offset + width, None, None]
            stds[level] = style_stats[:, offset + width:offset + 2 * width, None, None]
            offset += 2 * width
        return self.model(content, StyleStats(tuple(means), tuple(stds)), alpha)


def layout(model):
    """[(tap name, channels)] in style_stats order, and S."""
    parts = [(TAP_NAMES[level], width) for level, width in model.style_widths.items()]
    return parts, 2 * sum(width for _, width in parts)


def export_onnx(model: StyleTransferModel, out_dir, opset=OPSET):
    """Write style_encoder.onnx, stylizer.onnx and README.md (with a JSON block) into out_dir.
    The model is moved to the CPU in float32 to be traced."""
    if model.attention:  # its style is the painting's patches, not one row of statistics
        raise StylizeError(f"ONNX export covers AdaIN models; this {model.name} decoder was trained with the "
                           "attention style layer")
    try:
        import onnx  # noqa: F401  (torch's exporter writes through it)
    except ImportError:
        raise StylizeError("ONNX export needs the onnx package: pip install 'stylize[onnx]'") from None
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StylizeError(f"cannot create output folder {out_dir}: {e.strerror or e}") from None
    model = model.float().to("cpu", memory_format=torch.contiguous_format)
    parts, size = layout(model)
    image = torch.rand(1, 3, 64, 64)
    stats = StyleEncoderGraph(model)(image).detach()
    hw = {0: "batch", 2: "height", 3: "width"}
    graphs = [
        ("style_encoder.onnx", StyleEncoderGraph(model), (image,), ["style"], ["style_stats"],
         {"style": hw, "style_stats": {0: "batch"}}),
        ("stylizer.onnx", StylizerGraph(model), (image, stats, torch.ones(1)),
         ["content", "style_stats", "alpha"], ["image"], {"content": hw, "style_stats": {0: "batch"}, "image": hw}),
    ]
    for name, module, args, inputs, outputs, axes in graphs:
        with warnings.catch_warnings():  # the tracer's notes on its own internals, nothing a user can act on
            warnings.simplefilter("ignore")
            atomic_write(out_dir / name, lambda tmp: torch.onnx.export(
                module.eval(), args, str(tmp), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                opset_version=opset, dynamo=False))
    info = {"model": model.name, "opset": opset, "style_stats_size": size,
            "style_stats_order": [f"{name} {kind} ({width})" for name, width in parts for kind in ("mean", "std")],
            "metadata": model.decoder.metadata}
    atomic_write(out_dir / "README.md", lambda tmp: Path(tmp).write_text(readme(info)))
    return info


def readme(info):
    return f"""# stylize `{info['model']}` model as ONNX

Two graphs (ONNX opset {info['opset']}), dynamic height and width, float32:

- `style_encoder.onnx`: `style` (1, 3, H, W), RGB in [0, 1] -> `style_stats` (1, {info['style_stats_size']}).
- `stylizer.onnx`: `content` (1, 3, H, W), RGB in [0, 1], H and W multiples of 8; `style_stats`
  (1, {info['style_stats_size']}); `alpha` (1,), 0 = the content, 1 = full style -> `image` (1, 3, H, W) in [0, 1].

`style_stats` order: {', '.join(info['style_stats_order'])}. To blend styles, take a weighted sum of
their `style_stats` rows with weights that sum to 1, as the library does: no extra graph is
needed. Encode a style once and reuse its row for every frame.

```python
import numpy as np, onnxruntime as ort
from PIL import Image

def load(path, side):  # RGB in [0, 1], shorter side `side`, cut to multiples of 8
    img = Image.open(path).convert("RGB"); s = side / min(img.size)
    img = img.resize((int(img.width * s) // 8 * 8, int(img.height * s) // 8 * 8))
    return (np.asarray(img, np.float32) / 255).transpose(2, 0, 1)[None]

stats = ort.InferenceSession("style_encoder.onnx").run(None, {{"style": load("painting.jpg", 512)}})[0]
out = ort.InferenceSession("stylizer.onnx").run(None, {{"content": load("photo.jpg", 512), "style_stats": stats,
                                                        "alpha": np.ones(1, np.float32)}})[0]
Image.fromarray((out[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)).save("out.png")
```

```json
{json.dumps(info, indent=2)}
```
"""
