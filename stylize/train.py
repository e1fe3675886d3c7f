"""Training the AdaIN decoder (Huang & Belongie 2017, section 6).

Content images (COCO in the paper) and style images (WikiArt) are encoded by the frozen VGG;
AdaIN aligns the content's relu4_1 statistics to the style's, giving the target t; the decoder
turns t into an image g(t), which is encoded again. The losses are
  content: MSE between relu4_1 of g(t) and t,
  style:   MSE between the per-channel mean and std of relu1_1..relu4_1 of g(t) and the style's,
and only the decoder learns. The same script runs on one CPU, one GPU, or many GPUs under
torchrun (DistributedDataParallel, one data shard per rank, rank 0 writes everything).
"""
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from .data import EndlessSampler, ImageFolder, collate
from .device import pick_device
from .errors import StylizeError
from .model import Decoder
from .style_layers import AdaIN, mean_std
from .weights import atomic_write, load_decoder, load_encoder, save_decoder

log = logging.getLogger(__name__)
CHECKPOINT_GLOB = "checkpoint_*.pt"
KEEP_CHECKPOINTS = 2


@dataclass
class TrainConfig:
    content_dir: str
    style_dir: str
    out: str = "runs/adain"
    iters: int = 160_000
    batch_size: int = 8
    lr: float = 1e-4
    lr_decay: float = 5e-5
    content_weight: float = 1.0
    style_weight: float = 10.0
    image_size: int = 512
    crop_size: int = 256
    workers: int = 2
    amp: bool = False
    save_every: int = 1000
    sample_every: int = 500
    resume: str | None = None
    init: str | None = None
    architecture: str | None = None  # None: "plain", or the --init file's
    seed: int = 0
    device: str = "auto"
    vgg: str | None = None
    threads: int = 0


def stylised_levels(decoder):
    """The taps the decoder reads, and so the ones the style layer must set."""
    return (decoder.module if isinstance(decoder, DistributedDataParallel) else decoder).reads


def adain_targets(encoder, decoder, content, style_stats, adain=AdaIN()):
    """Content taps with AdaIN applied at every level the decoder reads (no autograd needed)."""
    with torch.no_grad():
        targets = list(encoder(content))
        for level in stylised_levels(decoder):
            targets[level] = adain(targets[level], *style_stats[level])
    return targets


def decoded_losses(encoder, decoder, decoder_input, targets, style_stats):
    """Decode `decoder_input` and score it: content loss at relu4_1 against targets[3], style loss
    on the mean and std of relu1_1..relu4_1 against `style_stats`. Gradients reach the decoder
    (and its input) through the frozen encoder."""
    output = decoder(decoder_input)
    output_taps = encoder(output)
    content_loss = F.mse_loss(output_taps[3].float(), targets[3].float())
    style_loss = 0.0
    for tap, (mean, std) in zip(output_taps, style_stats):
        out_mean, out_std = mean_std(tap.float())
        style_loss = style_loss + F.mse_loss(out_mean, mean.float()) + F.mse_loss(out_std, std.float())
    return content_loss, style_loss, output


def adain_losses(encoder, decoder, content, style):
    """The paper's losses for one batch of (content, style) images, and the decoded images.

    Only the pass over the decoder's output carries gradients; the content and style passes
    run without autograd.
    """
    with torch.no_grad():
        style_stats = [mean_std(t) for t in encoder(style)]
    targets = adain_targets(encoder, decoder, content, style_stats)
    return decoded_losses(encoder, decoder, targets, targets, style_stats)


def learning_rate(cfg, iteration):
    """pytorch-AdaIN's inverse decay: lr / (1 + decay * i)."""
    return cfg.lr / (1.0 + cfg.lr_decay * iteration)


def newest_checkpoint(out):
    found = sorted(Path(out).glob(CHECKPOINT_GLOB))
    return found[-1] if found else None


def remove_stale_temporaries(out):
    """Temporary files of checkpoints that a killed run (SIGKILL, power loss) never renamed."""
    for stale in Path(out).glob(".checkpoint_*"):
        stale.unlink(missing_ok=True)


