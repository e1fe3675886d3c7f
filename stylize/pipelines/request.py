"""One stylisation request, and the one function that checks it (`check_inputs`).

Both faces build a `StyleRequest` (the CLI from its arguments, the API from form fields) and
call `check_inputs`; every rule about what a request may say lives here, once. Numbers from
users (alpha, style weights, bank blend weights, sizes) are checked to be finite and in range.
"""
import math
from dataclasses import dataclass, replace
from pathlib import Path

from stylize.errors import StylizeError
from stylize.media.images import MAX_PIXELS, SAVE_FORMATS, has_images, size_limit
from stylize.models.registry import model_spec

TEMPORAL_MODES = ("flow", "none")  # video and the live camera: stabilised (the default) or independent frames
VIDEO_FORMATS = (".mp4", ".mov", ".mkv")  # what `stylize video` writes (H.264)


@dataclass(frozen=True)
class StyleRequest:
    """What to stylise and how.

    contents / styles: image sources (paths for the CLI, uploads for the API), styles may be
    empty when `style_name` names a bank style or blend ("NAME" or "NAME:W,NAME:W").
    style_weights: raw comma-separated text, one weight per style image; after check_inputs,
    a tuple of floats summing to 1 (or None). masks: one mask image source per style.
    """
    contents: tuple
    styles: tuple = ()
    style_name: str | None = None
    style_weights: str | tuple | None = None
    masks: tuple | None = None
    alpha: float = 1.0
    preserve_color: bool = False
    content_size: int = 512
    style_size: int | None = None  # None: the model's (ModelSpec.style_size)
    crop: bool = False
    model: str = "quality"
    max_pixels: int = MAX_PIXELS  # largest image, decoded or worked on (the server sets its own)
    blend: tuple | None = None  # set by check_inputs: ((name, weight), ...) parsed from style_name

    def content_check(self):
        """open_image's check_size for content images and masks."""
        return size_limit(self.max_pixels, self.content_size, "content size")

    def style_check(self):
        return size_limit(self.max_pixels, self.style_size, "style size")

    @property
    def combines_styles(self):
        """Several styles into one result per content (weights or masks), not one per style."""
        return self.style_weights is not None or self.masks is not None


def finite(value, what):
    if not math.isfinite(value):
        raise StylizeError(f"{what} must be a finite number, got {value}")
    return value


def normalised(weights, what):
    """Non-negative finite weights, not all zero -> the same weights divided by their sum."""
    for w in weights:
        finite(w, what)
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise StylizeError(f"{what} must be non-negative and not all zero")
    total = sum(weights)
    return tuple(w / total for w in weights)


def parse_numbers(text, what):
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise StylizeError(f"{what} must be comma-separated numbers, got {text!r}") from None


def parse_blend(spec):
    """'name', 'index', or 'name:w,name:w' (non-negative, summing to 1) -> ((name, weight), ...)."""
    parts = []
    for part in spec.split(","):
        name, _, raw = part.strip().partition(":")
        try:
            weight = float(raw) if raw else 1.0
        except ValueError:
            raise StylizeError(f"bad style weight {raw!r} in {spec!r}; write NAME:WEIGHT, "
                               "e.g. starry:0.7,wave:0.3") from None
        finite(weight, f"style weight of {name!r}")
        parts.append((name, weight))
    if any(w < 0 for _, w in parts):
        raise StylizeError(f"style weights must be non-negative: {spec!r}")
    total = sum(w for _, w in parts)
    if abs(total - 1.0) > 1e-3:
        raise StylizeError(f"style weights must sum to 1, got {total:g} in {spec!r}")
    return tuple(parts)


def check_side(name, size, max_side=None):
    """A requested shorter side: 0 keeps the image's size (where allowed), else 1..max_side."""
    if isinstance(size, float):
        finite(size, name)
    if size != int(size) or size < 0 or (max_side is not None and not 0 < size <= max_side):
        limit = f"between 1 and the server's max side {max_side}" if max_side is not None else "0 or more"
        raise StylizeError(f"{name} must be {limit}, got {size}")
    return int(size)


