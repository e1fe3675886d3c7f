"""Stylising a stream of frames (video files, the live camera) with one cached style.

Frames are HxWx3 uint8 RGB arrays, as video decoders and browsers hand them over. A batch goes
through the engine in one pass (faster on a GPU); the stabiliser then runs over the results in
order, carrying each one forward into the next.
"""
import cv2
import numpy as np
import torch

from stylize.media.temporal import make_stabiliser


def frame_size(width, height, side):
    """(width, height) with the shorter side scaled to `side` (0 keeps the size), both even:
    the common video encoders' 4:2:0 chroma needs even sides."""
    scale = side / min(width, height) if side else 1.0
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def to_batch(frames):
    """HxWx3 uint8 arrays of one size -> (B, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div(255)


def from_batch(batch):
    return list(batch.clamp(0, 1).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy())


class FrameStylizer:
    """Stylises frames in order with one style (StyleStats) at one working size.

    size: shorter side frames are worked on at (0: as they come); temporal: one of
    stylize.pipelines.request.TEMPORAL_MODES.
    """

    def __init__(self, engine, style, alpha=1.0, size=0, temporal="flow"):
        self.engine, self.style, self.alpha, self.size = engine, style, alpha, size
        self.stabiliser = make_stabiliser(temporal)

    def output_size(self, width, height):
        return frame_size(width, height, self.size)

    def resize(self, frame):
        h, w = frame.shape[:2]
        target = self.output_size(w, h)
        if target == (w, h):
            return frame
        return cv2.resize(frame, target, interpolation=cv2.INTER_AREA if target[0] < w else cv2.INTER_LINEAR)

    def __call__(self, frames, should_stop=None):
        """A list of frames -> their stylised (and stabilised) frames, at the working size."""
        contents = [self.resize(f) for f in frames]
        by_size = {}
        for i, c in enumerate(contents):
            by_size.setdefault(c.shape, []).append(i)
        results = [None] * len(contents)
        for indices in by_size.values():
            out = self.engine.stylize_tensor(to_batch([contents[i] for i in indices]), self.style,
                                             alpha=self.alpha, should_stop=should_stop)
            for i, image in zip(indices, from_batch(out)):
                results[i] = image
        if self.stabiliser is not None:
            results = [self.stabiliser(c, r) for c, r in zip(contents, results)]
        return results
