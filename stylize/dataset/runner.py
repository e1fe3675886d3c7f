"""Running a dataset plan: skip what is finished, encode the styles still needed once each,
decode the sources in DataLoader workers, stylise them in batches (each image with its own
style and strength), write each output atomically and record it in this process's manifest part.
"""
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image
from torch.utils.data import DataLoader, Dataset

from stylize.dataset.manifest import ManifestPart, check_settings, merge_manifest, read_records, writing
from stylize.dataset.plan import output_path, source_path
from stylize.errors import StylizeError
from stylize.files import temporary_of
from stylize.media.images import open_image, prepare, save_image, to_frame, to_tensor
from stylize.pipelines.stylizer import stylize_by_size

COUNTS = ("done", "skipped", "failed")
WRITER_THREADS = 4  # encode and write beside a GPU (PIL's encoders release the GIL)
WRITES_AHEAD = 64  # stylised outputs waiting for a writer, at most


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self):
        """Outputs made per second of stylising (decode, network, encode, write; not the model's
        loading or the styles' encoding)."""
        return self.done / self.seconds if self.seconds else 0.0

    def counts(self):
        return {name: getattr(self, name) for name in COUNTS}

    def __str__(self):
        return (f"{self.done} done, {self.skipped} skipped (already there), {self.failed} failed, in "
                f"{self.seconds:.1f} s: {self.images_per_second:.1f} images/s")


def is_readable(path):
    try:
        with Image.open(path) as img:
            img.verify()
        return True
    except (OSError, SyntaxError, ValueError):
        return False


def remove_temporaries(paths):
    """Half-written files a killed run left beside any of `paths` (one listing per folder; only
    this shard's, so shards running beside each other keep theirs)."""
    by_folder = {}
    for path in paths:
        by_folder.setdefault(path.parent, set()).add(path.name)
    for folder, names in by_folder.items():
        if folder.is_dir():
            for entry in os.scandir(folder):
                if temporary_of(entry.name) in names:
                    os.unlink(entry.path)


class SourceImages(Dataset):
    """Plan indices of sources -> (index, (3, H, W) tensor or None, error text or None)."""

    def __init__(self, request, sources, indices):
        self.request, self.sources, self.indices = request, sources, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        index = self.indices[i]
        name = self.sources[index]
        try:
            image = open_image(source_path(self.request, name), name, check_size=self.request.content_check())
            return index, to_tensor(prepare(image, self.request.size, self.request.crop)), None
        except StylizeError as e:  # a corrupt or unreadable source is recorded, never fatal
            return index, None, str(e)


def _as_list(batch):
    return batch


