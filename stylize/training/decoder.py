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
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from stylize.device import pick_device
from stylize.errors import StylizeError
from stylize.files import atomic_write
from stylize.media.images import to_image
from stylize.models.networks import RELU4_1, Decoder
from stylize.models.style_layers import mean_std, stylize_taps
from stylize.models.weights import load_decoder, load_encoder, save_decoder
from stylize.training.averaging import WeightAverage
from stylize.training.config import TrainConfig
from stylize.training.data import endless_loader
from stylize.training.lineage import add_segment, commands_of
from stylize.training.loop import TrainingLoop, load_checkpoint, remove_stale_temporaries, resume_path
from stylize.training.losses import gram_loss, gram_matrix, inverse_decay, losses_of_taps, style_losses
from stylize.training.precision import MixedPrecision

log = logging.getLogger(__name__)


def decoded_losses(encoder, decoder, decoder_input, targets, style_stats):
    """Decode `decoder_input` and score it with the paper's losses (content against
    targets[RELU4_1]); returns (content loss, style loss, output). Gradients reach the decoder
    (and its input) through the frozen encoder."""
    output = decoder(decoder_input)
    return (*style_losses(encoder, output, targets[RELU4_1], style_stats), output)


def adain_losses(encoder, decoder, content, style, levels, gram=False):
    """({"content", "style"[, "gram"]: losses}, decoded images) for one batch of (content, style)
    images: the paper's losses, and with `gram` the Gram-matrix style loss beside them.

    Only the pass over the decoder's output carries gradients; the content and style passes
    run without autograd.
    """
    with torch.no_grad():
        style_taps = encoder(style)
        style_stats = [mean_std(t) for t in style_taps]
        targets = stylize_taps(encoder(content), style_stats, levels)
    output = decoder(targets)
    taps = encoder(output)
    losses = dict(zip(("content", "style"), losses_of_taps(taps, targets[RELU4_1], style_stats)))
    if gram:
        losses["gram"] = gram_loss(taps, [gram_matrix(t) for t in style_taps])
    return losses, output


def identity_losses(encoder, decoder, images):
    """Park & Lee's identity losses (SANet, 2019): an image's own, unstylised taps must decode
    back to the image. Without them the decoder paints its own marks whatever it is given, so
    strength 0 returns a painted photo. Returns (pixel L1, MSE summed over relu1_1..relu4_1)."""
    with torch.no_grad():
        own = encoder(images)
    output = decoder(own)
    pixel = F.l1_loss(output.float(), images.float())
    feature = sum(F.mse_loss(tap.float(), target.float()) for tap, target in zip(encoder(output), own))
    return pixel, feature


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


