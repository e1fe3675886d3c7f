"""Quality of a decoder on held-out images: the paper's losses on fixed pairs, and a results grid.

    python benchmarks/quality.py --decoder weights/adain_decoder.safetensors \
        --heldout data/heldout --grid weights/results.jpg

Pairs: the i-th held-out content photo (sorted by name) with the (i mod S)-th held-out style, all
resized and centre-cropped to --size. Losses are those of training (content at relu4_1 against
the AdaIN target; mean/std style loss at relu1_1..relu4_1), in float32, without gradients.
Prints a table and the means, and writes them as JSON with --json.
"""
import argparse
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from stylize.images import list_images, open_image, prepare, to_image, to_tensor
from stylize.train import adain_losses
from stylize.transfer import Stylizer
from stylize.weights import load_decoder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoder", default=None, help="decoder file (default: the shipped one)")
    parser.add_argument("--heldout", default="data/heldout", type=Path)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--grid", type=Path, help="write a results grid (styles across, photos down)")
    parser.add_argument("--grid-rows", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    decoder = load_decoder(args.decoder)
    stylizer = Stylizer(decoder, device="cpu")
    contents = [to_tensor(prepare(open_image(p), args.size, crop=True)) for p in list_images(args.heldout / "content")]
    styles = [to_tensor(prepare(open_image(p), args.size, crop=True)) for p in list_images(args.heldout / "style")]
    pairs = [(c, styles[i % len(styles)]) for i, c in enumerate(contents)]
    rows = []
    with torch.no_grad():
        for i, (c, s) in enumerate(pairs):
            content_loss, style_loss, _ = adain_losses(stylizer.encoder, decoder, c[None], s[None])
            rows.append({"pair": i, "content": content_loss.item(), "style": style_loss.item()})
    summary = {"decoder": args.decoder or "shipped", "iterations": decoder.metadata.get("iterations"),
               "pairs": len(rows), "size": args.size,
               "content_loss": sum(r["content"] for r in rows) / len(rows),
               "style_loss": sum(r["style"] for r in rows) / len(rows)}
    for r in rows:
        print(f"pair {r['pair']:2d}  content {r['content']:.3f}  style {r['style']:.3f}")
    print(f"mean over {len(rows)} held-out pairs at {args.size} px: content {summary['content_loss']:.3f}, "
          f"style {summary['style_loss']:.3f} (decoder at {summary['iterations']} iterations)")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=2))
    if args.grid:
        write_grid(stylizer, contents[:args.grid_rows], styles, args.size, args.grid)


def write_grid(stylizer, contents, styles, size, path):
    cell = size
    grid = Image.new("RGB", ((len(styles) + 1) * cell, (len(contents) + 1) * cell), "white")
    for j, s in enumerate(styles):
        grid.paste(to_image(s), ((j + 1) * cell, 0))
    stats = [stylizer.style_stats(s) for s in styles]
    for i, c in enumerate(contents):
        grid.paste(to_image(c), (0, (i + 1) * cell))
        for j, st in enumerate(stats):
            grid.paste(to_image(stylizer.stylize_tensor(c, [st])), ((j + 1) * cell, (i + 1) * cell))
    ImageDraw.Draw(grid).text((8, 8), "content \\ style", fill="black")
    grid.save(path, quality=90)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
