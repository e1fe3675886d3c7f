"""Training the `fast` model: a slim encoder distilled from VGG-19 and a slim skip decoder.

Two phases in one resumable run (after Wang et al. 2020, "Collaborative Distillation"):
  1. iterations [0, encoder_iters): distil the encoder. The student's four taps, each through
     a learned 1x1 projection to VGG's width, regress VGG-19's relu1_1..relu4_1 on content and
     style crops alike. A step costs one VGG forward and nothing else.
  2. iterations [encoder_iters, iters): freeze the student and its projections and train the
     slim decoder with the AdaIN paper's losses. AdaIN runs on the student's taps (what the
     decoder will see at inference); the loss network is the student seen through its
     projections (`loss_net="student"`, cheap) or VGG-19 itself (`loss_net="vgg"`: the same
     losses `benchmarks/quality.py` reports, at several times the cost of a step). With
     `finetune_encoder` (VGG loss network only) the student goes on learning too, end to end
     like MicroAST (Wang et al. 2023): its taps need not match VGG's, only serve the decoder.
A run can also start from a model file (`init`) and grow it first: a wider relu4_1 tap
(`relu4_1_width`), more decoder convs (`decoder_convs`).
"""
import logging
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from stylize.device import pick_device
from stylize.errors import StylizeError
from stylize.models.networks import FAST, RELU4_1, Decoder, Encoder, NetworkShape
from stylize.models.style_layers import AdaIN, mean_std, stylize_taps
from stylize.models.weights import load_encoder, load_fast, save_fast
from stylize.training.config import LOSS_NETS, FastTrainConfig
from stylize.training.data import endless_loader
from stylize.training.loop import TrainingLoop, load_checkpoint, remove_stale_temporaries, resume_path
from stylize.training.losses import inverse_decay, style_losses

log = logging.getLogger(__name__)


def student_encoder(shape=FAST):
    """A trainable slim encoder whose 1x1 preprocess only centres RGB around zero."""
    student = Encoder(shape)
    with torch.no_grad():
        student.preprocess.weight.copy_(torch.eye(3)[:, :, None, None])
        student.preprocess.bias.fill_(-0.5)
    for conv in student.convs.values():
        conv.requires_grad_(True)
    return student


def projections(shape=FAST, teacher_widths=(64, 128, 256, 512)):
    """1x1 convolutions from the student's taps to the teacher's (used in training only)."""
    return nn.ModuleList(nn.Conv2d(cin, cout, 1) for cin, cout in zip(shape.widths, teacher_widths))


def project(projection, taps):
    return [p(t) for p, t in zip(projection, taps)]


def distillation_loss(student, projection, teacher, images):
    """Mean over the taps of the regression error, each relative to the teacher tap's variance
    (so that every tap counts, whatever its scale): 1 - explained variance."""
    with torch.no_grad():
        targets = teacher(images)
    predicted = project(projection, student(images))
    return sum(F.mse_loss(p, t) / t.var() for p, t in zip(predicted, targets)) / len(targets)


@torch.no_grad()
def initialise_from_data(student, projection, teacher, images):
    """A data-driven start: each student conv scaled to unit output std on real images (LSUV,
    Mishkin & Matas 2016), then each projection solved by least squares against the teacher.

    From the default init, Adam needs about a thousand steps just to grow the student's weights
    to the teacher's scale; from here the projected taps already explain much of the teacher's
    variance at step 0.
    """
    x = student.preprocess(images)
    for name, conv in student.convs.items():
        conv.weight /= conv(x).std()
        x = F.relu(conv(x))
        if name in student.pool_after:
            x = F.max_pool2d(x, 2, ceil_mode=True)
    for proj, ours, theirs in zip(projection, student(images), teacher(images)):
        inputs = ours.permute(0, 2, 3, 1).reshape(-1, ours.shape[1])
        inputs = torch.cat([inputs, torch.ones(len(inputs), 1, device=inputs.device)], dim=1)
        solution = torch.linalg.lstsq(inputs, theirs.permute(0, 2, 3, 1).reshape(-1, theirs.shape[1])).solution
        proj.weight.copy_(solution[:-1].T[:, :, None, None])
        proj.bias.copy_(solution[-1])


