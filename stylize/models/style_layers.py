"""The style layers that sit at the decoder's levels: AdaIN and conditional instance norm.

Both share one idea: normalise each channel of each image to zero mean and unit std, then
apply an affine (scale = std, shift = mean) that carries the style. They differ only in where
the affine comes from: the style image (AdaIN), or a bank of learned pairs that can be blended
(conditional IN; instance norm with one learned style, Ulyanov et al. 2016, is a bank of one).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

EPS = 1e-5


def mean_std(feat, mask=None, eps=EPS):
    """Per-image, per-channel mean and std of (B, C, H, W) features, shaped (B, C, 1, 1).

    The variance is the biased one, as in torch.nn.functional.instance_norm, with eps inside
    the square root. With a (B, 1, H, W) mask of 0/1 weights, only the masked positions count.
    Without a mask it is E[x^2] - E[x]^2: on the CPU two plain means are 5-18x faster than
    torch.var_mean on these (channels_last) feature maps, and for post-ReLU features, whose mean
    is of the order of their std, float32 keeps the variance to about 1e-7. The statistics are
    always float32, whatever the features' dtype: in bfloat16 (8 bits of mantissa) E[x^2] - E[x]^2
    loses the variance of a channel whose mean is large against its std (mean 10, std 0.5: the std
    off by over 100 %), which made every bf16-autocast training step aim at garbage targets.
    """
    feat = feat.float()
    if mask is None:
        mean = feat.mean(dim=(2, 3), keepdim=True)
        var = ((feat * feat).mean(dim=(2, 3), keepdim=True) - mean * mean).clamp_min(0)
    else:
        count = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
        mean = (feat * mask).sum(dim=(2, 3), keepdim=True) / count
        var = ((feat - mean) ** 2 * mask).sum(dim=(2, 3), keepdim=True) / count
    return mean, (var + eps).sqrt()


def normalize(feat, mask=None, eps=EPS):
    mean, std = mean_std(feat, mask, eps)
    return (feat - mean) / std


class AdaIN(nn.Module):
    """Adaptive instance norm (Huang & Belongie 2017): content statistics replaced by the style's.

    With a mask, the content statistics are taken over the masked region only, so each region
    of a content image can take its own style (spatial control). `content_stats` (mean, std)
    replaces the content's own statistics: tiles of a large image all use the whole image's.
    """

    def __init__(self, eps=EPS):
        super().__init__()
        self.eps = eps

    def forward(self, content, style_mean, style_std, mask=None, content_stats=None):
        mean, std = content_stats if content_stats is not None else mean_std(content, mask, self.eps)
        # (content - mean) / std * style_std + style_mean, as one fused multiply-add per element.
        scale = style_std / std
        return torch.addcmul(style_mean - mean * scale, content, scale)


def region_owner(masks, size):
    """(B, K, H, W) masks of K styles -> (B, h, w): the style whose mask is largest at each
    position of a map of `size` (h, w). Every level and decoder conv asks this one rule."""
    return F.interpolate(masks, size=size, mode="area").argmax(dim=1)


def full_strength(alpha):
    """Whether alpha is the plain number 1 (a tensor, even of ones, is mixed as given)."""
    return isinstance(alpha, (int, float)) and alpha == 1


def regional_adain(adain, feat, targets, regions):
    """AdaIN per region: each position of `feat` takes the targets[k] (mean, std) of the style k
    that owns it (region_owner of the (B, K, H, W) `regions`), measured against the content
    statistics of that region only."""
    owner = region_owner(regions, feat.shape[-2:])[:, None]
    out = torch.zeros_like(feat)
    for k, (mean, std) in enumerate(targets):
        region = (owner == k).to(feat.dtype)
        out += region * adain(feat, mean, std, mask=region)
    return out


def stylize_taps(taps, style_stats, levels, alpha=1.0, content_stats=None, adain=None, regions=None):
    """Encoder taps with AdaIN at `levels` (the ones a decoder reads), the others as they are.

    style_stats[level] (and content_stats[level], if given: a large image's whole statistics
    for each of its tiles) is a (mean, std) pair, or with `regions` (masks of K styles, (B, K,
    H, W)) a list of K pairs, one per style (regional_adain). alpha (a number, or a tensor in a
    traced graph) mixes each stylised tap with the content's own: 0 = content, 1 = style. The
    model (StyleTransferModel), training and ONNX export all stylise through this one function.
    """
    adain = adain or AdaIN()
    out = list(taps)
    for level in levels:
        if regions is None:
            target = adain(taps[level], *style_stats[level],
                           content_stats=content_stats[level] if content_stats else None)
        else:
            target = regional_adain(adain, taps[level], style_stats[level], regions)
        out[level] = mix(taps[level], target, alpha)
    return out


def mix(tap, target, alpha):
    """A stylised tap mixed with the content's own by the strength alpha: 0 = content, 1 = style.
    In the taps' dtype: under autocast they may be bf16, the targets float32."""
    if full_strength(alpha):
        return target
    return torch.lerp(tap, target.to(tap), alpha.to(tap) if torch.is_tensor(alpha) else alpha)


class ConditionalInstanceNorm(nn.Module):
    """Conditional instance norm (Dumoulin et al. 2017): N learned affine pairs, a bank of styles.

    Instance norm followed by the pair (gamma, beta) is AdaIN with std gamma and mean beta, so this
    layer gives the pair and the model applies it through its AdaIN (as a StyleStats). `style` is
    a weight vector over the N styles, (N,) or (B, N): one-hot picks a style, convex weights blend
    (their sum is the caller's to check). A single learned style, Ulyanov et al.'s IN, is a bank of one.
    """

    def __init__(self, channels, num_styles):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_styles, channels))
        self.bias = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, style):
        """-> (gamma, beta), each (1 or B, C, 1, 1)."""
        style = torch.as_tensor(style).to(self.weight)
        if style.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"expected {self.weight.shape[0]} style weights, got {style.shape[-1]}")
        rows = 1 if style.dim() == 1 else style.shape[0]
        return (style @ self.weight).view(rows, -1, 1, 1), (style @ self.bias).view(rows, -1, 1, 1)
