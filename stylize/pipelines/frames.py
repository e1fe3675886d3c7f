"""Stylising a stream of frames (video files, the live camera) with one cached style.

Frames are HxWx3 uint8 RGB arrays, as video decoders and browsers hand them over (converted by
the image processor, stylize.media.images). Frames of one size go through the engine in one
pass (stylizer.stylize_by_size); the stabiliser then runs over the results in order, carrying
each one forward into the next.
"""
import cv2

from stylize.media.images import scaled_size, to_frame, to_tensor
from stylize.media.temporal import make_stabiliser
from stylize.pipelines.stylizer import stylize_by_size


class FrameStylizer:
    """Stylises frames in order with one style (StyleStats) at one working size.

    size: shorter side frames are worked on at (0: as they come); temporal: one of
    stylize.pipelines.request.TEMPORAL_MODES.
    """

    def __init__(self, engine, style, alpha=1.0, size=0, temporal="flow"):
        self.engine, self.style, self.alpha, self.size = engine, style, alpha, size
        self.stabiliser = make_stabiliser(temporal)

    def output_size(self, width, height):
        return scaled_size(width, height, self.size, even=True)

    def resize(self, frame):
        h, w = frame.shape[:2]
        target = self.output_size(w, h)
        if target == (w, h):
            return frame
        return cv2.resize(frame, target, interpolation=cv2.INTER_AREA if target[0] < w else cv2.INTER_LINEAR)

    def __call__(self, frames, should_stop=None):
        """A list of frames -> their stylised (and stabilised) frames, at the working size."""
        contents = [self.resize(f) for f in frames]
        stylised = stylize_by_size(self.engine, [to_tensor(c) for c in contents], self.style, self.alpha, should_stop)
        results = [to_frame(t) for t in stylised]
        if self.stabiliser is not None:
            results = [self.stabiliser(c, r) for c, r in zip(contents, results)]
        return results
