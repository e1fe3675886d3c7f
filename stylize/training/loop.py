"""The loop every trainer shares: steps with a progress bar, periodic atomic checkpoints, resume,
and a clean stop on SIGINT/SIGTERM (the step in flight finishes, a checkpoint is written).

A trainer supplies `step(iteration) -> {loss name: value}` and `state() -> dict` (everything
needed to resume); the loop owns the bar, the signals and the checkpoint files.
"""
import signal
import time
from pathlib import Path

import torch
from tqdm import tqdm

from stylize.files import atomic_write, temporary_of
from stylize.models.weights import load_torch_file

CHECKPOINT_GLOB = "checkpoint_*.pt"
KEEP_CHECKPOINTS = 2


def newest_checkpoint(folder):
    found = sorted(Path(folder).glob(CHECKPOINT_GLOB))
    return found[-1] if found else None


def remove_stale_temporaries(folder):
    """Temporary files (checkpoints, a teacher pool) that a killed run (SIGKILL, power loss) never renamed."""
    for stale in Path(folder).iterdir():
        if temporary_of(stale.name) is not None and stale.is_file():
            stale.unlink(missing_ok=True)


def save_checkpoint(folder, state):
    path = Path(folder) / f"checkpoint_{state['iteration']:08d}.pt"
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    for old in sorted(Path(folder).glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def load_checkpoint(path):
    return load_torch_file(path, "checkpoint")


def resume_path(resume, folder):
    """The checkpoint to resume: a path, the newest in `folder` for 'auto', or None."""
    if not resume:
        return None
    return newest_checkpoint(folder) if resume == "auto" else Path(resume)


class StopRequest:
    """While active, SIGINT/SIGTERM only set a flag, so the loop can checkpoint before it exits."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        self.signal = None
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name


class TrainingLoop:
    """Runs `step` from iteration `start` to `iters`, checkpointing `state()` into `folder`.

    main: whether this process writes (rank 0 under DDP). sync_stop(stopped) -> stopped lets
    ranks agree to stop at the same iteration. after_step(iteration, losses) logs or samples.
    """

    def __init__(self, folder, iters, save_every, desc, main=True, sync_stop=None, after_step=None,
                 images_per_step=None, time_limit=0.0):
        self.folder, self.iters, self.save_every, self.desc = Path(folder), iters, save_every, desc
        self.time_limit = time_limit  # seconds of wall clock for this run; 0: none
        self.images_per_step = images_per_step
        self.main, self.sync_stop, self.after_step = main, sync_stop, after_step
        self.seconds = self.cpu_seconds = 0.0  # spent in steps by this run, wall clock and CPU

    def run(self, step, state, start=0):
        """Returns (last iteration, last losses, the signal that stopped it or None)."""
        iteration, losses, stopped = start, {}, None
        bar = tqdm(total=self.iters, initial=start, disable=not self.main, dynamic_ncols=True, desc=self.desc)
        began = time.perf_counter()
        with StopRequest() as stop:
            while iteration < self.iters:
                tick, tick_cpu = time.perf_counter(), time.process_time()
                losses = step(iteration)
                iteration += 1
                elapsed = time.perf_counter() - tick
                self.seconds += elapsed
                self.cpu_seconds += time.process_time() - tick_cpu
                stopped = stop.signal
                if self.time_limit and time.perf_counter() - began >= self.time_limit:
                    stopped = stopped or f"the time limit ({self.time_limit:g} s)"
                if self.sync_stop is not None:
                    stopped = self.sync_stop(stopped)
                if self.main:
                    bar.update()
                    shown = {k: f"{v:.3f}" for k, v in losses.items()}
                    if self.images_per_step:
                        shown["img_s"] = f"{self.images_per_step / elapsed:.1f}"
                    bar.set_postfix(shown)
                    if self.after_step is not None:
                        self.after_step(iteration, losses)
                    if iteration % self.save_every == 0 or iteration == self.iters or stopped:
                        bar.write(f"saved {save_checkpoint(self.folder, state(iteration, losses))}")
                if stopped:
                    if self.main:
                        bar.write(f"stopped by {stopped} at iteration {iteration}; continue with --resume auto")
                    break
        bar.close()
        return iteration, losses, stopped if iteration < self.iters else None