def decoder_convs_by_level(decoder):
    """The decoder's 3x3 convolutions grouped by level, [relu1_1 block, ..., relu4_1 block]."""
    convs = iter([m for m in decoder if isinstance(m, nn.Conv2d)])  # in the decoder's order: relu4_1 first
    return [[next(convs) for _ in range(decoder.shape.decoder_convs[level])] for level in (3, 2, 1, 0)][::-1]


@torch.no_grad()
def grow_decoder(decoder, shape, taps):
    """A deeper decoder (more convs per level in `shape`) that computes what `decoder` computes.

    Each level's new convs go first in its block, as identities: the first adds a per-channel
    shift that keeps the block's input positive through its ReLU (four times the most negative
    value seen on `taps`, real stylised taps), and the old first conv's bias takes the shift back
    out. Reflection padding copies values, so the shift passes through it unchanged. Training
    goes on from the same outputs, with the new convs free to learn (Net2Net's idea, Chen et al.
    2016, for a decoder whose block inputs can be negative).
    """
    if any(new < old for new, old in zip(shape.decoder_convs, decoder.shape.decoder_convs)):
        raise StylizeError(f"decoder convs {list(shape.decoder_convs)} are fewer than the model's "
                           f"{list(decoder.shape.decoder_convs)} at some level; a model can only grow")
    if any(new > old and shape.widths[level] != shape.decoder_width(level)
           for level, (new, old) in enumerate(zip(shape.decoder_convs, decoder.shape.decoder_convs))):
        raise StylizeError("a level whose tap is wider than its decoder cannot gain convs (they start as "
                           "identities); deepen a model before widening it")
    lowest = {}
    hooks = [convs[0].register_forward_pre_hook(
        lambda module, inputs, level=level: lowest.__setitem__(level, inputs[0].amin(dim=(0, 2, 3))))
        for level, convs in enumerate(decoder_convs_by_level(decoder))]
    decoder(taps)
    for hook in hooks:
        hook.remove()
    grown = Decoder(decoder.architecture, shape)
    for level, (old, new) in enumerate(zip(decoder_convs_by_level(decoder), decoder_convs_by_level(grown))):
        added = len(new) - len(old)
        for conv_old, conv_new in zip(old, new[added:]):
            conv_new.load_state_dict(conv_old.state_dict())
        if not added:
            continue
        shift = 4 * (-lowest[level]).clamp(min=0)
        for i, conv in enumerate(new[:added]):
            nn.init.dirac_(conv.weight)
            conv.bias.copy_(shift if i == 0 else torch.zeros_like(shift))
        new[added].bias -= (new[added].weight * shift[None, :, None, None]).sum(dim=(1, 2, 3))
    return grown


def widened(shape, width):
    """`shape` with `width` channels at relu4_1; the decoder's insides keep their widths."""
    return replace(shape, widths=(*shape.widths[:RELU4_1], width),
                   decoder_widths=tuple(shape.decoder_width(block) for block in range(4)))