def check_style_side(spec, size, max_side=None):
    """The side a style is read at: the request's, or (None) the model's own, within max_side (a
    server's limit applies to what a client asks, not to a default it did not choose)."""
    if size is None:
        size = spec.style_size if max_side is None else min(spec.style_size, max_side)
    return check_side("style_size", size, max_side)


def check_inputs(request: StyleRequest, max_styles=None, max_side=None) -> StyleRequest:
    """Every rule about a request, checked once; returns the request with weights parsed and
    normalised and the bank blend parsed. Raises StylizeError saying what is wrong."""
    spec = model_spec(request.model)
    if not request.contents:
        raise StylizeError("no content image given")
    if bool(request.styles) == bool(request.style_name):
        raise StylizeError("give either style images or a bank style (style_name), not both or neither")
    if max_styles is not None and len(request.styles) > max_styles:
        raise StylizeError(f"too many style images: {len(request.styles)}, the server accepts at most {max_styles}")
    alpha, _ = parse_alpha_range(float(request.alpha))
    content_size = check_side("content_size", request.content_size, max_side)
    style_size = check_style_side(spec, request.style_size, max_side)
    if request.max_pixels <= 0:
        raise StylizeError(f"max pixels must be more than 0, got {request.max_pixels}")

    blend, weights = None, request.style_weights
    if request.style_name:
        if weights is not None or request.masks is not None or request.preserve_color:
            raise StylizeError("style weights, masks and colour preservation need style images; "
                               "blend bank styles as NAME:W,NAME:W")
        blend = parse_blend(request.style_name)
    if isinstance(weights, str):
        weights = parse_numbers(weights, "style weights")
    if weights is not None:
        if len(weights) != len(request.styles):
            raise StylizeError(f"got {len(weights)} style weights for {len(request.styles)} style images; "
                               "give one weight per style")
        weights = normalised(weights, "style weights")
    if request.masks is not None:
        if weights is not None:
            raise StylizeError("use either masks or style weights, not both")
        if len(request.masks) != len(request.styles):
            raise StylizeError(f"got {len(request.masks)} masks for {len(request.styles)} style images; "
                               "give one mask per style")
    return replace(request, alpha=alpha, content_size=content_size, style_size=style_size,
                   style_weights=weights, blend=blend)


@dataclass(frozen=True)
class VideoRequest:
    """A video to stylise: `style.contents` holds the input video; start and duration in seconds
    (None: to the end); size: the output's shorter side (0 keeps the input's)."""
    style: StyleRequest
    output: Path
    start: float = 0.0
    duration: float | None = None
    size: int = 512
    temporal: str = TEMPORAL_MODES[0]


def check_video_inputs(request: VideoRequest) -> VideoRequest:
    """check_inputs for the style, plus the rules of a video; returns the checked request."""
    style = check_inputs(replace(request.style, content_size=request.size))
    if style.masks is not None or style.preserve_color:
        raise StylizeError("masks and colour preservation are for images, not videos")
    if len(style.styles) > 1 and style.style_weights is None:
        raise StylizeError("a video takes one style; blend several with --style-weights")
    if request.temporal not in TEMPORAL_MODES:
        raise StylizeError(f"unknown temporal mode {request.temporal!r}; expected one of {', '.join(TEMPORAL_MODES)}")
    start = finite(float(request.start), "start")
    if start < 0:
        raise StylizeError(f"start must be 0 or more seconds, got {start:g}")
    duration = request.duration
    if duration is not None and not finite(float(duration), "duration") > 0:
        raise StylizeError(f"duration must be more than 0 seconds, got {duration:g}")
    output = Path(request.output)
    if output.suffix.lower() not in VIDEO_FORMATS:
        raise StylizeError(f"cannot write {output}: give a video file name ending in {', '.join(VIDEO_FORMATS)}")
    if Path(style.contents[0]).resolve() == output.resolve():
        raise StylizeError(f"the output {output} would overwrite the input video")
    return replace(request, style=style, output=output, start=start, size=style.content_size)


