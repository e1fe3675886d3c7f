"""The networks: a VGG-shaped encoder to relu4_1 and a decoder that mirrors it back to pixels.

Images are RGB tensors in [0, 1]. The encoder returns the four taps relu1_1, relu2_1, relu3_1,
relu4_1 as a list indexed by level (RELU1_1 ... RELU4_1); the style layer works on relu4_1 (and,
for the skip decoders, on the other three too); the decoder maps the result back to an image.

One `NetworkShape` describes both networks: channels at each tap and convolutions per block.
The `quality` model is VGG-19's shape (the pretrained VGG encoder); the `fast` model is a slim
shape whose encoder is distilled from VGG-19 (stylize/training/fast.py) and whose decoder a head
steers with VGG-19's style statistics (stylize/models/fast.py).
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylize.models.style_layers import region_owner

TAP_NAMES = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
RELU1_1, RELU2_1, RELU3_1, RELU4_1 = range(4)
DOWNSCALE = 8  # relu4_1 is 1/8 of the input size


@dataclass(frozen=True)
class NetworkShape:
    """widths: channels of each tap; encoder_convs / decoder_convs: 3x3 convolutions per block;
    decoder_widths: channels inside each decoder block (empty: the taps' widths).

    Encoder block b starts with the conv whose ReLU is tap b and (for b < 3) ends in a 2x2 max
    pool. Decoder block b mirrors it: (decoder_convs[b] - 1) convs from tap b's width to the
    block's width, one conv down to tap b - 1's width (RGB after block 0), then (for b > 0) a
    nearest x2 upsampling.
    """
    widths: tuple = (64, 128, 256, 512)
    encoder_convs: tuple = (2, 2, 4, 1)
    decoder_convs: tuple = (2, 2, 4, 1)
    decoder_widths: tuple = ()

    def decoder_width(self, block):
        return self.decoder_widths[block] if self.decoder_widths else self.widths[block]

    def encoder_layers(self):
        """(name, in channels, out channels) of every encoder conv, VGG-style names (conv1_1 ...)."""
        layers, cin = [], 3
        for block, (width, count) in enumerate(zip(self.widths, self.encoder_convs)):
            for i in range(count):
                layers.append((f"conv{block + 1}_{i + 1}", cin, width))
                cin = width
        return tuple(layers)

    def as_dict(self):
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data):
        return cls(**{k: tuple(v) for k, v in data.items()})


VGG19 = NetworkShape()
# A quarter of VGG's width, one conv at full resolution and two at 1/2 and 1/4: the measured point
# where a 256 px frame runs at about 15 frames/s on 2 AVX2 cores (README, "Speed"). Training starts
# from this shape; the shipped file's decoder was grown from it (2, 2, 3, 3), its metadata says so.
FAST = NetworkShape(widths=(16, 32, 64, 128), encoder_convs=(1, 2, 2, 1), decoder_convs=(2, 2, 2, 1))


class Encoder(nn.Module):
    """A VGG-shaped encoder to relu4_1 with reflection padding, as in the AdaIN paper.

    `preprocess` is a 1x1 convolution that turns RGB in [0, 1] into whatever input the loaded
    weights expect (for the original VGG: BGR in 0-255 minus the ImageNet mean), so that every
    weight file fits the same module. The encoder is frozen by default: loss gradients flow
    through it to the image, never into it (distillation unfreezes a student on purpose).
    """

    source = None  # which weights (load_encoder sets it): styles encoded by the same VGG file agree

    def __init__(self, shape=VGG19):
        super().__init__()
        self.shape = shape
        self.preprocess = nn.Conv2d(3, 3, 1)
        layers = shape.encoder_layers()
        self.convs = nn.ModuleDict(
            {name: nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect") for name, cin, cout in layers})
        self.tap_after = {f"conv{block + 1}_1" for block in range(4)}
        self.pool_after = {f"conv{block + 1}_{shape.encoder_convs[block]}" for block in range(3)}
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)  # no dropout or norm here, but stay in eval whatever a caller asks

    def forward(self, x, depth=4):
        """The first `depth` taps (relu1_1 first): a loss on the shallow ones needs no deeper pass."""
        x = self.preprocess(x)
        taps = []
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            if name in self.tap_after:
                taps.append(x)
                if len(taps) == depth:
                    break
            if name in self.pool_after:
                x = F.max_pool2d(x, 2, ceil_mode=True)
        return taps


class Decoder(nn.Sequential):
    """The encoder's mirror (reflection padding, nearest x2 upsampling, no normalisation).

    With VGG-19's shape its layers are numbered exactly like pytorch-AdaIN's released
    `decoder.pth`, so that file loads with a plain `load_state_dict`. Architectures (all with
    the same parameters):
      plain  the paper's decoder: it reads relu4_1 only;
      skip   the stylised relu3_1, relu2_1 and relu1_1 are added after each upsampling (their
             channel counts match): little detail left to invent, so it trains much faster,
             but it keeps the photo's fine detail;
      skip3  only relu3_1 is added: structure at 1/4 scale is given, finer texture is painted;
      fade   the photo's own (unstylised) relu3_1, relu2_1 and relu1_1 are added, faded out as the
             strength rises: at 0 it is the skip decoder given the photo (which comes back), at 1
             the plain decoder, which paints all texture finer than 1/8 from the style.
    """

    SKIP_TAPS = {"plain": (), "skip3": (RELU3_1,), "skip": (RELU3_1, RELU2_1, RELU1_1),
                 "fade": (RELU3_1, RELU2_1, RELU1_1)}
    ARCHITECTURES = tuple(SKIP_TAPS)
    STYLE_LAYERS = ("adain", "attention")  # what the taps it reads were stylised by in training

    def __init__(self, architecture="plain", shape=VGG19, style_layer="adain"):
        if architecture not in self.ARCHITECTURES:
            raise ValueError(f"unknown decoder architecture {architecture!r}; expected one of {self.ARCHITECTURES}")
        if style_layer not in self.STYLE_LAYERS:
            raise ValueError(f"unknown style layer {style_layer!r}; expected one of {self.STYLE_LAYERS}")

        def conv(cin, cout, relu=True):
            layers = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
            return layers + [nn.ReLU()] if relu else layers

        layers = []
        for block in (RELU4_1, RELU3_1, RELU2_1, RELU1_1):
            width = shape.widths[block]
            for _ in range(shape.decoder_convs[block] - 1):
                layers += conv(width, shape.decoder_width(block))
                width = shape.decoder_width(block)
            layers += conv(width, shape.widths[block - 1] if block else 3, relu=block > 0)
            if block:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        super().__init__(*layers)
        self.architecture, self.shape, self.style_layer = architecture, shape, style_layer

    @property
    def reads(self):
        """The encoder taps this decoder uses (RELU1_1 ... RELU4_1): the ones to stylise."""
        return tuple(sorted((RELU4_1,) + self.SKIP_TAPS[self.architecture]))

    @property
    def style_widths(self):
        """{encoder level: channels} a style must set: the statistics of the taps it reads."""
        return {level: self.shape.widths[level] for level in self.reads}

    def condition(self, means, stds, alpha=1.0):
        """A style's statistics (per level, (B, C, 1, 1)) -> (AdaIN targets {level: (mean, std)}
        at the taps it reads, no modulation): AdaIN in the encoder's own space, whatever alpha.
        `fade` targets zero at its skips, so mixing by alpha leaves (1 - alpha) x the photo's own."""
        faded = self.SKIP_TAPS[self.architecture] if self.architecture == "fade" else ()
        return {level: (torch.zeros_like(means[level]), torch.zeros_like(stds[level])) if level in faded
                else (means[level], stds[level]) for level in self.reads}, None

    def forward(self, feats, modulation=None, regions=None):
        """`feats` are the (stylised) encoder taps [relu1_1, relu2_1, relu3_1, relu4_1].

        modulation: one (gamma, beta) per convolution, in order, applied as x * (1 + gamma) + beta
        to its output (before its ReLU): each (B, C, 1, 1), or, with `regions` ((1, K, H, W) at
        the image's size: which of K styles paints where), (K, C), each position taking the style
        whose region is largest there."""
        skip_taps = self.SKIP_TAPS[self.architecture]
        x, level = feats[RELU4_1], RELU4_1
        styles = iter(modulation or ())
        for layer in self:
            x = layer(x)
            if modulation is not None and isinstance(layer, nn.Conv2d):
                x = modulate(x, *next(styles), regions)
            if isinstance(layer, nn.Upsample):
                level -= 1
                if level in skip_taps:
                    x = x + feats[level]
        return x


def modulate(x, gamma, beta, regions=None):
    """x * (1 + gamma) + beta, per channel, or per region of several styles (see Decoder.forward)."""
    if regions is not None:
        owner = region_owner(regions, x.shape[-2:])
        one_hot = F.one_hot(owner, regions.shape[1]).permute(0, 3, 1, 2).to(x.dtype)  # (1, K, h, w)
        gamma, beta = (torch.einsum("bkhw,kc->bchw", one_hot, t.to(x.dtype)) for t in (gamma, beta))
    return torch.addcmul(x + beta, x, gamma)
