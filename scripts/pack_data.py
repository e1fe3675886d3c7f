"""Pack a training set small enough to travel to a GPU machine: every image of SRC/content and
SRC/style, shorter side scaled to --side (256: the paper's crop size), as JPEG.

    python scripts/pack_data.py data data-256 [--side 256] [--quality 90]

Prints the count and size of each folder; the whole built set (about 1,200 images) packs to
about 30 MiB at 256 px.
"""
import argparse
from pathlib import Path

from stylize.files import atomic_write
from stylize.media.images import list_images, open_image, resize_shorter


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    for kind in ("content", "style"):
        folder = args.dst / kind
        folder.mkdir(parents=True, exist_ok=True)
        sources = list_images(args.src / kind)
        for path in sources:
            img = resize_shorter(open_image(path).convert("RGB"), args.side)
            atomic_write(folder / f"{path.stem}.jpg", lambda tmp: img.save(tmp, format="JPEG", quality=args.quality))
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"{kind}: {len(sources)} images, {size / 2**20:.1f} MiB in {folder}")


if __name__ == "__main__":
    main()
