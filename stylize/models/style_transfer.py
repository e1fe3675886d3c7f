"""StyleTransferModel: a content encoder, a style encoder, the style layer and a decoder, as one
module. Every model of the table (stylize/models/registry.py) is one of these; the engine, ONNX
export, the three trainers, StyleAugment and the dataset mode all paint through it.

    model = model_spec("quality").model()
    stats = model.style_stats(style)          # (1, 3, H, W) in [0, 1] -> StyleStats
    image = model(content, stats, alpha=0.8)  # (B, 3, H, W), H and W multiples of 8 -> [0, 1]

What the decoder makes of a style is its `condition(means, stds, alpha)`: AdaIN targets at the
taps it reads, and for the fast model a modulation of its convolutions; a decoder trained on the
attention style layer (its `style_layer`) is given the painting's patches instead
(stylize/models/attention.py), which the style's StyleStats then carries. The pieces (`encode`,
`condition`, `stylize`, `decoder`) are public so the engine can put its precision, tiles and
cache between them without computing anything else.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from stylize.models.attention import StyleMemory, guides, memory_size, swap_taps
from stylize.models.style_layers import AdaIN, mean_std, mix, region_owner, stylize_taps
from stylize.models.style_stats import StyleStats


def as_alpha(alpha, device):
    """alpha as the model mixes it: a number as it is; a tensor (one per image) as (B, 1, 1, 1)
    float32 on `device`."""
    return alpha.to(device, torch.float32).view(-1, 1, 1, 1) if torch.is_tensor(alpha) else alpha


class StyleTransferModel(nn.Module):
    """name: the table's name for it; style_encoder: VGG-19, whose statistics make a StyleStats
    (None: the content encoder is VGG-19 and reads the style too)."""

    def __init__(self, name, encoder, decoder, style_encoder=None):
        super().__init__()
        self.name = name
        self.encoder, self.decoder = encoder, decoder
        self.style_encoder = encoder if style_encoder is None else style_encoder
        self.style_layer = AdaIN()
        # the style layer the decoder was trained with: its file says so
        self.attention = getattr(decoder, "style_layer", "adain") == "attention"

    @property
    def reads(self):
        """The encoder taps the decoder reads: the ones the style layer stylises."""
        return self.decoder.reads

    @property
    def style_widths(self):
        """{VGG-19 level: channels} of the statistics a style must set for this model."""
        return self.decoder.style_widths

    def style_stats(self, image, pairs=None):
        """(B, 3, H, W) style images in [0, 1], H and W multiples of 8 -> their StyleStats
        (float32). pairs: their (mean, std) per tap when already measured (a large image's, over
        tiles); for an attention model, the memory is read from the image at memory_size."""
        taps = None
        if pairs is None:
            taps = self.style_encoder(image)
            pairs = [mean_std(tap) for tap in taps]
        memory = None
        if self.attention:
            size = memory_size(*image.shape[-2:])
            if taps is None or size != tuple(image.shape[-2:]):
                taps = self.style_encoder(F.interpolate(image, size=size, mode="bilinear", antialias=True))
            memory = StyleMemory.of(taps, self.reads)
        return StyleStats.from_pairs(pairs, memory)

    def guides(self, taps):
        """{name: feature} of a photo's taps that an attention model's keys also normalise (see
        attention.guides), measured over the whole of a tiled photo; none for AdaIN."""
        return guides(taps, self.reads) if self.attention else {}

    def encode(self, content):
        return self.encoder(content)

    def condition(self, stats, alpha=1.0):
        """StyleStats -> (AdaIN targets {level: (mean, std)}, the decoder's modulation or None);
        for an attention model given a painting, (its StyleMemory, None). Statistics without
        patches (a bank without its paintings) take even an attention model through AdaIN."""
        if self.attention and stats.memory is not None:
            return stats.memory, None
        return self.decoder.condition(stats.means, stats.stds, alpha)

    def stylize(self, taps, conditioned, alpha=1.0, regions=None, content_stats=None):
        """Encoder taps and a style's `condition` -> (stylised taps, modulation, regions): the
        decoder's arguments. With regions ((1, K, H, W) masks at the image's size) `conditioned`
        is a list of K, one per style, and each position takes the style whose mask is largest
        there; content_stats: see stylize_taps."""
        if isinstance((conditioned if regions is None else conditioned[0])[0], StyleMemory):
            return self._attend(taps, conditioned, alpha, regions, content_stats), None, regions
        if regions is None:
            targets, modulation = conditioned
        else:
            targets = {level: [c[0][level] for c in conditioned] for level in self.reads}
            modulation = None if conditioned[0][1] is None else [  # (K, C) per conv: one row per style
                tuple(torch.cat([c[1][i][part] for c in conditioned]).flatten(1) for part in (0, 1))
                for i in range(len(conditioned[0][1]))]
        taps = stylize_taps(taps, targets, self.reads, alpha, content_stats, self.style_layer, regions)
        return taps, modulation, regions

    def _attend(self, taps, conditioned, alpha, regions, content_stats):
        """The attention style layer's taps: each region (if any) matched against its own painting."""
        if regions is None:
            swapped = swap_taps(taps, conditioned[0], self.reads, content_stats)
        else:
            per_style = [swap_taps(taps, memory, self.reads, content_stats) for memory, _ in conditioned]
            swapped = list(taps)
            for level in self.reads:
                owner = region_owner(regions, taps[level].shape[-2:])[:, None]
                swapped[level] = sum((owner == k).to(one[level]) * one[level] for k, one in enumerate(per_style))
        return [mix(tap, swapped[level], alpha) if level in self.reads else tap for level, tap in enumerate(taps)]

    def paint(self, taps, stats, alpha=1.0, masks=None):
        """Encoder taps -> the decoder's output (not clamped: training scores it as it is).
        stats: one StyleStats, or with masks a list of them."""
        alpha = as_alpha(alpha, taps[0].device)
        conditioned = (self.condition(stats, alpha) if masks is None
                       else [self.condition(one, alpha) for one in stats])
        return self.decoder(*self.stylize(taps, conditioned, alpha, masks))

    def forward(self, content, stats, alpha=1.0, masks=None):
        """(B, 3, H, W) content in [0, 1], H and W multiples of 8 -> the painted images in [0, 1].
        stats: one StyleStats (one row, or one per image); with masks ((1, K, H, W)), a list of K.
        alpha: 0 = content, 1 = style; a number or one per image."""
        return self.paint(self.encode(content), stats, alpha, masks).clamp(0, 1)
