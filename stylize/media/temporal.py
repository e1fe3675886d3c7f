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
    colour_tolerance: largest change of a pixel's brightness (0-255) along the flow that still
    counts as the same surface.
    """

    def __init__(self, keep=0.5, colour_tolerance=20, restore=True, flow_side=256):
        self.keep, self.colour_tolerance, self.restore, self.flow_side = keep, colour_tolerance, restore, flow_side
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self.reset()

    def reset(self):
        self.previous = None  # (content in gray, stabilised result in float32)
        self.grid = None

    def __call__(self, content, stylised):
        gray = cv2.cvtColor(content, cv2.COLOR_RGB2GRAY)
        stylised = stylised.astype(np.float32)
        if self.previous is None or self.previous[0].shape != gray.shape:
            result = stylised
        else:
            result = self._blend(gray, stylised)
        self.previous = (gray, result)
        return cv2.convertScaleAbs(cv2.max(result, 0.0))  # rounded and saturated to 0-255

    def _flow(self, source, target):
        """Optical flow from `source` to `target`; on large frames computed at `flow_side` px
        (motion is smooth, so little is lost) and scaled up: 4x cheaper at 512 px."""
        h, w = source.shape
        scale = min(h, w) / self.flow_side
        if scale <= 1.25:
            return self.flow.calc(source, target, None)
        size = (round(w / scale), round(h / scale))
        small = self.flow.calc(*(cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (source, target)), None)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / size[0])

    def _pixel_grid(self, h, w):
        if self.grid is None or self.grid[0].shape != (h, w):
            self.grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return self.grid

    def _blend(self, gray, stylised):
        previous_gray, previous_result = self.previous
        backward = self._flow(gray, previous_gray)  # where each pixel was one frame ago
        forward = self._flow(previous_gray, gray)
        h, w = gray.shape
        grid_x, grid_y = self._pixel_grid(h, w)
        map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]

        def warp(image):
            return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        # Forward-backward consistency (Sundaram et al. 2010, as in Ruder et al. 2016's video
        # style transfer): following the flow back and then forth should return to the pixel.
        forward_x, forward_y = cv2.split(warp(forward))
        back_x, back_y = cv2.split(backward)
        round_trip = (forward_x + back_x) ** 2 + (forward_y + back_y) ** 2
        consistent = round_trip <= 0.01 * (forward_x ** 2 + forward_y ** 2 + back_x ** 2 + back_y ** 2) + 0.5
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        same_light = cv2.absdiff(warp(previous_gray), gray) <= self.colour_tolerance
        weight = (consistent & inside & same_light).astype(np.float32)
        weight = cv2.GaussianBlur(weight, (5, 5), 0) * self.keep  # no hard seams
        blended = cv2.blendLinear(warp(previous_result), stylised, weight, 1 - weight)
        return restore_detail(blended, stylised) if self.restore else blended


def restore_detail(blended, stylised, sigma=8.0):
    """Averaging two textures that do not line up exactly (the carried-forward one and the new
    one) lowers their contrast, and the style with it; scale the blend's fine detail, per
    channel, back to the new frame's energy. One gain per channel and frame: no flicker."""
    ours = blended - low_pass(blended, sigma)
    _, ours_std = cv2.meanStdDev(ours)
    _, theirs_std = cv2.meanStdDev(stylised - low_pass(stylised, sigma))
    gain = (theirs_std.ravel() / np.maximum(ours_std.ravel(), 1e-3)).astype(np.float32)
    return blended + ours * (gain - 1)


def low_pass(image, sigma, factor=4):
    """A Gaussian blur of `sigma` px, computed at 1/`factor` of the size and scaled back up: what
    it keeps varies slowly, so on a painting it is on average 0.6/255 from the full-size blur (2.5 %
    of the detail left after it), at 7 times less cost: 0.6 against 4 ms a 256 x 341 frame, the
    stabiliser's largest cost after the optical flow."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def make_stabiliser(mode):
    """A stabiliser for `mode` (one of stylize.pipelines.request.TEMPORAL_MODES), or None for independent frames."""
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
