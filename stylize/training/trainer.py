"""The one shape of every trainer (the decoder, the fast model, a style bank): a config, then one
loop, as in nanoGPT.

A trainer is built from its config (stylize/training/config.py): `__init__` makes the model, the
optimiser and the data, and takes a checkpoint back (`self.checkpoint`, found here); then

    step(iteration) -> {loss name: value}    one optimiser step
    state(iteration, losses) -> dict          everything a resume needs: the checkpoint
    finish(iteration, losses) -> result       what the run made (the last state, or a written file)

and `run()` drives them through the shared TrainingLoop (progress bar, checkpoints, signals,
time limit). What differs between trainers is their model and losses, never the loop.
"""
import logging
from pathlib import Path

import torch

from stylize.training.lineage import add_segment
from stylize.training.loop import TrainingLoop, load_checkpoint, remove_stale_temporaries, resume_path

log = logging.getLogger(__name__)


class Trainer:
    label = "train"  # the progress bar's name: the command's

    def __init__(self, cfg, folder, command="", rank=0):
        """folder: where checkpoints go; rank: this process's under DDP (only rank 0 writes)."""
        self.cfg, self.command, self.main = cfg, command, rank == 0
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.main:
            remove_stale_temporaries(self.folder)
        torch.manual_seed(cfg.seed + rank)
        path = resume_path(cfg.resume, self.folder)
        self.checkpoint = load_checkpoint(path) if path is not None else None
        if self.checkpoint is not None and self.main:
            log.info("resuming from %s (iteration %d)", path, self.checkpoint["iteration"])
        self.start = 0 if self.checkpoint is None else self.checkpoint["iteration"]
        self.loop = None

    def lineage(self, previous, start):
        """The commands behind the weights: `previous` segments, then this run's from `start`."""
        return add_segment(previous, self.command, start)

    def make_loop(self):
        cfg = self.cfg
        return TrainingLoop(self.folder, cfg.iters, cfg.save_every, self.label,
                            time_limit=cfg.time_limit, images_per_step=cfg.batch_size)

    def spent(self, history):
        """`history`'s wall-clock and CPU seconds plus this run's so far."""
        return {**history, "seconds": history.get("seconds", 0.0) + self.loop.seconds,
                "cpu_seconds": history.get("cpu_seconds", 0.0) + self.loop.cpu_seconds}

    def step(self, iteration):
        raise NotImplementedError

    def state(self, iteration, losses):
        raise NotImplementedError

    def finish(self, iteration, losses):
        return self.state(iteration, losses)

    def run(self):
        self.loop = self.make_loop()
        iteration, losses, _ = self.loop.run(self.step, self.state, self.start)
        return self.finish(iteration, losses)
