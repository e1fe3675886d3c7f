"""Quality of a model on held-out images: the AdaIN paper's losses on fixed pairs, identity
fidelity, and a results grid.

    python benchmarks/quality.py [--model quality|fast] [--weights FILE] \
        --heldout data/heldout [--grid weights/results.jpg] [--json FILE]

Pairs: the (i mod C)-th held-out content photo (sorted by name) with the (i mod S)-th held-out style,
for i < max(C, S), all resized and centre-cropped to --size: data/heldout (20 photos, 5 styles: the
running series of the model card) or data/heldout-paintings (the same photos, 31 paintings from the
packages that training never sees). Both models are scored with the same yardstick, VGG-19:
the decoder's raw output is encoded by VGG-19; content loss at relu4_1 against AdaIN of the
photo's VGG relu4_1 with the painting's statistics, style loss on the mean/std of relu1_1..relu4_1
against the painting's (for the quality model these are exactly its training losses), also shown
by tap, which says at which scale a model falls short. Float32, no gradients. Prints a table and
the means, and writes them as JSON with --json.

Identity fidelity (what distances miss: a decoder that paints its own marks whatever it is given):
PSNR against the input, at --identity-size px (shorter side, whole picture), of each held-out
photo at strength 0 (its own features: the photo should come back) and of each held-out painting
stylised by itself (the painting should come back). Goals: at least 24 dB and 18 dB.
"""
import argparse
import json
import math
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from stylize.media.images import list_images, open_image, prepare, to_image, to_tensor
from stylize.models.networks import RELU4_1, TAP_NAMES
from stylize.models.registry import MODEL_NAMES
from stylize.models.style_layers import AdaIN, mean_std
from stylize.models.weights import load_encoder
from stylize.pipelines.engine import Engine
from stylize.training.losses import style_losses


@torch.no_grad()
def yardstick_losses(vgg, engine, content, style):
    """(content loss, style loss by tap) of the engine's raw output for one pair, measured by VGG-19."""
    x = content[None]
    output = engine.decode(*engine.stylize_features(engine.encode(x), engine.style_stats(style)))
    style_stats = [mean_std(t) for t in vgg(style[None])]
    target = AdaIN()(vgg(x)[RELU4_1], *style_stats[RELU4_1])
    content_loss, style_by_tap = style_losses(vgg, output, target, style_stats, per_tap=True)
    return content_loss.item(), [loss.item() for loss in style_by_tap]


def psnr(output, reference):
    """Peak signal-to-noise ratio in dB of two images in [0, 1], after rounding to 8 bits as a file would."""
    mse = ((output * 255).round() - (reference * 255).round()).div(255).pow(2).mean().item()
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


@torch.no_grad()
def identity_fidelity(engine, photos, paintings, size):
    """(mean PSNR of photos at strength 0, mean PSNR of paintings stylised by themselves)."""
    def mean_psnr(paths, alpha):
        images = [to_tensor(prepare(open_image(path), size)) for path in paths]
        return sum(psnr(engine.stylize_tensor(x, engine.style_stats(x), alpha=alpha), x) for x in images) / len(images)

    return mean_psnr(photos, 0.0), mean_psnr(paintings, 1.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=MODEL_NAMES, default="quality")
    parser.add_argument("--weights", default=None,
                        help="decoder (quality) or fast model file (default: the shipped one)")
    parser.add_argument("--heldout", default="data/heldout", type=Path)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--grid", type=Path, help="write a results grid (styles across, photos down)")
    parser.add_argument("--grid-rows", type=int, default=4)
    parser.add_argument("--identity-size", type=int, default=384)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    engine = Engine.load(args.model, args.weights, device="cpu", precision="fp32")
    vgg = load_encoder()
    contents = [to_tensor(prepare(open_image(p), args.size, crop=True)) for p in list_images(args.heldout / "content")]
    styles = [to_tensor(prepare(open_image(p), args.size, crop=True)) for p in list_images(args.heldout / "style")]
    pairs = [(contents[i % len(contents)], styles[i % len(styles)]) for i in range(max(len(contents), len(styles)))]
    rows = []
    for i, (c, s) in enumerate(pairs):
        content_loss, style_by_tap = yardstick_losses(vgg, engine, c, s)
        rows.append({"pair": i, "content": content_loss, "style": sum(style_by_tap),
                     "style_by_tap": dict(zip(TAP_NAMES, style_by_tap))})
    meta = engine.model.decoder.metadata
    summary = {"model": args.model, "weights": args.weights or "shipped", "iterations": meta.get("iterations"),
               "pairs": len(rows), "size": args.size,
               "content_loss": sum(r["content"] for r in rows) / len(rows),
               "style_loss": sum(r["style"] for r in rows) / len(rows),
               "style_loss_by_tap": {tap: sum(r["style_by_tap"][tap] for r in rows) / len(rows) for tap in TAP_NAMES}}
    for r in rows:
        print(f"pair {r['pair']:2d}  content {r['content']:.3f}  style {r['style']:.3f}")
    print(f"{args.model}: mean over {len(rows)} held-out pairs at {args.size} px: "
          f"content {summary['content_loss']:.3f}, "
          f"style {summary['style_loss']:.3f} ({summary['iterations']} iterations)")
    print("style loss by tap: " + ", ".join(f"{tap} {loss:.3f}" for tap, loss in summary["style_loss_by_tap"].items()))
    summary["identity_photo_psnr"], summary["identity_painting_psnr"] = identity_fidelity(
        engine, list_images(args.heldout / "content"), list_images(args.heldout / "style"), args.identity_size)
    print(f"identity at {args.identity_size} px: photos at strength 0 {summary['identity_photo_psnr']:.2f} dB "
          f"(goal 24), paintings by themselves {summary['identity_painting_psnr']:.2f} dB (goal 18)")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=2))
    if args.grid:
        write_grid(engine, contents[:args.grid_rows], styles, args.size, args.grid)


def write_grid(engine, contents, styles, size, path):
    cell = size
    grid = Image.new("RGB", ((len(styles) + 1) * cell, (len(contents) + 1) * cell), "white")
    for j, s in enumerate(styles):
        grid.paste(to_image(s), ((j + 1) * cell, 0))
    stats = [engine.style_stats(s) for s in styles]
    for i, c in enumerate(contents):
        grid.paste(to_image(c), (0, (i + 1) * cell))
        for j, st in enumerate(stats):
            grid.paste(to_image(engine.stylize_tensor(c, st)), ((j + 1) * cell, (i + 1) * cell))
    ImageDraw.Draw(grid).text((8, 8), "content \\ style", fill="black")
    grid.save(path, quality=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