@torch.no_grad()
def widen_relu4_1(encoder, decoder, width, images):
    """The same model with `width` channels at relu4_1 instead of its own: AdaIN there carries
    more of the painting's statistics. conv4_1 gains filters, random and scaled to the old ones'
    output std on `images` (real crops), and the decoder's first conv reads them with zero
    weights, so the output is unchanged until training teaches it to use them. The decoder's own
    widths stay as they were: the cost grows only at 1/8 of the resolution.
    """
    old = decoder.shape  # the encoder's may predate a deeper decoder; the widths are the same
    if old.encoder_convs[RELU4_1] != 1:
        raise StylizeError("only a model with one conv at relu4_1 can be widened")
    if width < old.widths[RELU4_1]:
        raise StylizeError(f"--relu4-1-width {width} is below the model's {old.widths[RELU4_1]}; a model can only grow")
    shape = widened(old, width)
    wide_encoder, wide_decoder = Encoder(shape), Decoder(decoder.architecture, shape)
    seen = {}
    hook = encoder.convs["conv4_1"].register_forward_pre_hook(lambda module, inputs: seen.update(x=inputs[0]))
    encoder(images)
    hook.remove()
    keep = old.widths[RELU4_1]
    for wide, narrow in ((wide_encoder, encoder), (wide_decoder, decoder)):
        state = wide.state_dict()
        for key, value in narrow.state_dict().items():
            state[key][tuple(slice(0, n) for n in value.shape)] = value
        wide.load_state_dict(state)
    conv = wide_encoder.convs["conv4_1"]
    conv.weight[keep:] *= encoder.convs["conv4_1"](seen["x"]).std() / F.conv2d(
        F.pad(seen["x"], (1, 1, 1, 1), mode="reflect"), conv.weight[keep:]).std()
    conv.bias[keep:] = 0
    decoder_convs_by_level(wide_decoder)[RELU4_1][0].weight[:, keep:] = 0
    return wide_encoder, wide_decoder


def parse_decoder_convs(text):
    """"2,2,3,3" -> (2, 2, 3, 3): convs per decoder level, relu1_1 .. relu4_1."""
    try:
        counts = tuple(int(n) for n in text.split(","))
    except ValueError:
        counts = ()
    if len(counts) != 4 or min(counts) < 1:
        raise StylizeError(f"--decoder-convs wants four positive counts like 2,2,3,3, not {text!r}")
    return counts


