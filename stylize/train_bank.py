"""Training a style bank: learn each new style's (gamma, beta) on top of the frozen decoder.

Every new style starts at its painting's AdaIN statistics, so step 0 is AdaIN. Training uses the
decoder's losses (content at relu4_1 against the AdaIN target, mean/std style loss against the
painting) and moves only the new styles' parameters, unless --finetune-decoder also adapts the
decoder. Styles already in a --base bank are carried over bit for bit.
"""
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .bank import StyleBank, load_bank, save_bank, thumbnail
from .device import pick_device
from .errors import StylizeError
from .images import list_images, open_image, prepare, to_tensor
from .style_layers import mean_std
from .transfer import StyleStats
from .train import (StopRequest, adain_targets, decoded_losses, endless_loader, load_checkpoint, newest_checkpoint,
                    save_checkpoint, stylised_levels)
from .weights import load_decoder, load_encoder, save_decoder

log = logging.getLogger(__name__)


@dataclass
class BankTrainConfig:
    styles: list = field(default_factory=list)  # style image files and/or folders
    content_dir: str = ""
    out: str = "bank.safetensors"
    iters: int = 500
    batch_size: int = 4
    lr: float = 5e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    image_size: int = 512
    crop_size: int = 256
    style_size: int = 512
    base: str | None = None
    decoder: str | None = None
    finetune_decoder: bool = False
    eval_content_dir: str | None = None
    eval_images: int = 8
    save_every: int = 100
    resume: str | None = None
    seed: int = 0
    workers: int = 2
    threads: int = 0
    device: str = "auto"


def style_files(specs):
    files = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            files += list_images(path)
        elif path.exists():
            files.append(path)
        else:
            raise StylizeError(f"style image not found: {path}")
    if not files:
        raise StylizeError(f"no style images found in {', '.join(map(str, specs))}")
    return files


def style_targets(encoder, files, size, device):
    """(names, StyleStats, thumbnails) of the paintings: the targets of the style loss."""
    names, stats, thumbs = [], [], []
    for path in files:
        img = open_image(path)
        with torch.no_grad():
            taps = encoder(to_tensor(prepare(img, size))[None].to(device))
        means, stds = zip(*(mean_std(t) for t in taps))
        names.append(path.stem)
        stats.append(StyleStats(means, stds))
        thumbs.append(thumbnail(img))
    return names, stats, thumbs


def per_tap(stats, picks):
    """[(mean, std) per tap] for a batch whose i-th image takes style picks[i]."""
    return [(torch.cat([stats[k].means[level] for k in picks]), torch.cat([stats[k].stds[level] for k in picks]))
            for level in range(4)]


def evaluate(encoder, decoder, bank, stats, first, contents):
    """Mean content and style loss of each style index >= first over the evaluation crops."""
    results = {}
    with torch.no_grad():
        for k in range(first, len(bank.names)):
            total_c = total_s = 0.0
            for content in contents:
                style_stats = per_tap(stats, [k - first])
                targets = adain_targets(encoder, decoder, content, style_stats)
                weights = torch.eye(len(bank.names), device=content.device)[k][None]
                c, s, _ = decoded_losses(encoder, decoder, bank(encoder(content), weights), targets, style_stats)
                total_c, total_s = total_c + c.item(), total_s + s.item()
            results[bank.names[k]] = {"content": total_c / len(contents), "style": total_s / len(contents)}
    return results