@dataclass(frozen=True)
class DatasetRequest:
    """A folder tree to stylise into a mirror of itself (`stylize dataset`).

    alpha_range: raw "LO,HI" text or a pair (one random strength per output); without it every
    output takes `alpha`; after check_dataset_inputs, always a (low, high) pair. shard: raw "I/N"
    text or a pair (this process takes every N-th source image from the I-th, I from 0).
    """
    source: Path
    styles: Path
    output: Path
    per_image: int = 1
    alpha: float = 1.0
    alpha_range: str | tuple | None = None
    seed: int = 0
    size: int = 512
    crop: bool = False
    style_size: int | None = None  # None: the model's (ModelSpec.style_size)
    ext: str = "jpg"
    model: str = "quality"
    shard: str | tuple = (0, 1)

    def content_check(self):
        return size_limit(MAX_PIXELS, self.size, "--size")

    def style_check(self):
        return size_limit(MAX_PIXELS, self.style_size, "--style-size")


def _folder_of_images(path, what):
    path = Path(path)
    if not path.is_dir():
        raise StylizeError(f"{what} is not a folder: {path}" if path.exists() else f"{what} folder not found: {path}")
    if not has_images(path):
        raise StylizeError(f"no images found in {what} folder {path}")
    return path


def parse_alpha_range(value):
    """A strength, or a range of them ("LO,HI" or a pair) -> (low, high) within [0, 1]."""
    if isinstance(value, str):
        parts = parse_numbers(value, "alpha range")
    else:
        parts = list(value) if isinstance(value, (tuple, list)) else [value, value]
    if len(parts) != 2:
        raise StylizeError(f"alpha range must be LO,HI (e.g. 0.5,1), got {value!r}")
    low, high = (finite(float(a), "alpha") for a in parts)
    if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
        raise StylizeError(f"alpha must be between 0 and 1, got {low:g}" + ("" if low == high else f",{high:g}"))
    if low > high:
        raise StylizeError(f"alpha range {low:g},{high:g} is reversed; write LO,HI")
    return low, high


def parse_shard(shard):
    """'I/N' (or a pair) -> (I, N) with 0 <= I < N."""
    if isinstance(shard, str):
        index, _, count = shard.partition("/")
        try:
            shard = (int(index), int(count))
        except ValueError:
            raise StylizeError(f"shard must be I/N (e.g. 0/4), got {shard!r}") from None
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise StylizeError(f"shard {index}/{count}: I must be from 0 to N-1 (e.g. 0/{max(count, 2)})")
    return index, count


def check_dataset_inputs(request: DatasetRequest) -> DatasetRequest:
    """Every rule of a dataset request, before anything is written; returns it with the alpha
    range, shard, paths and style size settled."""
    spec = model_spec(request.model)
    source = _folder_of_images(request.source, "source")
    styles = _folder_of_images(request.styles, "style")
    output = Path(request.output)
    if output.resolve() == source.resolve() or source.resolve() in output.resolve().parents:
        raise StylizeError(f"the output folder {output} is inside the source folder {source}; give one outside it")
    if output.exists() and not output.is_dir():
        raise StylizeError(f"the output {output} is a file; give a folder")
    if request.per_image < 1:
        raise StylizeError(f"--per-image must be 1 or more, got {request.per_image}")
    alpha_range = parse_alpha_range(request.alpha if request.alpha_range is None else request.alpha_range)
    if request.ext not in SAVE_FORMATS:
        raise StylizeError(f"unknown image format {request.ext!r}; expected one of {', '.join(SAVE_FORMATS)}")
    return replace(request, source=source, styles=styles, output=output, alpha_range=alpha_range,
                   size=check_side("size", request.size), style_size=check_style_side(spec, request.style_size),
                   seed=int(request.seed), shard=parse_shard(request.shard))
