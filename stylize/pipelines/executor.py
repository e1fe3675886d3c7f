"""Running a checked request: its styles resolved (once, in `resolve_styles`: always StyleStats,
blended in `combine`; colour preservation, which depends on each content image, in
`colour_preserved`), its images or frames stylised, its files written.

Every face hands a checked request to one function here and formats what comes back: the CLI's
`transfer` (`run_plan`) and `video` (`run_video`), the HTTP endpoint (`stylize_upload`) and the
WebSocket stream (`frame_style`). None of them turns a request into style statistics itself.
"""
import hashlib
from pathlib import Path

from stylize.errors import StylizeError, check_stop
from stylize.media.images import open_image, save_image, size_limit
from stylize.models.style_stats import blend
from stylize.pipelines.jobs import batches, is_image_name


def image_source(item):
    """A request's image: a path (the CLI) or (bytes, name) (uploads) -> (source, name)."""
    return item if isinstance(item, tuple) else (item, str(item))


def _style_stats(stylizer, request, item, cache=None, should_stop=None):
    """One style image's StyleStats; through `cache` (get_or_compute(key, compute)), keyed by the
    file's SHA-256, the style encoder and the encoding options, when one is given."""
    source, name = image_source(item)

    def compute():
        image = open_image(source, name, check_size=request.style_check())
        return stylizer.prepare_style(image, request.style_size, request.crop, should_stop=should_stop)

    if cache is None:
        return compute()
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    # an attention model's styles carry the painting's patches, which a style cached by the fast model lacks
    key = (stylizer.engine.style_source, stylizer.engine.model.attention, hashlib.sha256(data).hexdigest(),
           request.style_size, request.crop)
    return cache.get_or_compute(key, compute)


def _by_key(request, styles):
    """Styles grouped by the style key of the jobs they serve (see jobs.plan_jobs): those that
    make one result together (weights, masks) form one group; else each is its own."""
    return [list(styles)] if request.combines_styles else [[one] for one in styles]


def combine(request, group):
    """A group of StyleStats as its result takes them: the one place a request's styles are
    blended by its weights; with masks, kept one per mask."""
    return group if request.masks else blend(group, request.style_weights or [1.0])


def bank_style(stylizer, bank, weights, painting_style):
    """A bank blend's StyleStats for `stylizer`'s model: an attention model takes its patches from
    the styles' kept paintings (`painting_style((jpeg bytes, name))` reads one), blended by the
    (N,) weights; other models, and banks without paintings, the bank's learned statistics."""
    if not (stylizer.engine.model.attention and bank.keeps_paintings):
        return bank.style_stats(weights)
    used = [i for i, weight in enumerate(weights.tolist()) if weight > 0]
    total = sum(weights[i].item() for i in used)
    return blend([painting_style((bank.paintings[i], f"bank style {bank.names[i]}")) for i in used],
                 [weights[i].item() / total for i in used])


def resolve_styles(stylizer, request, bank=None, cache=None, should_stop=None):
    """The style of each style key of a checked request, as StyleStats (a list of one per mask
    with masks): a bank blend's (for an attention model, its styles' kept paintings blended), or
    its style images' combined. A colour-preserving request's styles depend on each content image:
    see `colour_preserved`."""
    if request.blend is not None:
        if bank is None:
            raise StylizeError("no style bank is loaded; send a style image instead")
        return [bank_style(stylizer, bank, bank.blend_weights(request.blend), lambda item: _style_stats(
            stylizer, request, item, cache, should_stop))]
    stats = [_style_stats(stylizer, request, item, cache, should_stop) for item in request.styles]
    return [combine(request, group) for group in _by_key(request, stats)]


def style_images(request):
    """A colour-preserving request's style images, decoded once, grouped by style key."""
    return _by_key(request, [open_image(*image_source(item), check_size=request.style_check())
                             for item in request.styles])


def colour_preserved(stylizer, request, group, content, should_stop=None):
    """The style of one content image under colour preservation: each style image of the group
    takes the content's colours (as the content is worked on), then is encoded and combined."""
    like = stylizer.content_tensor(content, request.content_size, request.crop)
    return combine(request, [stylizer.prepare_style(image, request.style_size, request.crop, like=like,
                                                    should_stop=should_stop) for image in group])


def frame_style(stylizer, request, bank=None, cache=None):
    """The one StyleStats a stream of frames (a video, the camera) uses."""
    return resolve_styles(stylizer, request, bank, cache)[0]


def stylize_upload(stylizer, request, bank=None, cache=None, should_stop=None):
    """A request with one content image (bytes or a path) -> the stylised PIL image. Each image's
    working size is checked from its header, before its pixels are decoded."""
    check_stop(should_stop)
    content = open_image(*image_source(request.contents[0]), check_size=request.content_check())
    if request.preserve_color:
        style = colour_preserved(stylizer, request, style_images(request)[0], content, should_stop)
    else:
        style = resolve_styles(stylizer, request, bank, cache, should_stop)[0]
    return stylizer.transfer(content, style, alpha=request.alpha, content_size=request.content_size,
                             crop=request.crop, should_stop=should_stop)


def run_plan(stylizer, request, plan, batch_size=1, bank=None, progress=None):
    """Stylise every job of a plan (jobs.plan_jobs) and write its file; `progress(n)` is told of
    each batch."""
    styles = style_images(request) if request.preserve_color else resolve_styles(stylizer, request, bank)
    content_check = request.content_check()
    masks = [open_image(m, check_size=content_check).convert("L") for m in request.masks] if request.masks else None
    batchable = masks is None and not request.preserve_color
    options = dict(alpha=request.alpha, content_size=request.content_size, crop=request.crop)
    if not is_image_name(plan.output):
        _make_folder(plan.output)
    for run in batches(plan.jobs, batch_size, batchable):
        contents = [open_image(job.content, check_size=content_check) for job in run]
        style = styles[run[0].style_key]
        if request.preserve_color:  # one content per run: the style takes its colours
            style = colour_preserved(stylizer, request, style, contents[0])
        if len(run) == 1:
            results = [stylizer.transfer(contents[0], style, masks=masks, **options)]
        else:
            results = stylizer.transfer_batch(contents, style, **options)
        for result, job in zip(results, run):
            save_image(result, job.output)
        if progress is not None:
            progress(len(run))


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StylizeError(f"cannot create output folder {folder}: {e.strerror or e}") from None


def probe_video(request):
    """The input video of a checked VideoRequest, probed (its frame size checked against the
    pixel limit) before any model loads."""
    from stylize.media.video import probe  # PyAV loads only for videos

    return probe(request.style.contents[0], check_size=size_limit(request.style.max_pixels, request.size, "--size"))


def run_video(stylizer, request, info, bank=None, batch_size=2, progress=None):
    """Stylise a checked VideoRequest whose input `probe_video` read as `info`; returns
    (frames written, (width, height) of the output)."""
    from stylize.media.video import stylize_video
    from stylize.pipelines.frames import FrameStylizer  # OpenCV and PyAV load only for videos

    frames = FrameStylizer(stylizer.engine, frame_style(stylizer, request.style, bank), request.style.alpha,
                           request.size, request.temporal)
    written = stylize_video(frames, request.style.contents[0], info, request.output, request.start,
                            request.duration, batch_size, progress=progress)
    return written, frames.output_size(info.width, info.height)
