"""Splitting a large image into overlapping tiles, and blending the results back without seams.

All coordinates are multiples of 8 (the encoder's downscale), so a tile's features line up with
the whole image's at every tap.
"""
from dataclasses import dataclass

import torch

from stylize.models.networks import DOWNSCALE


@dataclass(frozen=True)
class Span:
    start: int  # the tile covers [start, end)
    end: int
    core_start: int  # the part of the image this tile alone accounts for (cores partition the axis)
    core_end: int


def spans(length, tile, overlap):
    """Overlapping spans covering [0, length); length, tile and overlap are multiples of 8."""
    if length <= tile:
        return [Span(0, length, 0, length)]
    starts = list(range(0, length - tile, tile - overlap)) + [length - tile]
    ends = [s + tile for s in starts]
    # A core boundary sits in the middle of each overlap, rounded down to the feature grid.
    cuts = [0] + [(starts[i + 1] + ends[i]) // 2 // DOWNSCALE * DOWNSCALE for i in range(len(starts) - 1)] + [length]
    return [Span(s, e, cuts[i], cuts[i + 1]) for i, (s, e) in enumerate(zip(starts, ends))]


def ramp(span, length, overlap, device):
    """1-D blend weight of a tile: rising linearly over `overlap` pixels from each inner edge.

    Weights are positive and continuous; dividing the blended sum by the summed weights gives
    seamless results however many tiles overlap at a point.
    """
    x = torch.arange(span.start, span.end, device=device, dtype=torch.float32) + 0.5
    weight = torch.ones_like(x)
    if span.start > 0:
        weight = torch.minimum(weight, (x - span.start) / overlap)
    if span.end < length:
        weight = torch.minimum(weight, (span.end - x) / overlap)
    return weight
