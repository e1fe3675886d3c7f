"""Training a style bank: learn each new style's (gamma, beta) on top of the frozen decoder.

Every new style starts at its painting's AdaIN statistics, so step 0 is AdaIN. Training uses the
decoder's losses (content at relu4_1 against the AdaIN target, mean/std style loss against the
painting) and moves only the new styles' parameters, unless --finetune-decoder also adapts the
decoder. Styles already in a --base bank are carried over bit for bit.
"""
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from stylize.device import pick_device
from stylize.errors import StylizeError
from stylize.media.images import list_images, open_image, prepare, to_tensor
from stylize.models.bank import StyleBank, load_bank, save_bank, thumbnail
from stylize.models.style_layers import mean_std, stylize_taps
from stylize.models.style_stats import StyleStats
from stylize.models.weights import load_decoder, load_encoder, save_decoder
from stylize.training.config import BankTrainConfig
from stylize.training.data import endless_loader
from stylize.training.decoder import decoded_losses
from stylize.training.loop import TrainingLoop, load_checkpoint, resume_path
from stylize.training.seeds import BANK_STYLES, seed_of

log = logging.getLogger(__name__)


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
        names.append(path.stem)
        stats.append(StyleStats.from_pairs(mean_std(t) for t in taps))
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
                taps = encoder(content)
                targets = stylize_taps(taps, style_stats, decoder.reads)
                weights = torch.eye(len(bank.names), device=content.device)[k][None]
                c, s, _ = decoded_losses(encoder, decoder, bank(taps, weights), targets, style_stats)
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
    levels = list(decoder.reads)

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
    checkpoint_path = resume_path(cfg.resume, checkpoints)
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
    content_set, contents = endless_loader(cfg.content_dir, cfg.image_size, cfg.crop_size, cfg.batch_size, cfg.seed,
                                           cfg.workers, start)
    log.info("training %d new styles (%d in base) on %d content images, %s, iterations %d..%d",
             len(names), first, len(content_set), device, start, cfg.iters)

    def step(iteration):
        content, _ = next(contents)
        content = content.to(device)
        g = torch.Generator().manual_seed(seed_of(cfg.seed, BANK_STYLES, iteration))
        picks = torch.randint(len(names), (content.shape[0],), generator=g).tolist()
        targets_stats = per_tap(stats, picks)
        with torch.no_grad():  # one encoder pass gives both the bank's input and the AdaIN targets
            taps = encoder(content)
        targets = stylize_taps(taps, targets_stats, levels)
        weights = torch.eye(len(bank.names), device=device)[[first + k for k in picks]]
        c_loss, s_loss, _ = decoded_losses(encoder, decoder, bank(taps, weights), targets, targets_stats)
        loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"content": c_loss.item(), "style": s_loss.item()}

    def state(iteration, losses):
        return {"iteration": iteration, "bank": bank.state_dict(), "optimizer": optimizer.state_dict(),
                "decoder": decoder.state_dict() if cfg.finetune_decoder else None,
                "rng": torch.get_rng_state(), "before": before, "config": asdict(cfg)}

    loop = TrainingLoop(checkpoints, cfg.iters, cfg.save_every, "train-bank", images_per_step=cfg.batch_size)
    iteration, _, _ = loop.run(step, state, start)
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
    log.info("wrote %s (%d styles) after %d iterations, %.0f s", out, len(bank.names), iteration, loop.seconds)
    return bank, trained
