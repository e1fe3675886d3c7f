"""The teacher pool: the quality model's paintings of a fixed set of (content crop, style crop)
pairs, made once, for the fast model to learn from.

A teacher output costs a VGG-19 pass over both crops and the big decoder; made once per pair and
kept (uint8 crops, float32 style statistics), a student step needs no pass through the quality
model at all. The pool lives in the run folder (`teacher_pool.pt`), so a resumed run reuses it;
its settings say which teacher and data made it, and a run with other settings makes a new one.
"""
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from stylize.files import atomic_write
from stylize.models.style_stats import StyleStats, stack_styles
from stylize.models.weights import load_torch_file
from stylize.pipelines.engine import Engine

log = logging.getLogger(__name__)
POOL_FILE = "teacher_pool.pt"


def to_bytes(images):
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def to_floats(images, device):
    return images.to(device, non_blocking=True).float().div_(255).contiguous(memory_format=torch.channels_last)


@dataclass
class TeacherPool:
    """N pairs: contents, styles, outputs (N, 3, S, S) uint8; the styles' VGG-19 statistics as
    means and stds, one (N, C) float32 tensor per level; the settings that made them."""
    contents: torch.Tensor
    styles: torch.Tensor
    outputs: torch.Tensor
    means: tuple
    stds: tuple
    settings: dict

    def __len__(self):
        return len(self.contents)

    def batch(self, indices, device):
        """(content, style, teacher output) float images on `device`, and the styles' StyleStats."""
        images = (to_floats(part[indices], device) for part in (self.contents, self.styles, self.outputs))
        stats = StyleStats(*(tuple(t[indices].to(device)[..., None, None] for t in part)
                             for part in (self.means, self.stds)))
        return (*images, stats)

    def state(self):
        return {"contents": self.contents, "styles": self.styles, "outputs": self.outputs,
                "means": list(self.means), "stds": list(self.stds), "settings": self.settings}


@torch.inference_mode()
def make_pool(teacher: Engine, loaders, size, settings):
    """`size` pairs from loaders() -> endless (content, style) iterators of (images, skipped)
    batches, painted by `teacher` (the quality model's Engine)."""
    contents, styles = loaders()
    parts = {"contents": [], "styles": [], "outputs": [], "means": [], "stds": []}
    made = 0
    with tqdm(total=size, desc="teacher pool", unit="pair") as bar:
        while made < size:
            (content, _), (style, _) = next(contents), next(styles)
            # the teacher's own reading of each crop: an attention teacher paints from its patches
            stats = stack_styles([teacher.style_stats(image) for image in style])
            output = teacher.decode(*teacher.stylize_features(teacher.encode(content), stats))
            take = min(len(content), size - made)
            for name, value in (("contents", to_bytes(content)), ("styles", to_bytes(style)),
                                ("outputs", to_bytes(output))):
                parts[name].append(value[:take])
            parts["means"].append([m.flatten(1)[:take].cpu() for m in stats.means])
            parts["stds"].append([s.flatten(1)[:take].cpu() for s in stats.stds])
            made += take
            bar.update(take)
    return TeacherPool(*(torch.cat(parts[name]) for name in ("contents", "styles", "outputs")),
                       *(tuple(torch.cat(level) for level in zip(*parts[name])) for name in ("means", "stds")),
                       settings)


def load_or_make_pool(folder, teacher, loaders, size, settings):
    """The run folder's pool if the same settings made it, else a new one, saved there."""
    path = Path(folder) / POOL_FILE
    if path.exists():
        state = load_torch_file(path, "teacher pool")
        if state.get("settings") == settings:
            log.info("teacher pool: %d pairs from %s", len(state["contents"]), path)
            return TeacherPool(state["contents"], state["styles"], state["outputs"], tuple(state["means"]),
                               tuple(state["stds"]), state["settings"])
        log.info("teacher pool in %s was made with other settings; making a new one", path)
    pool = make_pool(teacher, loaders, size, settings)
    atomic_write(path, lambda tmp: torch.save(pool.state(), tmp))
    log.info("teacher pool: made %d pairs, saved to %s", len(pool), path)
    return pool
