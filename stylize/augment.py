"""Style augmentation for training loops (Jackson et al. 2019; Geirhos et al. 2019): a transform
that repaints each image, with probability p, in a random style of a pool at a random strength.

    augment = StyleAugment("paintings/", p=0.5, alpha=(0.5, 1.0))
    images = augment(images)  # (B, 3, H, W) or (3, H, W) in [0, 1], on any device

The pool is encoded once, when the transform is made; each call runs the network only. On a GPU
batch, the networks move to the batch's device on the first call. In DataLoader workers (CPU)
each worker holds its own copy, made when the workers start, and PyTorch gives each worker one
thread. Without a seed the draws use torch's global generator, which DataLoader seeds per worker;
with a seed, the transform's own, so a given seed repaints given images the same way.
"""
from pathlib import Path

import torch
import torch.nn as nn
from PIL import Image

from stylize.errors import StylizeError
from stylize.media.images import list_images, open_image
from stylize.models.bank import load_bank
from stylize.models.style_stats import stack_styles
from stylize.pipelines.engine import Engine
from stylize.pipelines.executor import bank_style
from stylize.pipelines.request import parse_alpha_range
from stylize.pipelines.stylizer import Stylizer


def _style_images(styles):
    """A folder, an image path, or a list of paths and PIL images -> PIL images."""
    if isinstance(styles, (str, Path)):
        path = Path(styles)
        styles = list_images(path) if path.is_dir() else [path]
    images = [s if isinstance(s, Image.Image) else open_image(s) for s in styles or ()]
    if not images:
        raise StylizeError("StyleAugment needs at least one style image")
    return images


class StyleAugment(nn.Module):
    """Repaint images in random styles of a pool.

    styles: a folder of style images, an image, or a list of paths / PIL images; with `bank` (a
    style bank file), bank style names instead (None: all of them). model: "fast" (default,
    for throughput) or "quality"; weights: its file (default: the shipped one). p: the chance
    each image is repainted; alpha: a strength, or a (low, high) range drawn from uniformly.
    style_size: the styles' shorter side when encoded. seed: the draws' own generator.
    """

    def __init__(self, styles=None, model="fast", p=0.5, alpha=(0.5, 1.0), style_size=256, weights=None,
                 bank=None, device="auto", precision="auto", seed=None):
        super().__init__()
        if not 0.0 <= float(p) <= 1.0:
            raise StylizeError(f"p must be between 0 and 1, got {p}")
        self.p, self.alpha = float(p), parse_alpha_range(alpha)
        self.precision = precision
        self.engine = Engine.load(model, weights, device=device, precision=precision)
        stylizer = Stylizer(self.engine)
        if bank is not None:
            style_bank = load_bank(bank, self.engine.model.decoder)
            names = list(styles) if styles is not None else style_bank.names
            pool = [bank_style(stylizer, style_bank, style_bank.blend_weights(((name, 1.0),)),
                               lambda item: stylizer.prepare_style(open_image(*item), style_size)) for name in names]
        else:
            pool = [stylizer.prepare_style(image, style_size) for image in _style_images(styles)]
        self.styles = stack_styles(pool)
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    @property
    def num_styles(self):
        return self.styles.rows

    def _on(self, device):
        """The engine on `device`, moved there on the first call that needs it."""
        if self.engine.device != device:
            self.engine = Engine(self.engine.model, device=str(device), precision=self.precision)
        return self.engine

    def draw(self, count):
        """For `count` images: which are repainted (bool), with which style and strength."""
        chosen = torch.rand(count, generator=self.generator) < self.p
        styles = torch.randint(self.num_styles, (count,), generator=self.generator)
        low, high = self.alpha
        alphas = low + (high - low) * torch.rand(count, generator=self.generator)
        return chosen, styles, alphas

    def forward(self, images):
        if not torch.is_tensor(images) or images.dim() not in (3, 4) or images.shape[-3] != 3:
            raise StylizeError(f"StyleAugment takes a (3, H, W) or (B, 3, H, W) tensor, got "
                               f"{tuple(images.shape) if torch.is_tensor(images) else type(images).__name__}")
        if not images.is_floating_point():
            raise StylizeError(f"StyleAugment takes float images in [0, 1], got {images.dtype}")
        batch = images if images.dim() == 4 else images[None]
        chosen, styles, alphas = self.draw(batch.shape[0])
        out = batch.clone()
        if chosen.any():
            picked = chosen.nonzero().flatten()
            result = self._on(batch.device).stylize_tensor(batch[picked].float(), self.styles.take(styles[picked]),
                                                           alpha=alphas[picked])
            out[picked.to(batch.device)] = result.to(batch.device, batch.dtype)
        return out if images.dim() == 4 else out[0]

    def extra_repr(self):
        return f"model={self.engine.model.name}, styles={self.num_styles}, p={self.p}, alpha={self.alpha}"
