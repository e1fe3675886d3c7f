"""The engine: tensors in, tensors out, for one StyleTransferModel on one device at one
precision. The model computes; the engine decides where and how: the device, the autocast dtype
(statistics stay float32; the attention layer's matrix products take the autocast dtype), tiles
for large images, and the cache of the last style's conditioning (a video's frames share it).

A style image is reduced to its StyleStats once, and those can then be applied to any number of
content images. Images above `max_untiled_pixels` are processed in overlapping tiles whose AdaIN
uses the whole image's content statistics, so memory stays bounded and the tiles agree.
"""
import torch
import torch.nn.functional as F

from stylize.device import pick_device
from stylize.errors import StylizeError, check_stop
from stylize.models.networks import DOWNSCALE
from stylize.models.registry import model_spec
from stylize.models.style_layers import EPS
from stylize.models.style_transfer import as_alpha
from stylize.pipelines.tiling import ramp, spans

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TILE, OVERLAP = 512, 64
MAX_UNTILED_PIXELS = 1536 * 1536


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


def pad_to_multiple(x, multiple=DOWNSCALE):
    """Reflect-pad (B, C, H, W) on the bottom/right so H and W divide by `multiple`."""
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if not (pad_h or pad_w):
        return x
    mode = "reflect" if min(h, w) > max(pad_h, pad_w) else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class Engine:
    """A StyleTransferModel, loaded once, ready to stylise tensors on one device.

    precision: 'auto' (default), 'fp32', 'bf16' or 'fp16': the dtype of the convolutions;
    statistics and AdaIN are always computed in float32.
    """

    def __init__(self, model, device="auto", precision="auto", channels_last=True,
                 max_untiled_pixels=MAX_UNTILED_PIXELS, tile=TILE, overlap=OVERLAP):
        self.device = pick_device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        # channels_last lets oneDNN (CPU) and cuDNN (GPU) pick their fastest convolution kernels.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.model.decoder.eval()
        self.max_untiled_pixels, self.tile, self.overlap = max_untiled_pixels, tile, overlap
        self._last_condition = (None, None, None)  # (style, alpha, condition): frames reuse their style's

    @classmethod
    def load(cls, model="quality", decoder_path=None, vgg_path=None, device="auto", precision="auto"):
        return cls(model_spec(model).model(decoder_path, vgg_path), device, precision)

    @property
    def precision(self):
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]

    @property
    def style_source(self):
        """What a style's statistics depend on besides the image: the style encoder's weights (so
        both models, whose style encoder is the same VGG-19, share cached statistics; an attention
        model's styles also carry the painting's patches, see executor._style_stats)."""
        style_encoder = self.model.style_encoder
        return style_encoder.source or f"encoder {id(style_encoder)}"

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)

    def encode(self, image, encoder=None):
        """(B, 3, H, W) in [0, 1], H and W multiples of 8 -> the four taps of the content encoder
        (or of `encoder`), in float32."""
        with self._autocast():
            taps = (encoder or self.model.encoder)(image.to(self.device, memory_format=self.memory_format))
        return [t.float() for t in taps]

    def decode(self, taps, modulation=None, regions=None):
        """Stylised taps (and the decoder's modulation, as stylize_features returns them) -> images."""
        with self._autocast():
            return self.model.decoder(taps, modulation, regions).float()

    @torch.inference_mode()
    def style_stats(self, style, should_stop=None):
        """(3, H, W) style image in [0, 1] -> its StyleStats (from tiles if it is large).

        should_stop: a callable checked between stages and tiles; a reason it returns ends the
        work with stylize.errors.Cancelled (deadlines, shutdown)."""
        x = pad_to_multiple(style[None].to(self.device))
        pairs = None
        if x.shape[-1] * x.shape[-2] > self.max_untiled_pixels:
            stats = self._whole_image_stats(x, levels=range(4), should_stop=should_stop,
                                            encoder=self.model.style_encoder)
            pairs = [stats[level] for level in range(4)]
        with self._autocast():
            return self.model.style_stats(x.to(memory_format=self.memory_format), pairs)

    @torch.inference_mode()
    def stylize_tensor(self, content, style, masks=None, alpha=1.0, should_stop=None):
        """Stylise a (3, H, W) content tensor, or a (B, 3, H, W) batch of same-size images (one
        pass for all: faster on a GPU); returns the same shape, in [0, 1].

        style: one StyleStats (blend several with `blend`), or one row per image (`stack_styles`),
        or, with masks, a list of them. masks: one (H, W) tensor per style; each content position
        takes the style whose mask is largest there. alpha: 0 = content, 1 = style; a number, or a
        (B,) tensor of one per image. Inputs are checked by stylize.pipelines.request.
        should_stop: as in style_stats.
        """
        batch = content if content.dim() == 4 else content[None]
        h, w = batch.shape[-2:]
        if masks is None and h * w > self.max_untiled_pixels:  # tiles: one image at a time
            out = torch.cat([self._stylize_tiled(pad_to_multiple(image[None].to(self.device)), style.row(i),
                                                 alpha[i:i + 1] if torch.is_tensor(alpha) else alpha, should_stop)
                             for i, image in enumerate(batch)])
        else:
            if masks is not None:
                masks = pad_to_multiple(torch.stack([m.to(self.device, torch.float32) for m in masks])[None])
            x = pad_to_multiple(batch.to(self.device))
            check_stop(should_stop)
            taps = self.encode(x)
            check_stop(should_stop)
            out = self.decode(*self.stylize_features(taps, style, masks, alpha))
        out = out[..., :h, :w].clamp(0, 1)
        return out if content.dim() == 4 else out[0]

    def condition(self, style, alpha=1.0):
        """StyleStats -> what the decoder takes from it: AdaIN targets {level: (mean, std)} at the
        levels it stylises, and its convolutions' modulation (None for the quality model), which
        alpha scales as it mixes the taps: alpha 0 leaves the decoder as it is.

        Work per style, not per frame: the last style's (the same StyleStats object, the same
        number alpha) is kept, so a video or camera stream runs the fast model's head once."""
        last_style, last_alpha, last = self._last_condition
        if style is last_style and not torch.is_tensor(alpha) and alpha == last_alpha:
            return last
        with torch.autocast(self.device.type, enabled=False):  # a few small matrix products, kept in float32
            conditioned = self.model.condition(style.to(self.device), alpha)
        if not torch.is_tensor(alpha):
            self._last_condition = (style, alpha, conditioned)  # one tuple: other threads see all of it or none
        return conditioned

    def stylize_features(self, taps, style, masks=None, alpha=1.0, content_stats=None):
        """Encoder taps -> (the taps the decoder gets, its modulation, its regions): the model's
        style layer with the (cached) condition of `style`; `decode(*result)` finishes the image.

        masks, if given, is (1, K, H, W) at image resolution, one channel per style in `style`.
        content_stats, if given, holds (mean, std) per level (and per attention guide) to use
        instead of the taps' own.
        """
        alpha = as_alpha(alpha, self.device)
        conditioned = self.condition(style, alpha) if masks is None else [self.condition(one, alpha) for one in style]
        with self._autocast():  # the attention's matrix products at the engine's precision (half its time in bf16)
            return self.model.stylize(taps, conditioned, alpha, masks, content_stats)

    def _tiles(self, x):
        _, _, h, w = x.shape
        rows, cols = spans(h, self.tile, self.overlap), spans(w, self.tile, self.overlap)
        for r in rows:
            for c in cols:
                yield r, c, x[..., r.start:r.end, c.start:c.end]

    def _whole_image_stats(self, x, levels=None, should_stop=None, encoder=None):
        """Mean/std of the whole image's taps per level (content encoder's, or `encoder`'s), and,
        for the content of an attention model, of its keys' guides; summed over the tiles' cores
        (float64)."""
        levels = self.model.reads if levels is None else levels
        sums, squares, count = {}, {}, {}
        for r, c, tile in self._tiles(x):
            check_stop(should_stop)
            taps = self.encode(tile, encoder)
            features = {level: taps[level] for level in levels}
            if encoder is None:
                features.update(self.model.guides(taps))
            for name, feature in features.items():
                scale = tile.shape[-1] // feature.shape[-1]
                core = feature[..., (r.core_start - r.start) // scale:(r.core_end - r.start) // scale,
                               (c.core_start - c.start) // scale:(c.core_end - c.start) // scale].double()
                sums[name] = sums.get(name, 0) + core.sum(dim=(2, 3), keepdim=True)
                squares[name] = squares.get(name, 0) + (core ** 2).sum(dim=(2, 3), keepdim=True)
                count[name] = count.get(name, 0) + core.shape[-1] * core.shape[-2]
        stats = {}
        for name in sums:
            mean = sums[name] / count[name]
            var = (squares[name] / count[name] - mean ** 2).clamp_min(0)
            stats[name] = (mean.float(), (var + EPS).sqrt().float())
        return stats

    def _stylize_tiled(self, x, style, alpha, should_stop=None):
        """Two passes over overlapping tiles: whole-image statistics, then stylise and blend."""
        content_stats = self._whole_image_stats(x, should_stop=should_stop)
        out = torch.zeros(1, 3, *x.shape[-2:], device=self.device)
        total = torch.zeros(1, 1, *x.shape[-2:], device=self.device)
        h, w = x.shape[-2:]
        for r, c, tile in self._tiles(x):
            check_stop(should_stop)
            styled = self.stylize_features(self.encode(tile), style, alpha=alpha, content_stats=content_stats)
            weight = ramp(r, h, self.overlap, self.device)[:, None] * ramp(c, w, self.overlap, self.device)[None, :]
            out[..., r.start:r.end, c.start:c.end] += self.decode(*styled) * weight
            total[..., r.start:r.end, c.start:c.end] += weight
        return out / total
