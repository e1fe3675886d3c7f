"""Dataset speed: images/s of `stylize dataset` end to end (decode, stylise, encode, write) by
model, and with 2 processes under torchrun against 1.

    python benchmarks/dataset.py [--source DIR] [--styles DIR] [--images 480] [--models fast quality]

Without --source, a tree of ImageNet-like JPEGs (--images of them, 500x375, in 4 class folders)
is made from the example photos, cropped at random places; without --styles, the web page's
four example paintings. Each configuration writes a fresh output folder at 224 px (--size 224 --crop, as
Stylized-ImageNet is read) with the command's defaults, and its figure is the command's own
summary (stylising only: model loading and style encoding are not in it). Prints the CPU (or GPU).
"""
import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from speed import ROOT, machine

from stylize.device import pick_device
from stylize.media.images import open_image

PHOTOS = [ROOT / "examples" / name for name in ("gorilla.jpg", "coast.jpg", "monument.jpg")]
PAINTINGS = [ROOT / "api" / "static" / "examples" / name for name in ("sower.jpg", "archer.jpg", "engraving.jpg",
                                                                      "halstead.jpg")]
SUMMARY = re.compile(r"(\d+) done, (\d+) skipped .* failed, in ([\d.]+) s: ([\d.]+) images/s")


def make_tree(folder, count, seed=0):
    """`count` 500x375 JPEGs in 4 class folders, random windows of the example photos."""
    rng = random.Random(seed)
    photos = [open_image(p) for p in PHOTOS]
    for i in range(count):
        photo = rng.choice(photos)
        scale = rng.uniform(1.0, 1.6)
        width, height = round(500 * scale), round(375 * scale)
        big = photo.resize((max(width, photo.width), max(height, photo.height)))
        left, top = rng.randrange(big.width - width + 1), rng.randrange(big.height - height + 1)
        window = big.crop((left, top, left + width, top + height)).resize((500, 375))
        target = folder / f"class{i % 4}" / f"{i:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        window.save(target, quality=90)


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    found = SUMMARY.search(result.stdout)
    if result.returncode or not found:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    return float(found.group(4)), float(found.group(3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--styles", type=Path)
    parser.add_argument("--images", type=int, default=480)
    parser.add_argument("--models", nargs="+", default=["fast", "quality"])
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    device = pick_device("auto")
    print(f"device: {machine(device)}; torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source, styles = args.source, args.styles
        if source is None:
            source = tmp / "source"
            make_tree(source, args.images)
        if styles is None:
            styles = tmp / "styles"
            styles.mkdir()
            for painting in PAINTINGS:
                shutil.copy(painting, styles / painting.name)
        command = ["dataset", str(source), "--styles", str(styles), "--size", str(args.size), "--crop"]
        print(f"| model | processes | images/s | seconds | ({args.images if args.source is None else 'given'} images "
              f"at {args.size} px, {len(list(styles.iterdir()))} styles)")
        print("| --- | --- | --- | --- |")
        for model in args.models:
            for processes in (1, 2):
                out = tmp / f"out-{model}-{processes}"
                launcher = [sys.executable, "-m", "stylize.cli.main"] if processes == 1 else [
                    sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                    "-m", "stylize.cli.main"]
                rate, seconds = run([*launcher, *command, "--output", str(out), "--model", model])
                print(f"| {model} | {processes}{' (torchrun)' if processes > 1 else ''} | {rate:.1f} | {seconds:.1f} |",
                      flush=True)
                shutil.rmtree(out)


if __name__ == "__main__":
    main()
