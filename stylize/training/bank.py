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
from stylize.models.bank import StyleBank, load_bank, painting, save_bank, thumbnail
from stylize.models.networks import RELU4_1
from stylize.models.style_layers import mean_std, stylize_taps
from stylize.models.style_stats import StyleStats
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import ADAIN_DECODER, load_decoder, load_encoder, save_decoder
from stylize.training.config import BankTrainConfig
from stylize.training.data import endless_loader
from stylize.training.losses import style_losses
from stylize.training.seeds import BANK_STYLES, seed_of
from stylize.training.trainer import Trainer

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
    """(names, StyleStats, (thumbnails, paintings)) of the paintings: the targets of the style
    loss, and the images the bank keeps of them."""
    names, stats, thumbs, kept = [], [], [], []
    for path in files:
        img = open_image(path)
        with torch.no_grad():
            taps = encoder(to_tensor(prepare(img, size))[None].to(device))
        names.append(path.stem)
        stats.append(StyleStats.from_pairs(mean_std(t) for t in taps))
        thumbs.append(thumbnail(img))
        kept.append(painting(img))
    return names, stats, (thumbs, kept)


def per_tap(stats, picks):
    """[(mean, std) per tap] for a batch whose i-th image takes style picks[i]."""
    return [(torch.cat([stats[k].means[level] for k in picks]), torch.cat([stats[k].stds[level] for k in picks]))
            for level in range(4)]


def bank_losses(model, bank, taps, style_rows, painting_stats):
    """(content loss, style loss) of the model painting `taps` with the bank's styles
    `style_rows` (B, N weights): content against the AdaIN target of the paintings' statistics
    `painting_stats` ([(mean, std)] per tap), style against those statistics."""
    with torch.no_grad():
        target = stylize_taps(taps, painting_stats, (RELU4_1,))[RELU4_1]
    return style_losses(model.encoder, model.paint(taps, bank.style_stats(style_rows)), target, painting_stats)