def save_checkpoint(out, state):
    path = Path(out) / f"checkpoint_{state['iteration']:08d}.pt"
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    for old in sorted(Path(out).glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def load_checkpoint(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise StylizeError(f"checkpoint not found: {path}") from None
    except Exception as e:
        raise StylizeError(f"checkpoint {path} could not be read: {type(e).__name__}: {e}") from None


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


def endless_loader(folder, cfg, start, rank, world, seed_offset):
    """(dataset, iterator of batches from iteration `start` on) for an image folder."""
    dataset = ImageFolder(folder, cfg.image_size, cfg.crop_size)
    sampler = EndlessSampler(len(dataset), cfg.batch_size, cfg.seed + seed_offset, start, rank, world)
    loader = DataLoader(dataset, cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                        collate_fn=collate, pin_memory=False, persistent_workers=cfg.workers > 0)
    return dataset, iter(loader)


def _sample_grid(content, style, output, path, writer, iteration):
    from torchvision.utils import make_grid, save_image

    n = min(4, content.shape[0])
    rows = torch.cat([content[:n], style[:n], output[:n].float().clamp(0, 1)]).cpu()
    grid = make_grid(rows, nrow=n, padding=2)
    atomic_write(path, lambda tmp: save_image(grid, tmp, format="png"))
    writer.add_image("samples (content | style | output)", grid, iteration)


def _starting_point(cfg, out, main):
    """(decoder, checkpoint or None, history): resume a checkpoint, warm-start, or start fresh."""
    if cfg.resume:
        path = newest_checkpoint(out) if cfg.resume == "auto" else Path(cfg.resume)
        if path is not None:
            checkpoint = load_checkpoint(path)
            decoder = Decoder(checkpoint["architecture"])
            decoder.load_state_dict(checkpoint["decoder"])
            if main:
                log.info("resuming from %s (iteration %d)", path, checkpoint["iteration"])
            return decoder, checkpoint, checkpoint["history"]
        if main:
            log.info("no checkpoint in %s yet: starting fresh", out)
    if cfg.init:  # warm start: the iteration count (and so the lr decay) continues from the file's
        decoder = load_decoder(cfg.init)
        if cfg.architecture and cfg.architecture != decoder.architecture:  # same parameters, other wiring
            rewired = Decoder(cfg.architecture)
            rewired.load_state_dict(decoder.state_dict())
            rewired.metadata, decoder = decoder.metadata, rewired
        return decoder, None, {"iterations_before": decoder.metadata.get("iterations", 0),
                               "seconds_before": decoder.metadata.get("train_seconds", 0.0),
                               "cpu_seconds_before": decoder.metadata.get("train_cpu_seconds", 0.0), "init": cfg.init}
    return Decoder(cfg.architecture or "plain"), None, {"iterations_before": 0, "seconds_before": 0.0}


def train(cfg: TrainConfig, command=""):
    """Train until cfg.iters or a stop signal; returns the final checkpoint state (rank 0)."""
    rank, world, device = _setup_distributed(cfg)
    main = rank == 0
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if main:
        remove_stale_temporaries(out)
    torch.manual_seed(cfg.seed + rank)

    encoder = load_encoder(cfg.vgg).to(device, memory_format=torch.channels_last)
    decoder, checkpoint, history = _starting_point(cfg, out, main)
    decoder = decoder.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
    start = 0
    if checkpoint is not None:
        start = checkpoint["iteration"]
        optimizer.load_state_dict(checkpoint["optimizer"])
        scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
    model = DistributedDataParallel(decoder) if world > 1 else decoder
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16

    content_set, contents = endless_loader(cfg.content_dir, cfg, start, rank, world, seed_offset=0)
    style_set, styles = endless_loader(cfg.style_dir, cfg, start, rank, world, seed_offset=1)
    data = {"content_dir": cfg.content_dir, "content_images": len(content_set),
            "style_dir": cfg.style_dir, "style_images": len(style_set)}
    if main:
        log.info("training %s decoder on %d content and %d style images, %s, world size %d, iterations %d..%d",
                 decoder.architecture, len(content_set), len(style_set), device, world, start, cfg.iters)
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / "tensorboard"), purge_step=start)
    seconds, skipped, losses, iteration = history.get("seconds", 0.0), 0, {}, start
    cpu_seconds = history.get("cpu_seconds", 0.0)  # CPU time of this process, all threads

    def state():
        return {"iteration": iteration, "architecture": decoder.architecture, "decoder": decoder.state_dict(),
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "rng": {"torch": torch.get_rng_state()}, "config": asdict(cfg), "command": command,
                "losses": losses, "history": {**history, "seconds": seconds, "cpu_seconds": cpu_seconds},
                "data": data}

    bar = tqdm(total=cfg.iters, initial=start, disable=not main, dynamic_ncols=True, desc="train")
    with StopRequest() as stop:
        while iteration < cfg.iters:
            tick, tick_cpu = time.perf_counter(), time.process_time()
            (content, content_skips), (style, style_skips) = next(contents), next(styles)
            skipped += content_skips + style_skips
            content = content.to(device, memory_format=torch.channels_last)
            style = style.to(device, memory_format=torch.channels_last)
            lr = learning_rate(cfg, history["iterations_before"] + iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=amp_dtype, enabled=cfg.amp):
                content_loss, style_loss, output = adain_losses(encoder, model, content, style)
            loss = cfg.content_weight * content_loss + cfg.style_weight * style_loss
            if not torch.isfinite(loss):
                raise StylizeError(f"loss became {loss.item()} at iteration {iteration}; lower --lr or drop --amp")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            iteration += 1
            elapsed = time.perf_counter() - tick
            seconds += elapsed
            cpu_seconds += time.process_time() - tick_cpu
            losses = {"content": content_loss.item(), "style": style_loss.item(), "total": loss.item()}
            if world > 1:  # every rank must stop at the same iteration
                flag = torch.tensor([1.0 if stop.signal else 0.0], device=device)
                dist.all_reduce(flag)
                stop.signal = stop.signal or ("a signal to another rank" if flag.item() else None)
            if main:
                rate = cfg.batch_size * world / elapsed
                bar.update()
                bar.set_postfix(content=f"{losses['content']:.3f}", style=f"{losses['style']:.3f}",
                                img_s=f"{rate:.1f}", skipped=skipped)
                for name, value in losses.items():
                    writer.add_scalar(f"loss/{name}", value, iteration)
                writer.add_scalar("lr", lr, iteration)
                writer.add_scalar("images_per_second", rate, iteration)
                if iteration % cfg.sample_every == 0 or iteration == cfg.iters:
                    _sample_grid(content, style, output.detach(), out / f"sample_{iteration:08d}.png", writer, iteration)
                if iteration % cfg.save_every == 0 or iteration == cfg.iters or stop.signal:
                    bar.write(f"saved {save_checkpoint(out, state())}")
            if stop.signal:
                if main:
                    bar.write(f"stopped by {stop.signal} at iteration {iteration}; continue with --resume auto")
                break
    bar.close()
    if main:
        writer.close()
        log.info("done: iteration %d, %.0f s of training in this run, %d unreadable images skipped, losses %s",
                 iteration, seconds - history.get("seconds", 0.0), skipped, losses)
    if world > 1:
        dist.destroy_process_group()
    return state() if main else None


def export(checkpoint_path, out_path, half=False):
    """Checkpoint -> decoder safetensors with the training story in its metadata."""
    ckpt = load_checkpoint(checkpoint_path)
    decoder = Decoder(ckpt["architecture"])
    decoder.load_state_dict(ckpt["decoder"])
    history = ckpt["history"]
    metadata = {
        "model": "AdaIN decoder (Huang & Belongie 2017)",
        "iterations": history.get("iterations_before", 0) + ckpt["iteration"],
        "train_seconds": round(history.get("seconds_before", 0.0) + history.get("seconds", 0.0), 1),
        "train_cpu_seconds": round(history.get("cpu_seconds_before", 0.0) + history.get("cpu_seconds", 0.0), 1),
        "losses": ckpt["losses"],
        "data": ckpt["data"],
        "config": ckpt["config"],
        "command": ckpt["command"],
        "warm_start": history.get("init"),
    }
    save_decoder(out_path, decoder, metadata, half=half)
    return metadata


