"""Colour preservation: give the style image the content image's colour statistics.

This is the AdaIN paper's colour-preserving option (after Gatys et al. 2016): an affine map of
the style's RGB values so that their mean and covariance equal the content's. The style keeps
its strokes and texture; the result keeps the photo's palette.
"""
import torch


def _mean_cov(image):
    pixels = image.reshape(3, -1).double()
    mean = pixels.mean(dim=1, keepdim=True)
    centred = pixels - mean
    return mean, centred @ centred.T / pixels.shape[1] + 1e-5 * torch.eye(3, dtype=pixels.dtype, device=pixels.device)


def _sqrtm(cov, inverse=False):
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp_min(1e-8).sqrt()
    return vectors @ torch.diag(1 / values if inverse else values) @ vectors.T


def match_color(source, target):
    """Map (3, H, W) `source` so that its colour mean and covariance equal `target`'s."""
    source_mean, source_cov = _mean_cov(source)
    target_mean, target_cov = _mean_cov(target)
    transform = _sqrtm(target_cov) @ _sqrtm(source_cov, inverse=True)
    pixels = source.reshape(3, -1).double()
    matched = transform @ (pixels - source_mean) + target_mean
    return matched.reshape(source.shape).to(source.dtype).clamp(0, 1)
