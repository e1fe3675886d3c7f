"""Planning and running a request over files: which content x style pairs make which output
files, which of them go through the network together, and writing the results.
"""
import re
from dataclasses import dataclass
from pathlib import Path

from .engine import blend
from .errors import StylizeError
from .images import SAVE_FORMATS, open_image, save_image

DEFAULT_OUTPUT_FOLDER = Path("output")


@dataclass(frozen=True)
class Job:
    """One output image: a content file with a style (`style_key` indexes the plan's styles)."""
    content: Path
    style_key: int
    output: Path


@dataclass(frozen=True)
class Plan:
    jobs: tuple
    output: Path  # the output file (one job) or folder


def safe_label(text):
    """A bank spec such as 'a:0.5,b:0.5' as a file-name part: 'a-0.5+b-0.5'."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text.replace(",", "+").replace(":", "-"))


def is_image_name(path):
    return path.suffix.lower().lstrip(".") in SAVE_FORMATS


def plan_jobs(request, output=None, ext="jpg"):
    """Jobs for a checked request over files. Style keys: one per style image, or a single key
    when the styles are combined (weights, masks) or come from a bank. Jobs are ordered style
    by style, so that consecutive jobs share their style and can be batched."""
    if request.style_name:
        labels = (safe_label(request.style_name),)
    elif request.combines_styles:
        labels = ("+".join(Path(p).stem for p in request.styles),)
    else:
        labels = tuple(Path(p).stem for p in request.styles)
    pairs = [(content, key) for key in range(len(labels)) for content in request.contents]
    single = len(pairs) == 1
    if single and output is not None and is_image_name(output):
        return Plan((Job(Path(request.contents[0]), 0, output),), output)
    folder = output or DEFAULT_OUTPUT_FOLDER
    if is_image_name(folder):
        raise StylizeError(f"--output {folder} is a file name, but this run makes several images; give a folder")
    jobs = tuple(Job(Path(c), key, folder / f"{Path(c).stem}_stylized_{labels[key]}.{ext}") for c, key in pairs)
    return Plan(jobs, folder)


def batches(jobs, size, batchable):
    """Runs of at most `size` consecutive jobs with the same style key (all of length 1 unless
    `batchable`: masks and colour preservation depend on each content image)."""
    run = []
    for job in jobs:
        if run and (not batchable or len(run) == size or job.style_key != run[0].style_key):
            yield run
            run = []
        run.append(job)
    if run:
        yield run


def style_inputs(stylizer, request, bank=None):
    """What each style key stands for: StyleStats computed once, or (with colour preservation,
    which depends on each content image) the style images themselves."""
    if request.blend is not None:
        return [[bank.style_stats(bank.blend_weights(request.blend))]]
    images = [open_image(p, check_size=request.style_check()) for p in request.styles]
    if not request.preserve_color:
        images = [stylizer.prepare_style(img, request.style_size, request.crop) for img in images]
    if request.combines_styles:
        return [images]
    return [[one] for one in images]


def run_plan(stylizer, request, plan, batch_size=1, bank=None, progress=None):
    """Stylise every job of the plan and write its file; `progress(n)` is told of each batch."""
    styles = style_inputs(stylizer, request, bank)
    content_check = request.content_check()
    masks = [open_image(m, check_size=content_check).convert("L") for m in request.masks] if request.masks else None
    batchable = masks is None and not request.preserve_color
    options = dict(alpha=request.alpha, content_size=request.content_size, crop=request.crop)
    if not is_image_name(plan.output):
        _make_folder(plan.output)
    for run in batches(plan.jobs, batch_size, batchable):
        contents = [open_image(job.content, check_size=content_check) for job in run]
        style = styles[run[0].style_key]
        if len(run) == 1:
            results = [stylizer.transfer(contents[0], style, weights=request.style_weights, masks=masks,
                                         preserve_color=request.preserve_color, style_size=request.style_size,
                                         **options)]
        else:
            results = stylizer.transfer_batch(contents, blend(style, request.style_weights or [1.0]), **options)
        for result, job in zip(results, run):
            save_image(result, job.output)
        if progress is not None:
            progress(len(run))


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StylizeError(f"cannot create output folder {folder}: {e.strerror or e}") from None
