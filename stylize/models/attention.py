"""The attention style layer: each place of the photo takes the painting's own patches.

AdaIN hands the decoder a painting's per-channel mean and std: a photo keeps its local colours
and the decoder invents the marks. Here (a soft patch swap, after Chen & Schmidt 2016 and the
attention of SANet/AdaAttN, with no learned parameters) every position of the photo is matched,
by the cosine similarity of instance-normalised relu3_1 (relu4_1 for relu4_1), against the
painting's positions, and its tap becomes the softmax-weighted average of the painting's patches
of that tap: the painting's palette and brushwork, placed where the photo's structure asks for
them. At the finer taps a match carries the whole patch under it (4x4 at relu1_1, 2x2 at relu2_1).
A match also weighs local colour and tone (relu1_1 averaged over the key's place, ranked within
its own image), so the photo's dark masses take the painting's dark passages, its light the light.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from stylize.models.networks import RELU1_1, RELU3_1
from stylize.models.style_layers import mean_std

TEMPERATURE = 0.05  # softmax temperature on cosine similarities: lower copies single patches
MAX_POSITIONS = 4096  # the painting is matched on at most ~64x64 relu3_1 positions (time and memory grow with it)
GUIDE_WEIGHT = 1.0  # local colour and tone against the features' pattern in a match (0: pattern only)
QUERY_CHUNK = 4096  # photo positions matched at once: bounds the similarity matrix's memory


def key_level(level):
    """The tap whose features decide the match at `level`: relu3_1 for relu1_1..relu3_1."""
    return max(level, RELU3_1)


def memory_size(height, width):
    """The (height, width), multiples of 8, a painting is read at for its memory: its own if its
    relu3_1 grid has at most MAX_POSITIONS positions, else scaled down to that."""
    scale = min(1.0, math.sqrt(MAX_POSITIONS * 16 / (height * width)))
    return max(8, int(height * scale) // 8 * 8), max(8, int(width * scale) // 8 * 8)


def guide_name(level):
    """The key of the guide at `level` among a photo's whole-image statistics (tiles)."""
    return ("guide", level)


def _guide(taps, level):
    """relu1_1 averaged over each position of key level `level`: the local colour and tone there."""
    return F.avg_pool2d(taps[RELU1_1].float(), 2 ** level)


def guides(taps, levels):
    """{guide_name(k): the guide at k} for the key levels of `levels`: what a match weighs beside
    the features' pattern."""
    return {guide_name(k): _guide(taps, k) for k in {key_level(level) for level in levels}}


def _unit(tap, stats=None):
    """(B, C, h, w) -> (B, h*w, C) unit vectors of the instance-normalised features; `stats`
    (mean, std) replaces the tap's own (a tile of a large photo uses the whole photo's)."""
    mean, std = mean_std(tap) if stats is None else stats
    return F.normalize(((tap - mean) / std).flatten(2).transpose(1, 2), dim=2)


def _keys(taps, level, stats=None):
    """(B, h*w, C + 64) unit keys at key level `level`: the instance-normalised pattern and,
    weighted by GUIDE_WEIGHT, the guide. stats: whole-image (mean, std) by level and guide_name."""
    pattern = _unit(taps[level].float(), stats[level] if stats else None)
    tone = _unit(_guide(taps, level), stats[guide_name(level)] if stats else None)
    return F.normalize(torch.cat([pattern, GUIDE_WEIGHT * tone], dim=2), dim=2)


def _patches(tap, factor):
    """(B, C, H, W) -> (B, (H/f)*(W/f), C*f*f): the f x f patch of the tap under each key position."""
    return (F.pixel_unshuffle(tap, factor) if factor > 1 else tap).flatten(2).transpose(1, 2)


@dataclass(frozen=True)
class StyleMemory:
    """What the attention layer keeps of a painting, or of several blended or stacked: per key
    level its unit keys (B, M, C) and a log-prior per position (B, M): the log of a blend's weight
    for that painting's positions, -inf for padding; per stylised level its patches (B, M, C*f*f)."""
    keys: dict
    values: dict
    prior: torch.Tensor

    @classmethod
    def of(cls, style_taps, levels):
        """The memory of a painting's encoder taps (of an image whose sides are multiples of 8,
        see memory_size) for the stylised `levels`."""
        keys = {k: _keys(style_taps, k) for k in {key_level(level) for level in levels}}
        values = {level: _patches(style_taps[level].float(), 2 ** (key_level(level) - level)) for level in levels}
        return cls(keys, values, {k: key.new_zeros(key.shape[:2]) for k, key in keys.items()})

    def _map(self, fn):
        return StyleMemory(*({k: fn(v) for k, v in part.items()} for part in (self.keys, self.values, self.prior)))

    def to(self, device):
        return self._map(lambda t: t.to(device))

    def take(self, rows):
        return self._map(lambda t: t[rows.to(t.device)])

    @staticmethod
    def blend(memories, weights):
        """One memory holding every painting's positions, each weighted by its painting's weight
        (a prior on the softmax): the photo's places pick from all of them in that proportion."""
        def log_weighted(prior, weight):
            return prior + math.log(weight) if weight > 0 else torch.full_like(prior, -math.inf)

        return StyleMemory({k: torch.cat([m.keys[k] for m in memories], 1) for k in memories[0].keys},
                           {k: torch.cat([m.values[k] for m in memories], 1) for k in memories[0].values},
                           {k: torch.cat([log_weighted(m.prior[k], w) for m, w in zip(memories, weights)], 1)
                            for k in memories[0].prior})

    @staticmethod
    def stack(memories):
        """One memory with a row per painting (a batch whose image i takes memories[i]),
        padded to the longest with positions of prior -inf."""
        def stacked(tensors, fill):
            longest = max(t.shape[1] for t in tensors)
            # F.pad counts from the last dimension: positions are dimension 1 of (B, M) and (B, M, C)
            return torch.cat([F.pad(t, (0, 0) * (t.dim() - 2) + (0, longest - t.shape[1]), value=fill)
                              for t in tensors])

        return StyleMemory(*({k: stacked([getattr(m, part)[k] for m in memories], fill)
                              for k in getattr(memories[0], part)}
                             for part, fill in (("keys", 0.0), ("values", 0.0), ("prior", -math.inf))))


def swap_taps(content_taps, memory, levels, content_stats=None, temperature=TEMPERATURE):
    """Encoder taps with each of `levels` replaced by the painting's patches, matched per
    position. content_stats: (mean, std) by level and guide_name to normalise the photo's keys
    with instead of the taps' own (a tile of a large photo uses the whole photo's)."""
    out = list(content_taps)
    for k in sorted({key_level(level) for level in levels}):
        tap = content_taps[k]
        queries = _keys(content_taps, k, content_stats)
        keys, prior = memory.keys[k].to(queries), memory.prior[k].to(queries)
        weights = [torch.softmax(torch.baddbmm(prior[:, None, :], q, keys.transpose(1, 2), alpha=1 / temperature),
                                 dim=2) for q in queries.split(QUERY_CHUNK, dim=1)]
        h, w = tap.shape[-2:]
        for level in (level for level in levels if key_level(level) == k):
            values = memory.values[level].to(queries)
            mixed = torch.cat([a @ values for a in weights], dim=1).transpose(1, 2).reshape(len(tap), -1, h, w)
            factor = 2 ** (k - level)
            out[level] = F.pixel_shuffle(mixed, factor) if factor > 1 else mixed
    return out
