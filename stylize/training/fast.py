"""Training the `fast` model: a slim encoder distilled from VGG-19, and a slim skip decoder that
a head steers with VGG-19's statistics of the style (stylize/models/fast.py).

One resumable run, two phases:
  1. iterations [0, encoder_iters): distil the slim encoder from VGG-19 on content and style
     crops alike (stylize/training/distillation.py).
  2. iterations [encoder_iters, iters): train the head and the decoder (with finetune_encoder,
     the slim encoder too) to paint what the quality model paints, on a teacher pool of its
     outputs made once (stylize/training/teacher_pool.py): an L1 loss on pixels and an MSE on
     VGG-19's relu1_1 and relu2_1 (shallow taps: no pass through VGG's deep layers), plus, with
     adain_weight, the AdaIN paper's content and style losses in VGG-19 itself (a whole VGG pass
     and its backward: several times the cost of a step without them). The style loss's
     statistics are the style crop's, or (style_target "teacher") those of the teacher's output;
     with identity weights, Park & Lee's identity losses: photos at strength 0 and paintings as
     their own style must come back (the teacher's marks are not learned where there are none).
Phase 2 starts the head where the slim network is (stylize/training/fast_head.py): its tap
targets fitted to the slim encoder's own statistics, its modulation zero. A run can also start
from a model file (`init`). `stylize export` writes the model file (fast_export.py).
"""
import logging
from dataclasses import asdict

import torch

from stylize.device import pick_device
from stylize.errors import StylizeError
from stylize.media.images import list_images
from stylize.models.fast import StyledDecoder
from stylize.models.networks import FAST, NetworkShape
from stylize.models.style_stats import stack_styles
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import load_encoder
from stylize.pipelines.engine import Engine
from stylize.training.averaging import WeightAverage
from stylize.training.config import STYLE_TARGETS, FastTrainConfig
from stylize.training.data import endless_loader
from stylize.training.distillation import distillation_loss, initialise_from_data, projections, student_encoder
from stylize.training.fast_head import fit_head, load_init, split_head_group
from stylize.training.fast_losses import FEATURE_DEPTH, teacher_losses
from stylize.training.lineage import commands_of
from stylize.training.losses import identity_losses, inverse_decay
from stylize.training.precision import MixedPrecision
from stylize.training.relayout import fit_cut_blocks, parse_layout, relaid_shape, relay_decoder
from stylize.training.seeds import TEACHER_POOL, seed_of
from stylize.training.teacher_pool import load_or_make_pool
from stylize.training.trainer import Trainer

log = logging.getLogger(__name__)