class FastTrainer:
    def __init__(self, cfg: FastTrainConfig, command=""):
        if cfg.loss_net not in LOSS_NETS:
            raise StylizeError(f"unknown loss network {cfg.loss_net!r}; expected one of {', '.join(LOSS_NETS)}")
        if not 0 <= cfg.encoder_iters <= cfg.iters:
            raise StylizeError("encoder_iters must be between 0 and iters")
        if cfg.finetune_encoder and cfg.loss_net != "vgg":
            raise StylizeError("--finetune-encoder needs --loss-net vgg (the student cannot judge itself)")
        if not 0 <= cfg.ema_decay < 1:
            raise StylizeError(f"--ema-decay must be at least 0 and below 1, not {cfg.ema_decay}")
        self.cfg, self.command = cfg, command
        self.device = pick_device(cfg.device)
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out)
        torch.manual_seed(cfg.seed)
        self.teacher = load_encoder().to(self.device, memory_format=torch.channels_last)
        checkpoint_path = resume_path(cfg.resume, self.out)
        checkpoint = load_checkpoint(checkpoint_path) if checkpoint_path is not None else None
        init = load_fast(cfg.init) if cfg.init and checkpoint is None else None
        self.shape = self._shape(checkpoint, init)
        self.student = student_encoder(self.shape).to(self.device, memory_format=torch.channels_last)
        self.projection = projections(self.shape).to(self.device)
        self.decoder = Decoder("skip", self.shape).to(self.device, memory_format=torch.channels_last)
        self.grow_from = None  # a smaller file's (encoder, decoder), grown in run() once real taps are at hand
        self.averaged = None  # AveragedModel of the student and decoder (decoder phase), from its first step
        self.adain = AdaIN()
        self.encoder_optimizer = torch.optim.Adam([*self.student.parameters(), *self.projection.parameters()], cfg.lr)
        self.decoder_optimizer = torch.optim.Adam(self.decoder.parameters(), cfg.lr)
        self.history = {"seconds": 0.0, "cpu_seconds": 0.0}
        self.start = 0
        if checkpoint is not None:
            self._load(checkpoint)
            log.info("resuming from %s (iteration %d)", checkpoint_path, self.start)
        elif init is not None:
            self._warm_start(cfg.init, *init)
        self.student.preprocess.requires_grad_(False)

    def _shape(self, checkpoint, init):
        """The run's network shape: the checkpoint's when resuming, else the --init file's or
        FAST, with --relu4-1-width and --decoder-convs (if given) replacing its own."""
        if checkpoint is not None:
            return NetworkShape.from_dict(checkpoint["shape"])
        shape = init[0].shape if init is not None else FAST
        if self.cfg.relu4_1_width not in (0, shape.widths[RELU4_1]):
            shape = widened(shape, self.cfg.relu4_1_width)
        if self.cfg.decoder_convs:
            shape = replace(shape, decoder_convs=parse_decoder_convs(self.cfg.decoder_convs))
        return shape

    def _load(self, ckpt):
        for name in ("student", "projection", "decoder", "encoder_optimizer", "decoder_optimizer"):
            getattr(self, name).load_state_dict(ckpt[name])
        torch.set_rng_state(ckpt["rng"])
        self.start, self.history = ckpt["iteration"], ckpt["history"]
        if ckpt.get("average") is not None:
            self.averaged = self._averaged_model()
            for name, state in ckpt["average"].items():
                self.averaged.module[name].load_state_dict(state)
            self.averaged.n_averaged.fill_(1)

    def _warm_start(self, path, encoder, decoder):
        """Go on from a fast model file: its encoder is the (distilled) student, its decoder goes
        on learning (grown first when --decoder-convs asks for more), and the iteration count
        continues. The file has no projections, so only the decoder phase with the VGG loss
        network can go on from it."""
        meta = decoder.metadata
        if self.cfg.loss_net != "vgg":
            raise StylizeError("a warm start from a model file needs --loss-net vgg (the file has no projections)")
        self.start = meta.get("iterations", 0)
        if self.start < self.cfg.encoder_iters:
            raise StylizeError(f"{path} is at iteration {self.start}, before the end of distillation; "
                               f"set --encoder-iters {self.start} or less")
        if decoder.shape == self.shape:
            self.student.load_state_dict(encoder.state_dict())
            self.decoder.load_state_dict(decoder.state_dict())
        else:
            self.grow_from = (encoder, decoder)
        self.history = {"seconds": meta.get("train_seconds", 0.0), "cpu_seconds": meta.get("train_cpu_seconds", 0.0)}
        log.info("warm start from %s (iteration %d)", path, self.start)

    def state(self, iteration, losses, loop):
        return {"kind": "fast", "shape": self.shape.as_dict(), "iteration": iteration, "losses": losses,
                "config": asdict(self.cfg), "command": self.command, "average": self.average(),
                "rng": torch.get_rng_state(), "data": self.data,
                "history": {"seconds": self.history["seconds"] + loop.seconds,
                            "cpu_seconds": self.history["cpu_seconds"] + loop.cpu_seconds},
                **{name: getattr(self, name).state_dict() for name in
                   ("student", "projection", "decoder", "encoder_optimizer", "decoder_optimizer")}}

    def _set_lr(self, optimizer, steps):
        for group in optimizer.param_groups:
            group["lr"] = inverse_decay(self.cfg.lr, self.cfg.lr_decay, steps)

    def _freeze_for_decoder_phase(self):
        self.projection.requires_grad_(False)
        for conv in self.student.convs.values():
            conv.requires_grad_(self.cfg.finetune_encoder)

    def distil_step(self, iteration, content, style):
        self._set_lr(self.encoder_optimizer, iteration)
        loss = distillation_loss(self.student, self.projection, self.teacher, torch.cat([content, style]))
        self.encoder_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.encoder_optimizer.step()
        return {"distil": loss.item()}

    @torch.no_grad()
    def _stylised_taps(self, encoder, content, style):
        return stylize_taps(encoder(content), [mean_std(s) for s in encoder(style)], range(4))

    @torch.no_grad()
    def _grow(self, content, style):
        """The --init model, deepened (--decoder-convs) and widened (--relu4-1-width) as asked,
        becomes the student and decoder; the log says how much its output changed (nothing, up
        to rounding, is the design)."""
        content, style = content.to(self.device), style.to(self.device)
        encoder, decoder = (module.to(self.device) for module in self.grow_from)
        old_taps = self._stylised_taps(encoder, content, style)
        before = decoder(old_taps)
        if decoder.shape.decoder_convs != self.shape.decoder_convs:  # deeper first, while tap and decoder widths agree
            decoder = grow_decoder(decoder, replace(decoder.shape, decoder_convs=self.shape.decoder_convs), old_taps)
        if encoder.shape.widths != self.shape.widths:
            encoder, decoder = widen_relu4_1(encoder, decoder, self.shape.widths[RELU4_1], torch.cat([content, style]))
        self.student.load_state_dict(encoder.state_dict())
        self.decoder.load_state_dict(decoder.state_dict())
        taps = self._stylised_taps(self.student, content, style)
        log.info("grew the model from %s to %s (output changed by at most %.2g)", self.grow_from[1].shape,
                 self.shape, (self.decoder(taps) - before).abs().max().item())
        self.grow_from = None

    def loss_network(self):
        if self.cfg.loss_net == "vgg":
            return self.teacher
        return lambda images: project(self.projection, self.student(images))

    def decoder_step(self, iteration, content, style):
        optimizers = [self.decoder_optimizer] + ([self.encoder_optimizer] if self.cfg.finetune_encoder else [])
        for optimizer in optimizers:
            self._set_lr(optimizer, iteration - self.cfg.encoder_iters)
        loss_net = self.loss_network()
        with torch.set_grad_enabled(self.cfg.finetune_encoder):
            content_taps, style_taps = self.student(content), self.student(style)
            targets = stylize_taps(content_taps, [mean_std(s) for s in style_taps], range(4))
        with torch.no_grad():  # each batch goes through each network once
            if self.cfg.loss_net == "vgg":  # the paper's target: AdaIN in the loss network's own space
                style_stats = [mean_std(t) for t in self.teacher(style)]
                content_target = self.adain(self.teacher(content)[RELU4_1], *style_stats[RELU4_1])
            else:
                style_stats = [mean_std(t) for t in project(self.projection, style_taps)]
                content_target = self.projection[RELU4_1](targets[RELU4_1])
        output = self.decoder(targets)
        content_loss, style_loss = style_losses(loss_net, output, content_target, style_stats)
        loss = content_loss + self.cfg.style_weight * style_loss
        if not torch.isfinite(loss):
            raise StylizeError(f"loss became {loss.item()} at iteration {iteration}; lower --lr")
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        self._update_average()
        return {"content": content_loss.item(), "style": style_loss.item()}

    def _averaged(self):
        return nn.ModuleDict({"student": self.student, "decoder": self.decoder})

    def _averaged_model(self):
        return AveragedModel(self._averaged(), multi_avg_fn=get_ema_multi_avg_fn(self.cfg.ema_decay))

    @torch.no_grad()
    def _update_average(self):
        """Exponential moving average of the weights (Polyak averaging, torch's AveragedModel: its
        first update copies them). At batch 8 they wander around the minimum from step to step
        (held-out style loss 1.45-1.63 at checkpoints 100 steps apart); their average sits nearer
        it, and it is what gets exported."""
        if not self.cfg.ema_decay:
            return
        if self.averaged is None:
            self.averaged = self._averaged_model()
        self.averaged.update_parameters(self._averaged())

    def average(self):
        """The averaged weights as {"student": state dict, "decoder": state dict}, or None."""
        if self.averaged is None:
            return None
        return {name: module.state_dict() for name, module in self.averaged.module.items()}

    def run(self):
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        load = dict(image_size=cfg.image_size, crop_size=cfg.crop_size, batch_size=cfg.batch_size,
                    workers=cfg.workers, start=self.start)
        content_set, contents = endless_loader(cfg.content_dir, seed=cfg.seed, **load)
        style_set, styles = endless_loader(cfg.style_dir, seed=cfg.seed + 1, **load)
        self.data = {"content_dir": cfg.content_dir, "content_images": len(content_set),
                     "style_dir": cfg.style_dir, "style_images": len(style_set)}
        log.info("training the fast model on %d content and %d style images, %s: distillation to %d, decoder to %d, "
                 "from iteration %d", len(content_set), len(style_set), self.device, cfg.encoder_iters, cfg.iters,
                 self.start)
        self.student.train()
        self.decoder.train()
        if self.start == 0 and cfg.encoder_iters > 0:
            init = torch.cat([torch.cat([next(contents)[0], next(styles)[0]]) for _ in range(2)]).to(self.device)
            initialise_from_data(self.student, self.projection, self.teacher, init)
            log.info("initialised the student from %d crops: distillation loss %.3f", len(init),
                     distillation_loss(self.student, self.projection, self.teacher, init).item())
        if self.grow_from is not None:
            self._grow(next(contents)[0], next(styles)[0])

        def step(iteration):
            (content, _), (style, _) = next(contents), next(styles)
            content = content.to(self.device, memory_format=torch.channels_last)
            style = style.to(self.device, memory_format=torch.channels_last)
            if iteration < cfg.encoder_iters:
                return self.distil_step(iteration, content, style)
            if iteration == cfg.encoder_iters:
                self._freeze_for_decoder_phase()
            return self.decoder_step(iteration, content, style)

        if self.start >= cfg.encoder_iters:
            self._freeze_for_decoder_phase()
        loop = TrainingLoop(self.out, cfg.iters, cfg.save_every, "train-fast")
        iteration, losses, stopped = loop.run(step, lambda i, losses: self.state(i, losses, loop), self.start)
        log.info("fast model: iteration %d, %.0f s of training in this run, losses %s", iteration, loop.seconds, losses)
        return self.state(iteration, losses, loop)


