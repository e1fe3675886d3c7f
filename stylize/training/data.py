"""Training data: image folders read recursively, random crops, and an endless seeded sampler.

The sampler draws batch i from a generator seeded by (seed, rank, i), and hands each image its
own crop seed, so the data a run sees depends only on the iteration number: a resumed run gets
exactly the batches the uninterrupted run would have, whatever the number of workers.
"""
import logging
import random
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from stylize.errors import StylizeError
from stylize.media.images import list_images, open_image, resize_shorter, to_tensor
from stylize.training.seeds import seed_of

log = logging.getLogger(__name__)
MIN_SIDE = 32  # anything smaller is an icon, not a training image


class ImageFolder(Dataset):
    """Every image under `root`, resized (shorter side = image_size) and randomly cropped.

    An unreadable or tiny file is skipped with a warning (another image is drawn in its place);
    each sample reports how many files it had to skip, so the training loop can count them.
    """

    def __init__(self, root, image_size=512, crop_size=256):
        self.files = list_images(root)
        if not self.files:
            raise StylizeError(f"no images found in {root} (looked for .jpg, .png, .webp, ... recursively)")
        self.image_size, self.crop_size = image_size, crop_size

    def __len__(self):
        return len(self.files)

    def _load(self, path, rng):
        img = open_image(path)
        if min(img.size) < MIN_SIDE:
            raise StylizeError(f"image too small ({img.size[0]}x{img.size[1]}): {path}")
        img = resize_shorter(img, max(self.image_size, self.crop_size))
        w, h = img.size
        left, top = rng.randrange(w - self.crop_size + 1), rng.randrange(h - self.crop_size + 1)
        return to_tensor(img.crop((left, top, left + self.crop_size, top + self.crop_size)))

    def __getitem__(self, item):
        index, crop_seed = item
        rng = random.Random(crop_seed)
        for skipped in range(len(self.files)):
            path = self.files[(index + skipped) % len(self.files)]
            try:
                return self._load(path, rng), skipped
            except StylizeError as e:
                log.warning("skipping training image: %s", e)
        raise StylizeError(f"none of the {len(self.files)} images could be read")


def source_of(path):
    """The source an image came from: its folder under the root if it has one (WikiArt's
    style folders), else its name up to the first '_' (scripts/build_dataset.py's <source>_<name>)."""
    return path.parent.name if len(path.parts) > 1 else path.name.split("_", 1)[0]


def capped_weights(files, cap):
    """Draw weights that count a source as if it had at most `cap` x (all files) images: a source
    of n files weighs min(n, cap * total), shared by its files. (Wesnoth's figures are 64 % of the
    Debian style set; uncapped, their dark outlines become the decoder's idea of paint.)"""
    sources = [source_of(f) for f in files]
    counts = {s: sources.count(s) for s in set(sources)}
    limit = cap * len(files)
    return torch.tensor([min(counts[s], limit) / counts[s] for s in sources], dtype=torch.float64)


class EndlessSampler(Sampler):
    """Yields (index, crop seed) pairs forever, batch_size per iteration, from iteration `start`.

    Rank r of `world` draws only from indices r, r + world, ...: its own shard of the folder.
    With `weights` (one per image), draws follow them instead of being uniform.
    """

    def __init__(self, size, batch_size, seed=0, start=0, rank=0, world=1, weights=None):
        self.shard = torch.arange(rank, size, world) if size >= world else torch.arange(size)
        self.batch_size, self.seed, self.start, self.rank = batch_size, seed, start, rank
        self.weights = None if weights is None else weights[self.shard]

    def __iter__(self):
        iteration = self.start
        while True:
            g = torch.Generator().manual_seed(seed_of(self.seed, self.rank, iteration))
            if self.weights is None:
                picks = self.shard[torch.randint(len(self.shard), (self.batch_size,), generator=g)]
            else:
                picks = self.shard[torch.multinomial(self.weights, self.batch_size, replacement=True, generator=g)]
            crop_seeds = torch.randint(2**31, (self.batch_size,), generator=g)
            yield from zip(picks.tolist(), crop_seeds.tolist())
            iteration += 1


def collate(batch):
    images, skipped = zip(*batch)
    return torch.stack(images), sum(skipped)


def endless_loader(folder, image_size, crop_size, batch_size, seed, workers, start=0, rank=0, world=1, source_cap=0.0):
    """(dataset, iterator of (batch, skipped files) from iteration `start` on) for an image folder.
    source_cap: see capped_weights (0: uniform draws)."""
    dataset = ImageFolder(folder, image_size, crop_size)
    relative = [Path(f).relative_to(folder) for f in dataset.files]
    weights = capped_weights(relative, source_cap) if source_cap else None
    sampler = EndlessSampler(len(dataset), batch_size, seed, start, rank, world, weights)
    loader = DataLoader(dataset, batch_size, sampler=sampler, num_workers=workers,
                        collate_fn=collate, pin_memory=False, persistent_workers=workers > 0)
    return dataset, iter(loader)
