"""The AdaIN network: a frozen VGG-19 encoder up to relu4_1 and a trained decoder back to pixels.

Images are RGB tensors in [0, 1]. The encoder returns the four taps relu1_1, relu2_1, relu3_1,
relu4_1; the style layer works on relu4_1 (and, for the skip decoder, on the other three too);
the decoder maps the result back to an RGB image.
"""
import torch.nn as nn
import torch.nn.functional as F

# VGG-19's convolutions up to relu4_1: (name, in channels, out channels).
# Blocks 1-3 end in a 2x2 max pool.
VGG_CONVS = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256),
    ("conv4_1", 256, 512),
)
TAPS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")
POOL_AFTER = ("conv1_2", "conv2_2", "conv3_4")
DOWNSCALE = 8  # relu4_1 is 1/8 of the input size


class Encoder(nn.Module):
    """VGG-19 to relu4_1 with reflection padding, as in the AdaIN paper.

    `preprocess` is a 1x1 convolution that turns RGB in [0, 1] into whatever input the loaded
    weights expect (for the original VGG: BGR in 0-255 minus the ImageNet mean), so that every
    weight file fits the same module. The encoder is frozen: loss gradients flow through it to
    the image, never into it.
    """

    def __init__(self):
        super().__init__()
        self.preprocess = nn.Conv2d(3, 3, 1)
        self.convs = nn.ModuleDict(
            {name: nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect") for name, cin, cout in VGG_CONVS}
        )
        self.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        return super().train(False)  # no dropout or norm here, but stay in eval whatever a caller asks

    def forward(self, x):
        x = self.preprocess(x)
        taps = []
        for name, conv in self.convs.items():
            x = F.relu(conv(x))
            if name in TAPS:
                taps.append(x)
            if name in POOL_AFTER:
                x = F.max_pool2d(x, 2, ceil_mode=True)
        return taps


class Decoder(nn.Sequential):
    """The encoder's mirror (reflection padding, nearest x2 upsampling, no normalisation).

    Its layers are numbered exactly like pytorch-AdaIN's released `decoder.pth`, so that file
    loads with a plain `load_state_dict`. Architectures (all with the same parameters):
      plain  the paper's decoder: it reads relu4_1 only;
      skip   the stylised relu3_1, relu2_1 and relu1_1 are added after each upsampling (their
             channel counts match): little detail left to invent, so it trains much faster,
             but it keeps the photo's fine detail;
      skip3  only relu3_1 is added: structure at 1/4 scale is given, finer texture is painted.
    """

    SKIP_TAPS = {"plain": (), "skip3": (2,), "skip": (2, 1, 0)}
    ARCHITECTURES = tuple(SKIP_TAPS)

    def __init__(self, architecture="plain"):
        if architecture not in self.ARCHITECTURES:
            raise ValueError(f"unknown decoder architecture {architecture!r}; expected one of {self.ARCHITECTURES}")

        def conv(cin, cout, relu=True):
            layers = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
            return layers + [nn.ReLU()] if relu else layers

        def up():
            return [nn.Upsample(scale_factor=2, mode="nearest")]

        super().__init__(
            *conv(512, 256), *up(),
            *conv(256, 256), *conv(256, 256), *conv(256, 256), *conv(256, 128), *up(),
            *conv(128, 128), *conv(128, 64), *up(),
            *conv(64, 64), *conv(64, 3, relu=False),
        )
        self.architecture = architecture

    @property
    def reads(self):
        """The encoder taps this decoder uses (0 = relu1_1 ... 3 = relu4_1): the ones to stylise."""
        return tuple(sorted((3,) + self.SKIP_TAPS[self.architecture]))

    def forward(self, feats):
        """`feats` are the (stylised) encoder taps [relu1_1, relu2_1, relu3_1, relu4_1]."""
        skip_taps = self.SKIP_TAPS[self.architecture]
        x, level = feats[3], 3
        for layer in self:
            x = layer(x)
            if isinstance(layer, nn.Upsample):
                level -= 1
                if level in skip_taps:
                    x = x + feats[level]
        return x