def train_fast(cfg: FastTrainConfig, command=""):
    return FastTrainer(cfg, command).run()


def export_fast(checkpoint_path, out_path, half=False):
    """A fast-model checkpoint -> the shipped safetensors file (student encoder + decoder), in
    float32: at 2.5 MB there is nothing to gain from fp16, and CPUs run it in float32."""
    if half:
        raise StylizeError("the fast model is stored in float32; export it without --half")
    ckpt = load_checkpoint(checkpoint_path)
    shape = NetworkShape.from_dict(ckpt["shape"])
    student, decoder = Encoder(shape), Decoder("skip", shape)
    weights = ckpt.get("average") or {"student": ckpt["student"], "decoder": ckpt["decoder"]}
    student.load_state_dict(weights["student"])
    decoder.load_state_dict(weights["decoder"])
    cfg = ckpt["config"]
    metadata = {
        "model": "fast: slim VGG-shaped encoder distilled from VGG-19 + slim skip AdaIN decoder",
        "iterations": ckpt["iteration"], "encoder_iterations": min(ckpt["iteration"], cfg["encoder_iters"]),
        "decoder_iterations": max(0, ckpt["iteration"] - cfg["encoder_iters"]),
        "train_seconds": round(ckpt["history"]["seconds"], 1),
        "train_cpu_seconds": round(ckpt["history"]["cpu_seconds"], 1),
        "weights": f"moving average of the decoder phase's (decay {cfg['ema_decay']})" if ckpt.get("average")
                   else "the last step's",
        "losses": ckpt["losses"], "data": ckpt["data"], "config": cfg, "command": ckpt["command"],
    }
    save_fast(out_path, student, decoder, metadata)
    return metadata
