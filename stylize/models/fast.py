"""The fast model's decoder: the slim skip decoder, steered by a head that reads VGG-19's style.

The heavy style network runs once per style and the light one once per frame (Ghiasi et al.
2017): a style is the quality model's own statistics (the per-channel mean and std of VGG-19's
relu1_1..relu4_1, 1,920 numbers), and a small head turns them into
  * AdaIN targets (a mean and std per channel) at the slim encoder's four taps, and
  * a scale and shift for the output of every decoder convolution, the RGB layer included
    (its scale and shift set the palette directly).
The modulation is FiLM-like, x * (1 + gamma) + beta with no normalisation, so that a head whose
modulation layer is zero leaves the decoder exactly as it was: training starts where a trained
slim network is instead of losing its CPU-hours. Because the style is VGG's, bank styles and
blends serve this model as they serve the quality one.
"""
import torch
import torch.nn as nn

from stylize.models.networks import VGG19, Decoder
from stylize.models.style_layers import full_strength

HIDDEN = 256  # width of the modulation branch: ~0.4 M weights, small beside one VGG-19 pass per style


class StyleHead(nn.Module):
    """VGG-19 (means, stds) at relu1_1..relu4_1 -> AdaIN targets at the slim taps and the decoder's modulation.

    The input code is each VGG channel's mean and log std, standardised by fixed buffers (set from
    training data once; their defaults leave it as it is). The tap targets are linear in the code
    (a least-squares fit starts them where a trained slim encoder's own statistics are); the
    modulation is a small MLP whose last layer starts at zero.
    """

    def __init__(self, tap_widths, conv_widths, hidden=HIDDEN, style_widths=VGG19.widths):
        super().__init__()
        self.tap_widths, self.conv_widths = tuple(tap_widths), tuple(conv_widths)
        self.style_widths, self.hidden = tuple(style_widths), hidden
        size = 2 * sum(style_widths)
        self.register_buffer("code_shift", torch.zeros(size))
        self.register_buffer("code_scale", torch.ones(size))
        self.taps = nn.Linear(size, 2 * sum(tap_widths))
        self.modulation = nn.Sequential(nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, 2 * sum(conv_widths)))
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def raw_code(self, means, stds):
        """(B, 2 * 960) from per-level (B, C, 1, 1) VGG means and stds: means, then log stds, level by level."""
        parts = []
        for mean, std in zip(means, stds):
            parts += [mean.flatten(1).float(), std.flatten(1).float().clamp_min(1e-5).log()]
        return torch.cat(parts, dim=1)

    def code(self, means, stds):
        return (self.raw_code(means, stds) - self.code_shift) / self.code_scale

    def tap_targets(self, code):
        """[(mean, std)] at each slim tap, each (B, C, 1, 1)."""
        return [(mean[..., None, None], log_std.exp()[..., None, None])
                for mean, log_std in _pairs(_row_by_row(self.taps, code), self.tap_widths)]

    def conv_modulation(self, code):
        """[(gamma, beta)] for each decoder convolution, each (B, C, 1, 1): zero at the start."""
        return [(gamma[..., None, None], beta[..., None, None])
                for gamma, beta in _pairs(_row_by_row(self.modulation, code), self.conv_widths)]


def _row_by_row(layer, code):
    """layer(code), one style at a time: a batched matrix product may round differently with the
    batch's size, and a style must paint the same in any batch (dataset shards, StyleAugment)."""
    return torch.cat([layer(row[None]) for row in code])


def _pairs(flat, widths):
    """(B, 2 * sum(widths)) -> [(first half, second half)] per width, in order."""
    out, offset = [], 0
    for width in widths:
        out.append((flat[:, offset:offset + width], flat[:, offset + width:offset + 2 * width]))
        offset += 2 * width
    return out


class StyledDecoder(nn.Module):
    """The fast model's decoder: a slim skip Decoder whose every convolution a StyleHead modulates."""

    architecture = "skip"

    def __init__(self, shape, hidden=HIDDEN):
        super().__init__()
        self.net = Decoder("skip", shape)
        conv_widths = [layer.out_channels for layer in self.net if isinstance(layer, nn.Conv2d)]
        self.head = StyleHead(shape.widths, conv_widths, hidden)
        self.shape = shape

    @property
    def reads(self):
        return self.net.reads

    @property
    def style_widths(self):
        """{VGG level: channels} the style must set: all four of VGG-19's."""
        return dict(enumerate(self.head.style_widths))

    def condition(self, means, stds, alpha=1.0):
        """A style's VGG statistics (per level, (B, C, 1, 1)) -> (AdaIN targets at the slim taps,
        {level: (mean, std)}; the decoder's modulation, [(gamma, beta)] per conv, scaled by alpha
        (a number, or (B, 1, 1, 1)) as the taps are mixed: alpha 0 leaves the decoder as it is)."""
        code = self.head.code(means, stds)
        modulation = self.head.conv_modulation(code)
        if not full_strength(alpha):
            modulation = [(gamma * alpha, beta * alpha) for gamma, beta in modulation]
        return dict(enumerate(self.head.tap_targets(code))), modulation

    def forward(self, feats, modulation=None, regions=None):
        return self.net(feats, modulation, regions)