class FastTrainer(Trainer):
    """`run()` returns the final checkpoint state."""
    label = "train-fast"

    def __init__(self, cfg: FastTrainConfig, command=""):
        if not 0 <= cfg.encoder_iters <= cfg.iters:
            raise StylizeError("encoder_iters must be between 0 and iters")
        if not (cfg.pixel_weight or cfg.feature_weight or cfg.adain_weight or cfg.identity_pixel_weight
                or cfg.identity_feature_weight):
            raise StylizeError("phase 2 needs a loss: set --pixel-weight, --feature-weight, --adain-weight or an "
                               "identity weight above 0")
        if cfg.style_target not in STYLE_TARGETS:
            raise StylizeError(f"--style-target must be one of {', '.join(STYLE_TARGETS)}")
        if cfg.pool_size < cfg.batch_size:
            raise StylizeError(f"--pool-size must be at least --batch-size ({cfg.batch_size})")
        super().__init__(cfg, cfg.out, command)
        self.device = pick_device(cfg.device)
        self.vgg = load_encoder().to(self.device, memory_format=torch.channels_last)
        checkpoint = self.checkpoint
        init = load_init(cfg.init) if cfg.init and checkpoint is None else None
        self.shape = self._shape(checkpoint, init)
        self.relaid = None  # (the init file's decoder, its convolutions to fit) when the layout changes
        self.student = student_encoder(self.shape).to(self.device, memory_format=torch.channels_last)
        self.projection = projections(self.shape).to(self.device)
        self.decoder = StyledDecoder(self.shape).to(self.device, memory_format=torch.channels_last)
        self.model = StyleTransferModel("fast", self.student, self.decoder, self.vgg)  # what the student paints with
        self.head_fitted = False  # the head's tap targets fitted (at the start of phase 2), or trained
        # exported instead of the weights; its first update is phase 2's first step
        self.average = WeightAverage({"student": self.student, "decoder": self.decoder}, cfg.ema_decay)
        self.encoder_optimizer = torch.optim.Adam([*self.student.parameters(), *self.projection.parameters()],
                                                  cfg.distil_lr)
        self.decoder_optimizer = torch.optim.Adam([
            {"params": self.decoder.net.parameters(), "lr": cfg.lr},
            {"params": self.decoder.head.taps.parameters(), "lr": cfg.head_lr},
            {"params": self.decoder.head.modulation.parameters(), "lr": cfg.modulation_lr}])
        self.precision = MixedPrecision(cfg.amp, self.device)
        self.history, previous = {"seconds": 0.0, "cpu_seconds": 0.0}, []
        if checkpoint is not None:
            self._load(checkpoint)
            previous = commands_of(checkpoint)
        elif init is not None:
            self._warm_start(cfg.init, *init)
            previous = commands_of(init[1].metadata)
        self.commands = self.lineage(previous, self.start)
        self.student.preprocess.requires_grad_(False)
        self._prepare_data()

    def _shape(self, checkpoint, init):
        """The checkpoint's shape, else the init file's (with --decoder-convs, relaid), else FAST."""
        layout = self.cfg.decoder_convs
        if checkpoint is not None:
            shape = NetworkShape.from_dict(checkpoint["shape"])
            if layout and parse_layout(layout) != shape.decoder_convs:
                raise StylizeError(f"--decoder-convs {layout} differs from the checkpoint's layout "
                                   f"{','.join(map(str, shape.decoder_convs))}")
            return shape
        if layout and init is None:
            raise StylizeError("--decoder-convs moves a trained decoder's convolutions: it needs --init")
        if init is None:
            return FAST
        return relaid_shape(init[0].shape, layout) if layout else init[0].shape

    def _load(self, ckpt):
        for name in ("student", "projection", "decoder", "encoder_optimizer"):
            getattr(self, name).load_state_dict(ckpt[name])
        taps = len(list(self.decoder.head.taps.parameters()))
        self.decoder_optimizer.load_state_dict(split_head_group(ckpt["decoder_optimizer"], taps))
        torch.set_rng_state(ckpt["rng"])
        self.history, self.head_fitted = ckpt["history"], ckpt["head_fitted"]
        self.average.load(ckpt.get("average"))
        self.precision.load_state_dict(ckpt.get("scaler"))

    def _warm_start(self, path, encoder, decoder, head_trained):
        """Go on from a fast model file: its slim encoder and decoder (and head, if it has one),
        the iteration count and the compute spent continue."""
        meta = decoder.metadata
        self.start = meta.get("iterations", 0)
        if self.start < self.cfg.encoder_iters:
            raise StylizeError(f"{path} is at iteration {self.start}, before the end of distillation; "
                               f"set --encoder-iters {self.start} or less")
        self.student.load_state_dict(encoder.state_dict())
        if self.shape == decoder.shape:
            self.decoder.load_state_dict(decoder.state_dict())
        else:
            relaid, fits = relay_decoder(decoder, self.shape)
            self.decoder.load_state_dict(relaid.state_dict())
            self.relaid = decoder.to(self.device), fits
            log.info("decoder layout %s -> %s: %d convolution(s) to fit at the start of phase 2",
                     decoder.shape.decoder_convs, self.shape.decoder_convs, len(fits))
        self.head_fitted = head_trained
        self.history = {"seconds": meta.get("train_seconds", 0.0), "cpu_seconds": meta.get("train_cpu_seconds", 0.0)}
        log.info("warm start from %s (iteration %d, %s)", path, self.start,
                 "its head goes on" if head_trained else "a slim network without a head: the head is fitted")

    def state(self, iteration, losses):
        return {"kind": "fast", "shape": self.shape.as_dict(), "iteration": iteration, "losses": losses,
                "config": asdict(self.cfg), "commands": self.commands, "average": self.average.state(),
                "head_fitted": self.head_fitted, "rng": torch.get_rng_state(), "data": self.data,
                "scaler": self.precision.state_dict(), "history": self.spent(self.history),
                **{name: getattr(self, name).state_dict() for name in
                   ("student", "projection", "decoder", "encoder_optimizer", "decoder_optimizer")}}

    def _set_lr(self, optimizer, steps, base_lrs):
        for group, lr in zip(optimizer.param_groups, base_lrs):
            group["lr"] = inverse_decay(lr, self.cfg.lr_decay, steps)

    def _start_phase_2(self):
        """Freeze the projections (and the student unless it is fine-tuned); fit the head once."""
        self.projection.requires_grad_(False)
        for conv in self.student.convs.values():
            conv.requires_grad_(self.cfg.finetune_encoder)
        if not self.head_fitted:
            fit_head(self.decoder.head, self.student, self.pool, self.device)
            self.head_fitted = True
        if self.relaid is not None:
            residuals = fit_cut_blocks(self.decoder, *self.relaid, self.student, self.pool, self.device)
            log.info("fitted the cut blocks' convolutions to the old decoder's: unexplained variance %s",
                     ", ".join(f"{r:.3f}" for r in residuals))
            self.relaid = None

    def distil_step(self, iteration, content, style):
        self._set_lr(self.encoder_optimizer, iteration, [self.cfg.distil_lr])
        loss = distillation_loss(self.student, self.projection, self.vgg, torch.cat([content, style]))
        self.encoder_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.encoder_optimizer.step()
        return {"distil": loss.item()}

    def pool_indices(self, iteration):
        """The pool pairs of a step: a function of (seed, iteration) only, so a resumed run sees
        what the uninterrupted one would have."""
        g = torch.Generator().manual_seed(seed_of(self.cfg.seed, TEACHER_POOL, iteration))
        return torch.randint(len(self.pool), (self.cfg.batch_size,), generator=g)

    def paint(self, content, stats, alpha=1.0):
        """The fast model's output for content crops and their styles' StyleStats (with gradients)."""
        with torch.set_grad_enabled(self.cfg.finetune_encoder and torch.is_grad_enabled()):
            taps = self.model.encode(content)
        return self.model.paint(taps, stats, alpha)

    def identity_losses(self, content, style, stats):
        """Half the batch's photos at strength 0 and half its paintings as their own style must come
        back (Park & Lee's identity losses, in pixels and at relu1_1-relu2_1): {name: weighted loss}."""
        half = max(1, len(content) // 2)
        images = torch.cat([content[:half], style[:half]])
        own = stats.take(torch.arange(half))
        alpha = torch.cat([torch.zeros(half), torch.ones(half)])
        output = self.paint(images, stack_styles([own, own]), alpha)
        pixel, feature = identity_losses(self.vgg, output, images, depth=FEATURE_DEPTH)
        return {"id_pixel": pixel, "id_feature": feature}

    def decoder_step(self, iteration):
        cfg = self.cfg
        optimizers = [self.decoder_optimizer] + ([self.encoder_optimizer] if cfg.finetune_encoder else [])
        steps = iteration - cfg.encoder_iters
        self._set_lr(self.decoder_optimizer, steps, [cfg.lr, cfg.head_lr, cfg.modulation_lr])
        if cfg.finetune_encoder:
            self._set_lr(self.encoder_optimizer, steps, [cfg.lr])
        content, style, teacher, stats = self.pool.batch(self.pool_indices(iteration), self.device)
        with self.precision.autocast():
            losses = teacher_losses(cfg, self.vgg, content, self.paint(content, stats), teacher, stats)
            if cfg.identity_pixel_weight or cfg.identity_feature_weight:
                identity = self.identity_losses(content, style, stats)
                losses["total"] = (losses["total"] + cfg.identity_pixel_weight * identity["id_pixel"]
                                   + cfg.identity_feature_weight * identity["id_feature"])
                losses.update(identity)
        if not torch.isfinite(losses["total"]):
            raise StylizeError(f"loss became {losses['total'].item()} at iteration {iteration}; "
                               "lower --lr or drop --amp")
        self.precision.step(losses["total"], optimizers)
        self.average.update()
        return {name: value.item() for name, value in losses.items()}

    def _loaders(self, seed, start):
        """Endless (content, style) batch iterators of the run's folders, from iteration `start`."""
        cfg = self.cfg
        load = dict(image_size=cfg.image_size, crop_size=cfg.crop_size, batch_size=cfg.batch_size,
                    workers=cfg.workers, start=start)
        return (endless_loader(folder, seed=seed + i, **load)[1] for i, folder in enumerate((cfg.content_dir,
                                                                                             cfg.style_dir)))

    def _teacher_pool(self):
        """The pool, from its own draw of crops (seed + 2, from the first batch), so that it is
        the same pool whichever iteration a run starts from."""
        cfg = self.cfg
        teacher = Engine.load("quality", cfg.teacher, device=cfg.device, precision="auto")
        meta = teacher.model.decoder.metadata
        settings = {"teacher": str(cfg.teacher or "shipped"), "teacher_written": meta.get("written"),
                    "teacher_iterations": meta.get("iterations"), "size": cfg.pool_size,
                    "crop_size": cfg.crop_size, "image_size": cfg.image_size, "seed": cfg.seed,
                    "content_dir": cfg.content_dir, "style_dir": cfg.style_dir}
        return load_or_make_pool(self.folder, teacher, lambda: self._loaders(cfg.seed + 2, 0), cfg.pool_size, settings)

    def _prepare_data(self):
        """The folders' counts; phase 1's loaders (from the start iteration), and a fresh student
        initialised from data. The teacher pool is made when phase 2 first needs it."""
        cfg = self.cfg
        self.data = {"content_dir": cfg.content_dir, "content_images": len(list_images(cfg.content_dir)),
                     "style_dir": cfg.style_dir, "style_images": len(list_images(cfg.style_dir)),
                     "teacher_pool_pairs": cfg.pool_size}
        log.info("training the fast model on %d content and %d style images, %s: distillation to %d, decoder to %d, "
                 "from iteration %d", self.data["content_images"], self.data["style_images"], self.device,
                 cfg.encoder_iters, cfg.iters, self.start)
        self.student.train()
        self.decoder.train()
        if self.start < cfg.encoder_iters:
            self.contents, self.styles = self._loaders(cfg.seed, self.start)
        if self.start == 0 and cfg.encoder_iters > 0:
            init = torch.cat([torch.cat([next(self.contents)[0], next(self.styles)[0]])
                              for _ in range(2)]).to(self.device)
            initialise_from_data(self.student, self.projection, self.vgg, init)
            log.info("initialised the student from %d crops: distillation loss %.3f", len(init),
                     distillation_loss(self.student, self.projection, self.vgg, init).item())
        self.pool = None

    def step(self, iteration):
        if iteration < self.cfg.encoder_iters:
            (content, _), (style, _) = next(self.contents), next(self.styles)
            return self.distil_step(iteration, *(x.to(self.device, memory_format=torch.channels_last)
                                                 for x in (content, style)))
        if self.pool is None:
            self.pool = self._teacher_pool()
            self._start_phase_2()
        return self.decoder_step(iteration)

    def finish(self, iteration, losses):
        log.info("fast model: iteration %d, %.0f s of training in this run, losses %s", iteration,
                 self.loop.seconds, losses)
        return self.state(iteration, losses)