class DatasetRun:
    """One process's run over its plan. Opening it writes or checks dataset.json and opens this
    shard's manifest part; `check` finds what is left (`todo`, and the `style_indices` it uses),
    `encode_styles` encodes those styles and `stylize` makes it, in that order."""

    def __init__(self, stylizer, request, plan, shard, settings):
        self.stylizer, self.request, self.plan = stylizer, request, plan
        self.summary = Summary()
        with writing(request.output):
            request.output.mkdir(parents=True, exist_ok=True)
        check_settings(request.output, settings)
        self.part = ManifestPart(request.output, shard)
        self.pending, self.todo, self.style_indices = [], set(), []
        self.styles = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.part.close()

    def check(self, progress=None):
        """Find the outputs still to make: finished ones (there and readable) are skipped, and
        recorded if a kill came between a file and its record; unreadable ones and temporaries
        are removed. `progress(1)` after each source."""
        records = read_records(self.request.output)
        remove_temporaries([output_path(self.request, out.output) for out in self.plan.outputs])
        for index in range(len(self.plan.sources)):
            for out in self.plan.outputs_of(index):
                path = output_path(self.request, out.output)
                if path.exists() and is_readable(path):
                    self.summary.skipped += 1
                    if records.get(out.output, {}).get("status") != "done":
                        self.part.write(self.plan.record(out, "done"))
                    continue
                path.unlink(missing_ok=True)
                self.todo.add(out.output)
                if not self.pending or self.pending[-1] != index:
                    self.pending.append(index)
            if progress is not None:
                progress(1)
        self.style_indices = sorted({out.style for out in self.plan.outputs if out.output in self.todo})

    def encode_styles(self, progress=None):
        """Each needed style's StyleStats, once; `progress(1)` after each."""
        for style in self.style_indices:
            name = self.plan.styles[style]
            image = open_image(self.request.styles / name, name, check_size=self.request.style_check())
            self.styles[style] = self.stylizer.prepare_style(image, self.request.style_size)
            if progress is not None:
                progress(1)

    def stylize(self, batch_size=1, workers=0, progress=None):
        """Make every output still to do; `progress(n)` as n are written or fail. Returns the
        Summary of this process.

        On a CPU with workers, each DataLoader worker runs the whole pipeline on its batches
        with its own one-thread copy of the network (two one-thread processes outrun one
        two-thread process on small convolutions); on a GPU, the workers decode and this
        process runs the network, with threads encoding and writing."""
        started = time.perf_counter()
        maker = OutputMaker(self.stylizer.engine, self.request, self.plan, self.styles, self.todo)
        in_workers = workers > 0 and self.stylizer.engine.device.type == "cpu"
        loader = DataLoader(SourceImages(self.request, self.plan.sources, self.pending),
                            batch_size=max(1, batch_size // self.plan.per_image), num_workers=workers,
                            collate_fn=maker.make if in_workers else _as_list)
        with ThreadPoolExecutor(max_workers=WRITER_THREADS) as writers:
            writing = deque()
            for batch in loader:
                if in_workers:
                    results, write_error = batch
                    for out, error in results:
                        self._record(out, error, progress)
                    if write_error is not None:  # a worker could not write (a full disk): stop, as without workers
                        raise StylizeError(write_error)
                    continue
                failed, made = maker.stylise(batch)
                for out, error in failed:
                    self._record(out, error, progress)
                writing.extend((out, writers.submit(maker.write, out, frame)) for out, frame in made)
                while writing and (writing[0][1].done() or len(writing) > WRITES_AHEAD):
                    out, future = writing.popleft()
                    self._record(out, future.result(), progress)  # a write's error (a full disk) raises here
            for out, future in writing:
                self._record(out, future.result(), progress)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _record(self, out, error, progress):
        """Record an output as done (error None) or failed."""
        status = "done" if error is None else "failed"
        self.part.write(self.plan.record(out, status, error))
        setattr(self.summary, status, getattr(self.summary, status) + 1)
        if progress is not None:
            progress(1)


class OutputMaker:
    """Loaded sources (SourceImages items) -> written outputs, each with its own style row and
    strength; images of one size go through the network together."""

    def __init__(self, engine, request, plan, styles, todo):
        self.engine, self.request, self.plan, self.styles, self.todo = engine, request, plan, styles, todo

    def stylise(self, items):
        """-> ([(Output, error)] of unreadable sources, [(Output, stylised HxWx3 uint8 frame)]);
        the frames are made on the network's device (a quarter of the bytes to copy back)."""
        failed, jobs = [], []
        for index, tensor, error in items:
            for out in self.plan.outputs_of(index):
                if out.output in self.todo:
                    (failed.append((out, error)) if tensor is None else jobs.append((out, tensor)))
        results = stylize_by_size(self.engine, [t for _, t in jobs], [self.styles[out.style] for out, _ in jobs],
                                  [out.alpha for out, _ in jobs])
        return failed, [(out, to_frame(result)) for (out, _), result in zip(jobs, results)]

    def write(self, out, frame):
        """Write one output atomically; returns None (no error)."""
        path = output_path(self.request, out.output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StylizeError(f"cannot create output folder {path.parent}: {e.strerror or e}") from None
        save_image(frame, path)

    def make(self, items):
        """stylise and write, in a DataLoader worker: -> ([(Output, error or None)], the error
        that stopped the writing or None). A write error comes back as text: raised in the worker,
        the DataLoader would wrap it in the worker's traceback."""
        results, made = self.stylise(items)
        for out, frame in made:
            try:
                results.append((out, self.write(out, frame)))
            except StylizeError as e:
                return results, str(e)
        return results, None


def finish(request, process, summary):
    """After this process's run: on rank 0, the merged manifest and the Summary over every rank
    (they wait for each other here under torchrun; its time is the slowest rank's); None
    elsewhere. Each --shard process merges as it ends, so the last shard to finish leaves the
    complete manifest."""
    totals = process.total(summary.counts())
    seconds = process.slowest(summary.seconds)
    if process.rank != 0:
        return None
    merge_manifest(request.output)
    return Summary(**{k: int(v) for k, v in totals.items()}, seconds=seconds)