def _starting_point(cfg, out, main):
    """(decoder, checkpoint or None, history, the commands behind it): resume a checkpoint,
    warm-start, or start fresh."""
    if cfg.resume:
        path = resume_path(cfg.resume, out)
        if path is not None:
            checkpoint = load_checkpoint(path)
            decoder = Decoder(checkpoint["architecture"])
            decoder.load_state_dict(checkpoint["decoder"])
            if main:
                log.info("resuming from %s (iteration %d)", path, checkpoint["iteration"])
            return decoder, checkpoint, checkpoint["history"], commands_of(checkpoint)
        if main:
            log.info("no checkpoint in %s yet: starting fresh", out)
    if cfg.init:  # warm start: the iteration count (and so the lr decay) continues from the file's
        decoder = load_decoder(cfg.init)
        if cfg.architecture and cfg.architecture != decoder.architecture:  # same parameters, other wiring
            rewired = Decoder(cfg.architecture)
            rewired.load_state_dict(decoder.state_dict())
            rewired.metadata, decoder = decoder.metadata, rewired
        history = {"iterations_before": decoder.metadata.get("iterations", 0),
                   "seconds_before": decoder.metadata.get("train_seconds", 0.0),
                   "cpu_seconds_before": decoder.metadata.get("train_cpu_seconds", 0.0), "init": cfg.init}
        return decoder, None, history, commands_of(decoder.metadata)
    return Decoder(cfg.architecture or "plain"), None, {"iterations_before": 0, "seconds_before": 0.0}, []


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
    decoder, checkpoint, history, previous = _starting_point(cfg, out, main)
    decoder = decoder.to(device, memory_format=torch.channels_last).train()
    levels = decoder.reads
    optimizer = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    precision = MixedPrecision(cfg.amp, device)
    average = WeightAverage({"decoder": decoder}, cfg.ema_decay)  # exported instead of the weights
    start = 0
    if checkpoint is not None:
        start = checkpoint["iteration"]
        optimizer.load_state_dict(checkpoint["optimizer"])
        precision.load_state_dict(checkpoint["scaler"])
        average.load(checkpoint.get("average"))  # older checkpoints have none: it starts here
        torch.set_rng_state(checkpoint["rng"]["torch"])
    model = DistributedDataParallel(decoder) if world > 1 else decoder
    commands = add_segment(previous, command, history.get("iterations_before", 0) + start)

    load = dict(image_size=cfg.image_size, crop_size=cfg.crop_size, batch_size=cfg.batch_size, workers=cfg.workers,
                start=start, rank=rank, world=world, source_cap=cfg.source_cap)
    content_set, contents = endless_loader(cfg.content_dir, seed=cfg.seed, **load)
    style_set, styles = endless_loader(cfg.style_dir, seed=cfg.seed + 1, **load)
    data = {"content_dir": cfg.content_dir, "content_images": len(content_set),
            "style_dir": cfg.style_dir, "style_images": len(style_set)}
    writer = None
    if main:
        log.info("training %s decoder on %d content and %d style images, %s, world size %d, iterations %d..%d",
                 decoder.architecture, len(content_set), len(style_set), device, world, start, cfg.iters)
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / "tensorboard"), purge_step=start)
    skipped, last = 0, {}

    def step(iteration):
        nonlocal skipped
        (content, content_skips), (style, style_skips) = next(contents), next(styles)
        skipped += content_skips + style_skips
        content = content.to(device, memory_format=torch.channels_last)
        style = style.to(device, memory_format=torch.channels_last)
        lr = learning_rate(cfg, iteration, history["iterations_before"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        with precision.autocast():
            # weighted 0 (a decoder trained only to invert VGG-19), they are still measured and sampled
            with torch.set_grad_enabled(bool(cfg.content_weight or cfg.style_weight or cfg.gram_weight)):
                losses, output = adain_losses(encoder, model, content, style, levels, gram=bool(cfg.gram_weight))
            if cfg.identity_pixel_weight or cfg.identity_feature_weight:
                # photos and paintings alike must come back; half of each, so that this costs what the
                # stylised batch costs
                half = max(1, cfg.batch_size // 2)
                own = torch.cat([content[:half], style[:half]])
                losses["id_pixel"], losses["id_feature"] = identity_losses(encoder, model, own)
        weights = {"content": cfg.content_weight, "style": cfg.style_weight, "gram": cfg.gram_weight,
                   "id_pixel": cfg.identity_pixel_weight, "id_feature": cfg.identity_feature_weight}
        loss = sum(weights[name] * value for name, value in losses.items())
        if not torch.isfinite(loss):
            raise StylizeError(f"loss became {loss.item()} at iteration {iteration}; lower --lr or drop --amp")
        precision.step(loss, [optimizer])
        average.update()
        last.update(content=content, style=style, output=output.detach(), lr=lr)
        return {**{name: value.item() for name, value in losses.items()}, "total": loss.item()}

    def sync_stop(stopped):  # every rank must stop at the same iteration
        if world == 1:
            return stopped
        flag = torch.tensor([1.0 if stopped else 0.0], device=device)
        dist.all_reduce(flag)
        return stopped or ("a signal to another rank" if flag.item() else None)

    def after_step(iteration, losses):
        for name, value in losses.items():
            writer.add_scalar(f"loss/{name}", value, iteration)
        writer.add_scalar("lr", last["lr"], iteration)
        if iteration % cfg.sample_every == 0 or iteration == cfg.iters:
            _sample_grid(last["content"], last["style"], last["output"], out / f"sample_{iteration:08d}.png",
                         writer, iteration)

    loop = TrainingLoop(out, cfg.iters, cfg.save_every, "train", main=main, sync_stop=sync_stop, after_step=after_step,
                        images_per_step=cfg.batch_size * world, time_limit=cfg.time_limit)

    def state(iteration, losses):
        return {"iteration": iteration, "architecture": decoder.architecture, "decoder": decoder.state_dict(),
                "average": average.state(), "optimizer": optimizer.state_dict(), "scaler": precision.state_dict(),
                "rng": {"torch": torch.get_rng_state()}, "config": asdict(cfg), "commands": commands,
                "losses": losses, "data": data,
                "history": {**history, "seconds": history.get("seconds", 0.0) + loop.seconds,
                            "cpu_seconds": history.get("cpu_seconds", 0.0) + loop.cpu_seconds}}

    iteration, losses, _ = loop.run(step, state, start)
    if main:
        writer.close()
        log.info("done: iteration %d, %.0f s of training in this run, %d unreadable images skipped, losses %s",
                 iteration, loop.seconds, skipped, losses)
    if world > 1:
        dist.destroy_process_group()
    return state(iteration, losses) if main else None


def export(checkpoint_paths, out_path, half=False):
    """Checkpoints of one run -> decoder safetensors with the training story in its metadata.

    Each checkpoint gives its moving average (stylize/training/averaging.py), or its weights if it
    has none. Several checkpoints are averaged too (their mean, as in stochastic weight averaging,
    Izmailov et al. 2018). The story is the newest checkpoint's.
    """
    loaded = sorted(((load_checkpoint(p), p) for p in checkpoint_paths), key=lambda pair: pair[0]["iteration"])
    ckpts = [c for c, _ in loaded]
    ckpt = ckpts[-1]
    for other, path in loaded:  # each error names its own file, whatever the order given
        if other.get("kind", "decoder") != "decoder" or other["architecture"] != ckpt["architecture"]:
            raise StylizeError(f"checkpoints to average must come from one decoder run; {path} does not match")
    weights = [(c.get("average") or {}).get("decoder", c["decoder"]) for c in ckpts]
    decoder = Decoder(ckpt["architecture"])
    decoder.load_state_dict({name: torch.stack([w[name].float() for w in weights]).mean(0) for name in weights[0]})
    history = ckpt["history"]
    iterations = [history.get("iterations_before", 0) + c["iteration"] for c in ckpts]
    kinds = {f"moving average (decay {c['config']['ema_decay']})" if c.get("average") else "weights" for c in ckpts}
    metadata = {
        "model": "AdaIN decoder (Huang & Belongie 2017)",
        "architecture": decoder.architecture,
        "iterations": iterations[-1],
        "weights": f"iteration {iterations[0]}'s {kinds.pop()}" if len(ckpts) == 1 else
                   f"mean of {len(ckpts)} checkpoints' {' and '.join(sorted(kinds))} "
                   f"(iterations {', '.join(map(str, iterations))})",
        "train_seconds": round(history.get("seconds_before", 0.0) + history.get("seconds", 0.0), 1),
        "train_cpu_seconds": round(history.get("cpu_seconds_before", 0.0) + history.get("cpu_seconds", 0.0), 1),
        "losses": ckpt["losses"],
        "data": ckpt["data"],
        "config": ckpt["config"],
        "commands": commands_of(ckpt),
        "warm_start": history.get("init"),
    }
    save_decoder(out_path, decoder, metadata, half=half)
    return metadata
