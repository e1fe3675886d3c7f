"""Training the AdaIN decoder (Huang & Belongie 2017, section 6).

Content images (COCO in the paper) and style images (WikiArt) are encoded by the frozen VGG;
AdaIN aligns the content's relu4_1 statistics to the style's, giving the target t; the decoder
turns t into an image g(t), which is encoded again and scored with the losses of
stylize.training.losses; only the decoder learns. The same script runs on one CPU, one GPU, or many GPUs under
torchrun (DistributedDataParallel, one data shard per rank, rank 0 writes everything).
"""
import logging
import os
from dataclasses import asdict

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from stylize.device import pick_device
from stylize.errors import StylizeError
from stylize.files import atomic_write
from stylize.media.images import to_image
from stylize.models.networks import RELU4_1, Decoder
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import load_decoder, load_encoder
from stylize.training.averaging import WeightAverage
from stylize.training.config import TrainConfig
from stylize.training.data import endless_loader
from stylize.training.lineage import commands_of
from stylize.training.loop import TrainingLoop
from stylize.training.losses import gram_loss, gram_matrix, identity_losses, inverse_decay, losses_of_taps
from stylize.training.precision import MixedPrecision
from stylize.training.trainer import Trainer

log = logging.getLogger(__name__)


class Painter(nn.Module):
    """A StyleTransferModel's `paint` as a module's forward: DistributedDataParallel syncs the
    gradients of what runs in the forward of the module it wraps."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, taps, stats, alpha=1.0):
        return self.model.paint(taps, stats, alpha)


def style_transfer_losses(model, content, style, gram=False, paint=None):
    """({"content", "style"[, "gram"]: losses}, painted images) for one batch of (content, style)
    images: the paper's losses, and with `gram` the Gram-matrix style loss beside them.
    paint(taps, StyleStats): model.paint unless given (a Painter under DDP).

    The content target is what the decoder is given: AdaIN's t at relu4_1 (the paper's), or for
    a decoder of the attention style layer every tap it reads, the painting's patches as they were
    placed (the decoder must paint what it was handed, not its own marks). Only the pass over the
    painted output carries gradients.
    """
    with torch.no_grad():
        stats = model.style_stats(style)
        taps = model.encoder(content)
        targets = model.stylize(taps, model.condition(stats))[0]
    output = (paint or model.paint)(taps, stats)
    out_taps = model.encoder(output)
    style_pairs = list(zip(stats.means, stats.stds))
    losses = dict(zip(("content", "style"), losses_of_taps(out_taps, targets[RELU4_1], style_pairs)))
    if model.attention:
        losses["content"] = sum(F.mse_loss(out_taps[level].float(), targets[level].float()) for level in model.reads)
    if gram:
        with torch.no_grad():
            style_grams = [gram_matrix(t) for t in model.encoder(style)]
        losses["gram"] = gram_loss(out_taps, style_grams)
    return losses, output


def decoded_identity_losses(model, photos, paintings, paint=None):
    """identity_losses of photos painted at strength 0 and of paintings painted in their own style
    at strength 1: each must come back (for the skip decoder the two are the same; the fade
    decoder paints a painting by itself from relu4_1 alone)."""
    images = torch.cat([photos, paintings])
    alpha = torch.cat([images.new_zeros(len(photos)), images.new_ones(len(paintings))])
    with torch.no_grad():
        own = model.encoder(images)
        stats = model.style_stats(images)
    return identity_losses(model.encoder, (paint or model.paint)(own, stats, alpha), images, own)


def learning_rate(cfg, iteration, iterations_before=0):
    """The inverse decay over all iterations (a warm start's included), times a linear ramp over
    this run's first cfg.warmup iterations."""
    ramp = min(1.0, (iteration + 1) / cfg.warmup) if cfg.warmup else 1.0
    return ramp * inverse_decay(cfg.lr, cfg.lr_decay, iterations_before + iteration)


def _setup_distributed(cfg):
    """(rank, world, device): torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; alone, it is (0, 1, ...)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world == 1:
        return 0, 1, pick_device(cfg.device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(cfg.device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _sample_grid(content, style, output, path, writer, iteration):
    """Rows content | style | output of up to 4 pairs, 2 px apart, as a PNG and in TensorBoard."""
    n = min(4, content.shape[0])
    rows = [torch.cat(list(F.pad(batch[:n].float().clamp(0, 1).cpu(), (1, 1, 1, 1))), dim=2)
            for batch in (content, style, output)]
    grid = torch.cat(rows, dim=1)
    atomic_write(path, lambda tmp: to_image(grid).save(tmp, format="PNG"))
    writer.add_image("samples (content | style | output)", grid, iteration)


def _starting_point(cfg, checkpoint):
    """(decoder, history, the commands behind it): a resumed checkpoint's, a warm start's, or fresh."""
    if checkpoint is not None:
        decoder = Decoder(checkpoint["architecture"], style_layer=checkpoint.get("style_layer", "adain"))
        decoder.load_state_dict(checkpoint["decoder"])
        return decoder, checkpoint["history"], commands_of(checkpoint)
    if cfg.init:  # warm start: the iteration count (and so the lr decay) continues from the file's
        decoder = load_decoder(cfg.init)
        wiring = (cfg.architecture or decoder.architecture, cfg.style_layer or decoder.style_layer)
        if wiring != (decoder.architecture, decoder.style_layer):  # same parameters, other wiring or inputs
            rewired = Decoder(wiring[0], style_layer=wiring[1])
            rewired.load_state_dict(decoder.state_dict())
            rewired.metadata, decoder = decoder.metadata, rewired
        history = {"iterations_before": decoder.metadata.get("iterations", 0),
                   "seconds_before": decoder.metadata.get("train_seconds", 0.0),
                   "cpu_seconds_before": decoder.metadata.get("train_cpu_seconds", 0.0), "init": cfg.init}
        return decoder, history, commands_of(decoder.metadata)
    return (Decoder(cfg.architecture or "plain", style_layer=cfg.style_layer or "adain"),
            {"iterations_before": 0, "seconds_before": 0.0}, [])


class DecoderTrainer(Trainer):
    """Trains until cfg.iters or a stop signal; `run()` returns the final checkpoint state (rank 0)."""

    def __init__(self, cfg: TrainConfig, command=""):
        self.rank, self.world, self.device = _setup_distributed(cfg)
        super().__init__(cfg, cfg.out, command, rank=self.rank)
        device = self.device
        self.encoder = load_encoder(cfg.vgg).to(device, memory_format=torch.channels_last)
        decoder, self.history, previous = _starting_point(cfg, self.checkpoint)
        self.decoder = decoder.to(device, memory_format=torch.channels_last).train()
        self.optimizer = torch.optim.Adam(self.decoder.parameters(), lr=cfg.lr)
        self.precision = MixedPrecision(cfg.amp, device)
        self.average = WeightAverage({"decoder": self.decoder}, cfg.ema_decay)  # exported instead of the weights
        if self.checkpoint is not None:
            self.optimizer.load_state_dict(self.checkpoint["optimizer"])
            self.precision.load_state_dict(self.checkpoint["scaler"])
            self.average.load(self.checkpoint.get("average"))  # older checkpoints have none: it starts here
            torch.set_rng_state(self.checkpoint["rng"]["torch"])
        self.model = StyleTransferModel("quality", self.encoder, self.decoder)
        self.paint = DistributedDataParallel(Painter(self.model)) if self.world > 1 else self.model.paint
        self.commands = self.lineage(previous, self.history.get("iterations_before", 0) + self.start)
        load = dict(image_size=cfg.image_size, crop_size=cfg.crop_size, batch_size=cfg.batch_size,
                    workers=cfg.workers, start=self.start, rank=self.rank, world=self.world, source_cap=cfg.source_cap)
        content_set, self.contents = endless_loader(cfg.content_dir, seed=cfg.seed, **load)
        style_set, self.styles = endless_loader(cfg.style_dir, seed=cfg.seed + 1, **load)
        self.data = {"content_dir": cfg.content_dir, "content_images": len(content_set),
                     "style_dir": cfg.style_dir, "style_images": len(style_set)}
        self.writer, self.skipped, self.last = None, 0, {}
        if self.main:
            log.info("training %s decoder on %d content and %d style images, %s, world size %d, iterations %d..%d",
                     self.decoder.architecture, len(content_set), len(style_set), device, self.world, self.start,
                     cfg.iters)
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(self.folder / "tensorboard"), purge_step=self.start)

    def step(self, iteration):
        cfg, device = self.cfg, self.device
        (content, content_skips), (style, style_skips) = next(self.contents), next(self.styles)
        self.skipped += content_skips + style_skips
        content = content.to(device, memory_format=torch.channels_last)
        style = style.to(device, memory_format=torch.channels_last)
        lr = learning_rate(cfg, iteration, self.history["iterations_before"])
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self.precision.autocast():
            # weighted 0 (a decoder trained only to invert VGG-19), they are still measured and sampled
            with torch.set_grad_enabled(bool(cfg.content_weight or cfg.style_weight or cfg.gram_weight)):
                losses, output = style_transfer_losses(self.model, content, style, gram=bool(cfg.gram_weight),
                                                       paint=self.paint)
            if cfg.identity_pixel_weight or cfg.identity_feature_weight:
                # photos and paintings alike must come back; half of each, so that this costs what the
                # stylised batch costs
                half = max(1, cfg.batch_size // 2)
                losses["id_pixel"], losses["id_feature"] = decoded_identity_losses(
                    self.model, content[:half], style[:half], paint=self.paint)
        weights = {"content": cfg.content_weight, "style": cfg.style_weight, "gram": cfg.gram_weight,
                   "id_pixel": cfg.identity_pixel_weight, "id_feature": cfg.identity_feature_weight}
        loss = sum(weights[name] * value for name, value in losses.items())
        if not torch.isfinite(loss):
            raise StylizeError(f"loss became {loss.item()} at iteration {iteration}; lower --lr or drop --amp")
        self.precision.step(loss, [self.optimizer])
        self.average.update()
        self.last.update(content=content, style=style, output=output.detach(), lr=lr)
        return {**{name: value.item() for name, value in losses.items()}, "total": loss.item()}

    def sync_stop(self, stopped):
        """Every rank must stop at the same iteration."""
        if self.world == 1:
            return stopped
        flag = torch.tensor([1.0 if stopped else 0.0], device=self.device)
        dist.all_reduce(flag)
        return stopped or ("a signal to another rank" if flag.item() else None)

    def after_step(self, iteration, losses):
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, iteration)
        self.writer.add_scalar("lr", self.last["lr"], iteration)
        if iteration % self.cfg.sample_every == 0 or iteration == self.cfg.iters:
            _sample_grid(self.last["content"], self.last["style"], self.last["output"],
                         self.folder / f"sample_{iteration:08d}.png", self.writer, iteration)

    def make_loop(self):
        cfg = self.cfg
        return TrainingLoop(self.folder, cfg.iters, cfg.save_every, self.label, main=self.main,
                            sync_stop=self.sync_stop, after_step=self.after_step,
                            images_per_step=cfg.batch_size * self.world, time_limit=cfg.time_limit)

    def state(self, iteration, losses):
        return {"iteration": iteration, "architecture": self.decoder.architecture,
                "style_layer": self.decoder.style_layer,
                "decoder": self.decoder.state_dict(), "average": self.average.state(),
                "optimizer": self.optimizer.state_dict(), "scaler": self.precision.state_dict(),
                "rng": {"torch": torch.get_rng_state()}, "config": asdict(self.cfg), "commands": self.commands,
                "losses": losses, "data": self.data, "history": self.spent(self.history)}

    def finish(self, iteration, losses):
        if self.main:
            self.writer.close()
            log.info("done: iteration %d, %.0f s of training in this run, %d unreadable images skipped, losses %s",
                     iteration, self.loop.seconds, self.skipped, losses)
        if self.world > 1:
            dist.destroy_process_group()
        return self.state(iteration, losses) if self.main else None
