"""Temporal stabilisation of stylised frames (video files, the live camera), and the pan test
that measures it.

Stylising frames one by one flickers and "swims": the decoder's stride-8 grid paints its texture
relative to the frame, not to the picture, so when the picture moves the texture is painted
anew. The stabiliser carries the previous result forward along the optical flow of the *content*
frames (OpenCV's DIS: classical, no learned weights) and blends it into the new result where the
flow is trustworthy. Where forward and backward flow disagree (occlusions, things entering the
frame, cuts) or the content's colour changed, the new result is used alone, so nothing ghosts.
"""
import cv2
import numpy as np


class FlowStabiliser:
    """Feed it (content frame, stylised frame) pairs in order, both HxWx3 uint8 RGB of one size;
    it returns the stabilised frame. `reset()` starts a new shot.

    keep: how much of the carried-forward result to keep where the flow holds (0: none).
    """

    def __init__(self, keep=0.5, colour_tolerance=20.0, restore=True):
        self.keep, self.colour_tolerance, self.restore = keep, colour_tolerance, restore
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.reset()

    def reset(self):
        self.previous = None  # (content gray, content rgb, stabilised result), float32

    def __call__(self, content, stylised):
        gray = cv2.cvtColor(content, cv2.COLOR_RGB2GRAY)
        content_f, stylised_f = content.astype(np.float32), stylised.astype(np.float32)
        if self.previous is None or self.previous[0].shape != gray.shape:
            result = stylised_f
        else:
            result = self._blend(gray, content_f, stylised_f)
        self.previous = (gray, content_f, result)
        return np.clip(result + 0.5, 0, 255).astype(np.uint8)

    def _blend(self, gray, content, stylised):
        previous_gray, previous_content, previous_result = self.previous
        backward = self.flow.calc(gray, previous_gray, None)  # where each pixel was one frame ago
        forward = self.flow.calc(previous_gray, gray, None)
        h, w = gray.shape
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]

        def warp(image):
            return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        # Forward-backward consistency (Sundaram et al. 2010, as in Ruder et al. 2016's video
        # style transfer): following the flow back and then forth should return to the pixel.
        round_trip = warp(forward) + backward
        magnitude = (warp(forward) ** 2).sum(-1) + (backward ** 2).sum(-1)
        consistent = (round_trip ** 2).sum(-1) <= 0.01 * magnitude + 0.5
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        same_colour = np.abs(warp(previous_content) - content).mean(-1) <= self.colour_tolerance
        weight = (consistent & inside & same_colour).astype(np.float32)
        weight = cv2.GaussianBlur(weight, (5, 5), 0)[..., None] * self.keep  # no hard seams
        blended = weight * warp(previous_result) + (1 - weight) * stylised
        return restore_detail(blended, stylised) if self.restore else blended


def restore_detail(blended, stylised, sigma=2.0):
    """Averaging two textures that do not line up exactly (the carried-forward one and the new
    one) lowers their contrast, and the style with it; scale the blend's fine detail, per
    channel, back to the new frame's energy. One gain per channel and frame: no flicker."""
    def detail(image):
        return image - cv2.GaussianBlur(image, (0, 0), sigma)
    ours, theirs = detail(blended), detail(stylised)
    gain = theirs.reshape(-1, 3).std(0) / np.maximum(ours.reshape(-1, 3).std(0), 1e-3)
    return blended + ours * (gain - 1)


def make_stabiliser(mode):
    """A stabiliser for `mode` (one of stylize.request.TEMPORAL_MODES), or None for independent frames."""
    return FlowStabiliser() if mode == "flow" else None


def pan_frames(photo, window, step, count):
    """The pan test's input: `count` window x window crops of an HxWx3 photo, the window sliding
    right by `step` pixels a frame (vertically centred)."""
    h, w = photo.shape[:2]
    if window > h or window + step * (count - 1) > w:
        raise ValueError(f"a {w}x{h} photo is too small for {count} frames of {window} px moving {step} px")
    top = (h - window) // 2
    return [photo[top:top + window, t * step:t * step + window] for t in range(count)]


def pan_error(outputs, step):
    """Mean absolute difference (0-255) between each output frame and the next one shifted back
    by `step` pixels, on their overlap: 0 for a perfectly stable result."""
    diffs = [np.abs(b[:, :-step].astype(np.float32) - a[:, step:].astype(np.float32)).mean()
             for a, b in zip(outputs, outputs[1:])]
    return float(np.mean(diffs))
