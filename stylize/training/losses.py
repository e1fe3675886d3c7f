"""The AdaIN paper's losses and learning-rate schedule, shared by every trainer and by the
quality benchmarks (Huang & Belongie 2017, section 6).

content: MSE between relu4_1 of the decoded image and the AdaIN target t;
style:   MSE between the per-channel mean and std of relu1_1..relu4_1 of the decoded image and
         the style's. Both in float32 whatever the autocast dtype.
gram:    beside them, Gatys et al.'s (2016) Gram-matrix loss at the same taps, which also asks for
         the channels' co-occurrence (texture), not only each channel's mean and spread.
"""
import torch
import torch.nn.functional as F

from stylize.models.networks import RELU4_1
from stylize.models.style_layers import mean_std


def style_losses(loss_net, output, content_target, style_stats, per_tap=False):
    """(content loss, style loss) of `output` in `loss_net`'s space: content at relu4_1 against
    `content_target`, mean/std at every tap against `style_stats` (summed, or a list by tap).
    Gradients reach `output` through the loss network."""
    return losses_of_taps(loss_net(output), content_target, style_stats, per_tap)


def losses_of_taps(taps, content_target, style_stats, per_tap=False):
    """style_losses of an output whose relu1_1..relu4_1 `taps` are already computed."""
    content = F.mse_loss(taps[RELU4_1].float(), content_target.float())
    style = []
    for tap, (mean, std) in zip(taps, style_stats):
        out_mean, out_std = mean_std(tap)
        style.append(F.mse_loss(out_mean, mean.float()) + F.mse_loss(out_std, std.float()))
    return content, (style if per_tap else sum(style))


def gram_matrix(tap):
    """(B, C, H, W) features -> (B, C, C) channel co-occurrences, divided by C * H * W so that
    every tap and image size weighs alike; float32 whatever the autocast dtype."""
    b, c, h, w = tap.shape
    flat = tap.float().reshape(b, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def gram_loss(taps, style_grams):
    """Sum over taps of the MSE between the output's Gram matrices and the style's."""
    return sum(F.mse_loss(gram_matrix(tap), target) for tap, target in zip(taps, style_grams))


def identity_losses(loss_net, output, images, image_taps=None, depth=4):
    """Park & Lee's identity losses (SANet, 2019): `output`, a model's painting of `images` by
    their own features (strength 0, or a painting as its own style), must be the images again.
    Without them a decoder paints its own marks whatever it is given. Returns (pixel L1, MSE
    summed over the loss network's first `depth` taps); `image_taps`: the images' taps, if known."""
    if image_taps is None:
        with torch.no_grad():
            image_taps = loss_net(images, depth=depth)
    pixel = F.l1_loss(output.float(), images.float())
    feature = sum(F.mse_loss(tap.float(), target.float())
                  for tap, target in zip(loss_net(output, depth=depth), image_taps[:depth]))
    return pixel, feature


def inverse_decay(lr, decay, step):
    """pytorch-AdaIN's schedule: lr / (1 + decay * step)."""
    return lr / (1.0 + decay * step)
