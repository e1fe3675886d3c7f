"""Planning a dataset run: which styles and strengths each source image gets, which process
stylises it, and where its outputs go.

Everything here is a pure function of the checked request and each file's path relative to the
source folder: the draw for an image hashes (seed, relative path), never a shared random stream,
so any run, any shard count and any resume pair each image with the same styles and strengths.
"""
import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stylize.errors import StylizeError
from stylize.media.images import list_images


@dataclass(frozen=True, order=True)
class Output:
    """One output image: `style` indexes the sorted style files; paths are relative (POSIX)."""
    source: str
    style: int
    alpha: float
    output: str


@dataclass(frozen=True)
class Plan:
    sources: tuple  # relative paths of this shard's source images, sorted
    outputs: tuple  # their outputs, `per_image` per source, in the same order
    styles: tuple  # relative paths of the style images, sorted
    per_image: int

    def outputs_of(self, index):
        """The outputs of sources[index]."""
        return self.outputs[index * self.per_image:(index + 1) * self.per_image]

    def record(self, out, status, error=None):
        """An output's manifest line."""
        line = {"source": out.source, "style": self.styles[out.style], "alpha": out.alpha, "output": out.output,
                "status": status}
        return line if error is None else {**line, "error": error}


def relative_files(folder):
    """Image files under `folder` as sorted POSIX paths relative to it."""
    return tuple(sorted(p.relative_to(folder).as_posix() for p in list_images(folder)))


def _draws(seed, source):
    """An endless stream of 64-bit numbers that depends only on (seed, source)."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"{seed}\0{source}\0{counter}".encode()).digest()
        for k in range(0, 32, 8):
            yield int.from_bytes(digest[k:k + 8], "big")
        counter += 1


def draw_styles(seed, source, per_image, num_styles, alpha_range):
    """[(style index, alpha)] for one source image: distinct styles while there are enough (a
    partial Fisher-Yates shuffle), then repeats; alpha uniform in alpha_range, to 4 decimals."""
    draws = _draws(seed, source)
    low, high = alpha_range
    swapped, picks = {}, []
    for k in range(per_image):
        if k < num_styles:
            j = k + next(draws) % (num_styles - k)
            picks.append(swapped.get(j, j))
            swapped[j] = swapped.get(k, k)
        else:
            picks.append(next(draws) % num_styles)
    alphas = [round(low + (high - low) * next(draws) / 2 ** 64, 4) for _ in range(per_image)]
    return list(zip(picks, alphas))


def output_name(source, k, per_image, ext):
    """The output of the k-th style of `source`: the same folders and stem, `_k` when several."""
    path = PurePosixPath(source)
    stem = path.stem if per_image == 1 else f"{path.stem}_{k}"
    return (path.parent / f"{stem}.{ext}").as_posix()


def plan_dataset(request, shard=None):
    """The Plan of a checked DatasetRequest for one shard, (index, count): every count-th source
    from the index-th (default: the request's own --shard)."""
    sources = relative_files(request.source)
    check_unique_outputs(sources, request.per_image, request.ext)
    styles = relative_files(request.styles)
    index, count = shard or request.shard
    mine = sources[index::count]
    outputs = []
    for source in mine:
        for k, (style, alpha) in enumerate(draw_styles(request.seed, source, request.per_image, len(styles),
                                                       request.alpha_range)):
            outputs.append(Output(source, style, alpha, output_name(source, k, request.per_image, request.ext)))
    return Plan(tuple(mine), tuple(outputs), styles, request.per_image)


def check_unique_outputs(sources, per_image, ext):
    """Two sources that would write one output (a.jpg and a.png with --ext jpg) are an error."""
    seen = {}
    for source in sources:
        name = output_name(source, 0, per_image, ext)
        if name in seen:
            raise StylizeError(f"{seen[name]} and {source} would both be written as {name}; rename one of them")
        seen[name] = source


def source_path(request, source):
    return Path(request.source) / source


def output_path(request, output):
    return Path(request.output) / output
