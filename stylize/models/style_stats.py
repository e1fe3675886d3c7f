"""StyleStats: what a style is to every model, the per-channel mean and std of VGG-19's
relu1_1..relu4_1 taps of a painting (or a bank's learned pairs), with, for a model whose style
layer is attention, the painting's patches (a StyleMemory); and the two ways to combine several:
a blend (one style) and a stack (one style per image of a batch)."""
from dataclasses import dataclass

import torch

from stylize.models.attention import StyleMemory


@dataclass(frozen=True)
class StyleStats:
    """Per-channel mean and std of a style image's relu1_1..relu4_1 taps, each (1, C, 1, 1)
    (None at a tap a bank does not set). Stacked (`stack_styles`), each is (B, C, 1, 1): one
    style per image of a batch."""
    means: tuple
    stds: tuple
    memory: StyleMemory | None = None  # the painting's patches, for the attention style layer

    @classmethod
    def from_pairs(cls, pairs, memory=None):
        """[(mean, std)] per tap (and a StyleMemory) -> StyleStats."""
        means, stds = zip(*pairs)
        return cls(tuple(means), tuple(stds), memory)

    @property
    def rows(self):
        return next(m for m in self.means if m is not None).shape[0]

    def row(self, i):
        """The style of image `i` of a batch (itself when one style serves the whole batch)."""
        return self if self.rows == 1 else self.take(torch.tensor([i]))

    def take(self, rows):
        """The styles at `rows` (a tensor of row indices), stacked in that order."""
        return StyleStats(*(tuple(None if t is None else t[rows.to(t.device)] for t in getattr(self, field))
                            for field in ("means", "stds")), None if self.memory is None else self.memory.take(rows))

    def to(self, device):
        return StyleStats(*(tuple(None if t is None else t.to(device) for t in getattr(self, field))
                            for field in ("means", "stds")), None if self.memory is None else self.memory.to(device))


def _per_tap(styles, combine, combine_memories):
    """One StyleStats whose tap tensors are combine(the styles' tensors of that tap), and whose
    memory is combine_memories(theirs) when every style has one."""
    memories = [s.memory for s in styles]
    return StyleStats(*(tuple(None if parts[0] is None else combine(parts)
                              for parts in zip(*(getattr(s, field) for s in styles)))
                        for field in ("means", "stds")),
                      None if None in memories else combine_memories(memories))


def blend(styles, weights):
    """One StyleStats from several and their weights (summing to 1). AdaIN is affine in the style
    statistics, so blending the statistics blends the outputs; attention matches each place of
    the photo against all the paintings' patches, each painting's weighted by its weight."""
    if len(styles) == 1:
        return styles[0]
    return _per_tap(styles, lambda parts: sum(w * p for w, p in zip(weights, parts)),
                    lambda memories: StyleMemory.blend(memories, weights))


def stack_styles(styles):
    """One StyleStats with a row per style: a batch whose image i takes styles[i]."""
    return _per_tap(styles, torch.cat, StyleMemory.stack)
