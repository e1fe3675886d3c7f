"""Style banks: N named styles, each a learned (gamma, beta) per stylised tap (conditional IN).

A bank sits on the shared AdaIN decoder in place of the style image: for style k, conditional
instance norm normalises the content taps and applies (gamma_k, beta_k), which is exactly AdaIN
with std gamma_k and mean beta_k. So a new style starts from its painting's AdaIN statistics
(an untrained bank equals AdaIN) and training only refines those numbers. Inference needs no
style image and no style encoder pass. A one-style bank is the IN model (Ulyanov et al.).

A bank also keeps each style's painting (a JPEG of shorter side PAINTING_SIDE): a model whose
style layer is attention takes its patches from it, since statistics carry no patches.
"""
import io
import json

import torch
import torch.nn as nn
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from stylize.errors import StylizeError
from stylize.files import atomic_write
from stylize.models.style_layers import ConditionalInstanceNorm
from stylize.models.style_stats import StyleStats
from stylize.models.weights import WEIGHTS_DIR

THUMBNAIL_SIDE = 128
PAINTING_SIDE = 384  # above what an attention memory reads (memory_size: ~256 x 256)
DEFAULT_BANK = WEIGHTS_DIR / "style_bank.safetensors"
METADATA_KEY = "stylize_bank"


class StyleBank(nn.Module):
    """Named styles; `layers[str(level)]` is the conditional IN of tap `level` (0 = relu1_1)."""

    def __init__(self, names, channels, thumbnails=None, paintings=None):
        super().__init__()
        if len(set(names)) != len(names):
            raise StylizeError(f"style names in a bank must be unique, got {names}")
        self.names = list(names)
        self.layers = nn.ModuleDict({str(level): ConditionalInstanceNorm(c, len(names))
                                     for level, c in channels.items()})
        self.thumbnails = list(thumbnails or [b""] * len(names))
        self.paintings = list(paintings or [b""] * len(names))  # b"": not kept (banks before 2026-12-06)
        self.metadata, self.path = {}, "(not saved)"

    @property
    def levels(self):
        return sorted(int(level) for level in self.layers)

    @property
    def keeps_paintings(self):
        """Whether every style's painting is kept (attention models paint from them)."""
        return all(self.paintings)

    @property
    def channels(self):
        """{level: channels} of the taps the bank sets."""
        return {level: self.layers[str(level)].weight.shape[1] for level in self.levels}

    @classmethod
    def from_stats(cls, names, stats, levels, thumbnails=None, paintings=None):
        """A bank whose style k is AdaIN with stats[k] (StyleStats) at `levels`."""
        channels = {level: stats[0].means[level].shape[1] for level in levels}
        bank = cls(names, channels, thumbnails, paintings)
        with torch.no_grad():
            for level in levels:
                layer = bank.layers[str(level)]
                layer.weight.copy_(torch.cat([s.stds[level].flatten()[None] for s in stats]))
                layer.bias.copy_(torch.cat([s.means[level].flatten()[None] for s in stats]))
        return bank

    def joined(self, other):
        """A new bank: this bank's styles, then `other`'s (both must set the same taps)."""
        bank = StyleBank(self.names + other.names, self.channels, self.thumbnails + other.thumbnails,
                         self.paintings + other.paintings)
        with torch.no_grad():
            for key, layer in bank.layers.items():
                layer.weight.copy_(torch.cat([self.layers[key].weight, other.layers[key].weight.to(layer.weight)]))
                layer.bias.copy_(torch.cat([self.layers[key].bias, other.layers[key].bias.to(layer.bias)]))
        return bank

    def check_fits(self, decoder):
        """A one-line error unless the bank sets every tap of the style that `decoder` reads."""
        if any(self.channels.get(level) != width for level, width in decoder.style_widths.items()):
            raise StylizeError(f"style bank {self.path} does not match the {decoder.architecture} decoder: it sets "
                               f"taps {sorted(self.channels)}, the decoder reads {sorted(decoder.style_widths)}")

    def blend_weights(self, blend):
        """((name or index, weight), ...) as parsed by stylize.pipelines.request.parse_blend -> (N,) weights."""
        weights = torch.zeros(len(self.names))
        for name, weight in blend:
            weights[self._index(name)] += weight
        return weights

    def _index(self, name):
        if name in self.names:
            return self.names.index(name)
        if name.isdigit() and int(name) < len(self.names):
            return int(name)
        raise StylizeError(f"no style {name!r} in this bank; it has: {', '.join(self.names)}")

    def style_stats(self, weights):
        """(N,) weights -> StyleStats of the blend; (B, N) -> one row per image (gamma as std, beta
        as mean; None at taps the bank does not set)."""
        means, stds = [None] * 4, [None] * 4
        for level in self.levels:
            stds[level], means[level] = self.layers[str(level)](weights)
        return StyleStats(tuple(means), tuple(stds))


def _jpeg(img, quality):
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def thumbnail(img):
    """A small JPEG of a style image, stored in the bank for listings."""
    img = img.copy()
    img.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return _jpeg(img, 85)


def painting(img):
    """A style image as the bank keeps it for attention models: shorter side at most PAINTING_SIDE."""
    scale = min(1.0, PAINTING_SIDE / min(img.size))
    return _jpeg(img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS), 92)


def save_bank(path, bank, metadata=None):
    state = {k: v.detach().cpu().contiguous() for k, v in bank.state_dict().items()}
    for kind, images in (("thumbnail", bank.thumbnails), ("painting", bank.paintings)):
        for i, data in enumerate(images):
            state[f"{kind}.{i}"] = (torch.frombuffer(bytearray(data), dtype=torch.uint8) if data
                                    else torch.zeros(0, dtype=torch.uint8))
    meta = {**bank.metadata, **(metadata or {}), "names": bank.names, "levels": bank.levels}
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={METADATA_KEY: json.dumps(meta)}))


def load_bank(path, decoder=None):
    """Read a bank; with `decoder`, check that the bank sets every tap that decoder reads."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "null"))
        state = load_file(str(path))
    except FileNotFoundError:
        raise StylizeError(f"style bank not found: {path}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise StylizeError(f"{path} is not a readable style bank: {e}") from None
    if not meta or "names" not in meta:
        raise StylizeError(f"{path} is a safetensors file but not a style bank (no bank metadata)")
    try:
        channels = {level: state[f"layers.{level}.weight"].shape[1] for level in meta["levels"]}
        count = range(len(meta["names"]))
        paintings = [state.pop(f"painting.{i}", torch.zeros(0, dtype=torch.uint8)).numpy().tobytes() for i in count]
        bank = StyleBank(meta["names"], channels, [state.pop(f"thumbnail.{i}").numpy().tobytes() for i in count],
                         paintings)
        bank.load_state_dict(state)
    except KeyError as e:
        raise StylizeError(f"style bank {path} is incomplete: tensor {e.args[0]!r} is missing") from None
    except (RuntimeError, TypeError, IndexError) as e:
        raise StylizeError(f"style bank {path} is inconsistent: {str(e).splitlines()[-1].strip()}") from None
    bank.metadata, bank.path = meta, path
    if decoder is not None:
        bank.check_fits(decoder)
    return bank