class BankTrainer(Trainer):
    """`run()` writes the bank (cfg.out) and returns (bank, {style: its losses before and after})."""
    label = "train-bank"

    def __init__(self, cfg: BankTrainConfig, command=""):
        out = Path(cfg.out)
        super().__init__(cfg, out.with_name(out.stem + ".checkpoints"), command)
        device = self.device = pick_device(cfg.device)
        encoder = load_encoder().to(device)
        decoder = load_decoder(cfg.decoder or ADAIN_DECODER)
        if decoder.style_layer != "adain":
            raise StylizeError(f"a bank's styles are learned through AdaIN; {cfg.decoder} is a decoder of the "
                               f"{decoder.style_layer} style layer (attention models paint bank styles from the "
                               "paintings the bank keeps)")
        decoder = decoder.to(device).train(cfg.finetune_decoder)
        decoder.requires_grad_(cfg.finetune_decoder)
        self.model = StyleTransferModel("quality", encoder, decoder)
        self.names, self.stats, images = style_targets(encoder, style_files(cfg.styles), cfg.style_size, device)
        self.base = load_bank(cfg.base, decoder) if cfg.base else None
        base_names = self.base.names if self.base else []
        if clash := sorted(set(self.names) & set(base_names)):
            raise StylizeError(f"styles already in the base bank: {', '.join(clash)}; rename the files")
        new = StyleBank.from_stats(self.names, self.stats, list(decoder.reads), *images)
        self.bank = (self.base.joined(new) if self.base else new).to(device)
        self.first = len(base_names)
        # Base styles stay bit-identical: their rows get zero gradient, so Adam never moves them.
        keep = torch.zeros(len(self.bank.names), 1, device=device)
        keep[self.first:] = 1
        for p in self.bank.parameters():
            p.register_hook(lambda grad: grad * keep)
        params = list(self.bank.parameters()) + (list(decoder.parameters()) if cfg.finetune_decoder else [])
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr)
        self.eval_dir = cfg.eval_content_dir or cfg.content_dir
        self.eval_contents = [to_tensor(prepare(open_image(p), cfg.crop_size, crop=True))[None].to(device)
                              for p in list_images(self.eval_dir)[:cfg.eval_images]]
        if not self.eval_contents:
            raise StylizeError(f"no images found in {self.eval_dir}")
        if self.checkpoint is None:
            self.before = self.evaluate()
        else:
            self.bank.load_state_dict(self.checkpoint["bank"])
            self.optimizer.load_state_dict(self.checkpoint["optimizer"])
            if cfg.finetune_decoder:
                decoder.load_state_dict(self.checkpoint["decoder"])
            torch.set_rng_state(self.checkpoint["rng"])
            self.before = self.checkpoint["before"]
        content_set, self.contents = endless_loader(cfg.content_dir, cfg.image_size, cfg.crop_size, cfg.batch_size,
                                                    cfg.seed, cfg.workers, self.start)
        log.info("training %d new styles (%d in base) on %d content images, %s, iterations %d..%d",
                 len(self.names), self.first, len(content_set), device, self.start, cfg.iters)

    def one_hot(self, picks):
        """(B, N) weights picking the new styles `picks` (indices among the new ones)."""
        return torch.eye(len(self.bank.names), device=self.device)[[self.first + k for k in picks]]

    def evaluate(self):
        """Mean content and style loss of each new style over the evaluation crops."""
        results = {}
        with torch.no_grad():
            eval_taps = [self.model.encode(content) for content in self.eval_contents]  # once, for every style
            for k in range(len(self.names)):
                total_c = total_s = 0.0
                for taps in eval_taps:
                    c, s = bank_losses(self.model, self.bank, taps, self.one_hot([k]), per_tap(self.stats, [k]))
                    total_c, total_s = total_c + c.item(), total_s + s.item()
                results[self.names[k]] = {"content": total_c / len(self.eval_contents),
                                          "style": total_s / len(self.eval_contents)}
        return results

    def step(self, iteration):
        cfg = self.cfg
        content = next(self.contents)[0].to(self.device)
        g = torch.Generator().manual_seed(seed_of(cfg.seed, BANK_STYLES, iteration))
        picks = torch.randint(len(self.names), (content.shape[0],), generator=g).tolist()
        with torch.no_grad():  # one encoder pass gives both the bank's input and the AdaIN targets
            taps = self.model.encode(content)
        c_loss, s_loss = bank_losses(self.model, self.bank, taps, self.one_hot(picks), per_tap(self.stats, picks))
        loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"content": c_loss.item(), "style": s_loss.item()}

    def state(self, iteration, losses):
        decoder = self.model.decoder
        return {"iteration": iteration, "bank": self.bank.state_dict(), "optimizer": self.optimizer.state_dict(),
                "decoder": decoder.state_dict() if self.cfg.finetune_decoder else None,
                "rng": torch.get_rng_state(), "before": self.before, "config": asdict(self.cfg)}

    def finish(self, iteration, losses):
        cfg, bank, out = self.cfg, self.bank, Path(self.cfg.out)
        after = self.evaluate()
        trained = dict(bank.metadata.get("styles", {}))
        if self.base:
            trained.update(self.base.metadata.get("styles", {}))
        for name in self.names:
            trained[name] = {"iterations": iteration, "before": self.before.get(name), "after": after[name]}
        decoder = self.model.decoder
        meta = {"decoder_architecture": decoder.architecture, "styles": trained, "command": self.command,
                "eval_content": f"{len(self.eval_contents)} images from {self.eval_dir} at {cfg.crop_size} px"}
        if cfg.finetune_decoder:  # the bank now belongs to this adapted decoder: write it beside the bank
            meta["decoder"] = str(out.with_name(out.stem + ".decoder.safetensors"))
            save_decoder(meta["decoder"], decoder, {"finetuned_for_bank": str(out), "base_decoder": str(cfg.decoder)})
        save_bank(out, bank, meta)
        for name in self.names:
            b, a = trained[name]["before"], trained[name]["after"]
            log.info("%s: style loss %.3f -> %.3f, content loss %.3f -> %.3f", name, b["style"], a["style"],
                     b["content"], a["content"])
        log.info("wrote %s (%d styles) after %d iterations, %.0f s", out, len(bank.names), iteration,
                 self.loop.seconds)
        return bank, trained
