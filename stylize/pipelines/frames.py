"""Stylising a stream of frames (video files, the live camera) with one cached style.

Frames come in as PIL images (PyAV and the stream decode into them) and go through the same
image processor as stills (stylize.media.images.ImageProcessor); frames of one size go through
the engine in one pass (stylizer.stylize_by_size); the stabiliser then runs over the results in
order, carrying each one forward into the next. Results are HxWx3 uint8 frames.
"""
import numpy as np

from stylize.media.images import ImageProcessor, to_tensor
from stylize.media.temporal import make_stabiliser
from stylize.pipelines.stylizer import stylize_by_size


class FrameStylizer:
    """Stylises frames in order with one style (StyleStats) at one working size.

    size: shorter side frames are worked on at (0: as they come); temporal: one of
    stylize.pipelines.request.TEMPORAL_MODES; even: both sides even, as video encoders need.
    """

    def __init__(self, engine, style, alpha=1.0, size=0, temporal="flow", even=True):
        self.engine, self.style, self.alpha = engine, style, alpha
        self.processor = ImageProcessor(size, even=even)
        self.stabiliser = make_stabiliser(temporal)

    def output_size(self, width, height):
        return self.processor.output_size(width, height)

    def __call__(self, frames, should_stop=None):
        """PIL frames -> their stylised (and stabilised) frames, at the working size."""
        contents = [self.processor.resize(f) for f in frames]
        stylised = stylize_by_size(self.engine, [to_tensor(c) for c in contents], self.style, self.alpha, should_stop)
        results = [self.processor.postprocess(t, frame=True) for t in stylised]
        if self.stabiliser is not None:
            results = [self.stabiliser(np.asarray(c), r) for c, r in zip(contents, results)]
        return results