def train_bank(cfg: BankTrainConfig, command=""):
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    checkpoints = out.with_name(out.stem + ".checkpoints")
    checkpoints.mkdir(parents=True, exist_ok=True)
    encoder = load_encoder().to(device)
    decoder = load_decoder(cfg.decoder).to(device).train(cfg.finetune_decoder)
    decoder.requires_grad_(cfg.finetune_decoder)
    levels = list(stylised_levels(decoder))

    names, stats, thumbs = style_targets(encoder, style_files(cfg.styles), cfg.style_size, device)
    base = load_bank(cfg.base, decoder) if cfg.base else None
    base_names = base.names if base else []
    if clash := sorted(set(names) & set(base_names)):
        raise StylizeError(f"styles already in the base bank: {', '.join(clash)}; rename the files")
    new = StyleBank.from_stats(names, stats, levels, thumbs)
    bank = (base.joined(new) if base else new).to(device)
    first = len(base_names)
    # Base styles stay bit-identical: their rows get zero gradient, so Adam never moves them.
    keep = torch.zeros(len(bank.names), 1, device=device)
    keep[first:] = 1
    for p in bank.parameters():
        p.register_hook(lambda grad: grad * keep)
    params = list(bank.parameters()) + (list(decoder.parameters()) if cfg.finetune_decoder else [])
    optimizer = torch.optim.Adam(params, lr=cfg.lr)

    eval_dir = cfg.eval_content_dir or cfg.content_dir
    eval_contents = [to_tensor(prepare(open_image(p), cfg.crop_size, crop=True))[None].to(device)
                     for p in list_images(eval_dir)[:cfg.eval_images]]
    if not eval_contents:
        raise StylizeError(f"no images found in {eval_dir}")
    start = 0
    checkpoint_path = newest_checkpoint(checkpoints) if cfg.resume == "auto" else cfg.resume
    if not checkpoint_path:
        before = evaluate(encoder, decoder, bank, stats, first, eval_contents)
    else:
        ckpt = load_checkpoint(checkpoint_path)
        bank.load_state_dict(ckpt["bank"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if cfg.finetune_decoder:
            decoder.load_state_dict(ckpt["decoder"])
        torch.set_rng_state(ckpt["rng"])
        start, before = ckpt["iteration"], ckpt["before"]
        log.info("resuming from %s (iteration %d)", checkpoint_path, start)
    content_set, contents = endless_loader(cfg.content_dir, cfg, start, 0, 1, seed_offset=0)
    log.info("training %d new styles (%d in base) on %d content images, %s, iterations %d..%d",
             len(names), first, len(content_set), device, start, cfg.iters)

    iteration, skipped, losses, seconds = start, 0, {}, 0.0
    bar = tqdm(total=cfg.iters, initial=start, desc="train-bank", dynamic_ncols=True)

    def state():
        return {"iteration": iteration, "bank": bank.state_dict(), "optimizer": optimizer.state_dict(),
                "decoder": decoder.state_dict() if cfg.finetune_decoder else None,
                "rng": torch.get_rng_state(), "before": before, "config": asdict(cfg)}

    with StopRequest() as stop:
        while iteration < cfg.iters:
            tick = time.perf_counter()
            content, content_skips = next(contents)
            skipped += content_skips
            content = content.to(device)
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + iteration)
            picks = torch.randint(len(names), (content.shape[0],), generator=g).tolist()
            targets_stats = per_tap(stats, picks)
            targets = adain_targets(encoder, decoder, content, targets_stats)
            weights = torch.eye(len(bank.names), device=device)[[first + k for k in picks]]
            with torch.no_grad():
                taps = encoder(content)
            c_loss, s_loss, _ = decoded_losses(encoder, decoder, bank(taps, weights), targets, targets_stats)
            loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            seconds += time.perf_counter() - tick
            losses = {"content": c_loss.item(), "style": s_loss.item()}
            bar.update()
            bar.set_postfix(content=f"{losses['content']:.3f}", style=f"{losses['style']:.3f}", skipped=skipped)
            if iteration % cfg.save_every == 0 or stop.signal:
                bar.write(f"saved {save_checkpoint(checkpoints, state())}")
            if stop.signal:
                bar.write(f"stopped by {stop.signal} at iteration {iteration}; continue with --resume auto")
                break
    bar.close()
    after = evaluate(encoder, decoder, bank, stats, first, eval_contents)
    trained = dict(bank.metadata.get("styles", {}))
    if base:
        trained.update(base.metadata.get("styles", {}))
    for name in names:
        trained[name] = {"iterations": iteration, "before": before.get(name), "after": after[name]}
    meta = {"decoder_architecture": decoder.architecture, "styles": trained, "command": command,
            "eval_content": f"{len(eval_contents)} images from {eval_dir} at {cfg.crop_size} px"}
    if cfg.finetune_decoder:  # the bank now belongs to this adapted decoder: write it beside the bank
        meta["decoder"] = str(out.with_name(out.stem + ".decoder.safetensors"))
        save_decoder(meta["decoder"], decoder, {"finetuned_for_bank": str(out), "base_decoder": str(cfg.decoder)})
    save_bank(out, bank, meta)
    for name in names:
        b, a = trained[name]["before"], trained[name]["after"]
        log.info("%s: style loss %.3f -> %.3f, content loss %.3f -> %.3f", name, b["style"], a["style"],
                 b["content"], a["content"])
    log.info("wrote %s (%d styles) after %d iterations, %.0f s; %d unreadable images skipped",
             out, len(bank.names), iteration, seconds, skipped)
    return bank, trained
