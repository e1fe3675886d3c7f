"""Planning a request over files: which content x style pairs make which output files, and
which of them go through the network together (stylize.pipelines.executor runs the plan).
"""
import re
from dataclasses import dataclass
from pathlib import Path

from stylize.errors import StylizeError
from stylize.media.images import SAVE_FORMATS

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
    if folder.suffix and not folder.is_dir():  # out.txt: a file name, not a folder to make
        raise StylizeError(f"--output {folder}: {folder.suffix} is not an image extension (.png, .jpg or .webp); "
                           "to write into a new folder with a dot in its name, make the folder first")
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
