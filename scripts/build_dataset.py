"""Build the training set for the default decoder from Debian packages (no COCO/WikiArt here).

    python scripts/build_dataset.py [--out data]

Downloads the packages below with `apt-get download` and unpacks them with `dpkg -x` (no
install, no root needed beyond apt's cache), picks photos for content and paintings, artwork
and textures for style, scales each to a shorter side of at most 512 px (JPEG, quality 95),
and holds out a fixed set for evaluation:

    OUT/content/  OUT/style/  OUT/heldout/content/  OUT/heldout/style/

GCompris keeps its pictures inside Qt resource (.rcc) files; the WebP images are cut out of
those by their RIFF headers. Packages and licences are listed in weights/README.md.
"""
import argparse
import io
import re
import struct
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

SIDE = 512
GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
WESNOTH_STORY = "usr/share/games/wesnoth/1.16/data/core/images/story"
PLASMA = "usr/share/wallpapers"
# GCompris "details" mixes monument photos with Van Gogh paintings; these are the paintings.
DETAILS_PAINTINGS = {2, 4, 7, 8, 10, 12, 15, 19}
PLASMA_PHOTOS = ["BytheWater", "ColdRipple", "EveningGlow", "FallenLeaf", "Grey", "MilkyWay",
                 "OneStandsOut", "Path", "Volna", "summer_1am"]
PLASMA_ART = ["Altai", "Autumn", "Canopee", "Cascade", "Cluster", "ColorfulCups", "DarkestHour", "Elarun",
              "Flow", "FlyingKonqui", "Honeywave", "IceCold", "Kay", "Kite", "Kokkini", "Opal", "Patak",
              "SafeLanding", "Shell"]
PACKAGES = ["gcompris-qt-data", "wesnoth-1.16-data", "plasma-workspace-wallpapers", "mate-backgrounds",
            "gnome-backgrounds", "ukui-wallpapers", "krita-data"]
# Held out of training, for the evaluation pairs and the results grid (file-name stems).
HELDOUT_CONTENT = {"erase_003", "erase_010", "erase_017", "erase_024", "erase_031", "monuments_005",
                   "monuments_015", "monuments_025", "monuments_035", "monuments_045", "world_animals_004",
                   "world_animals_011", "farm_animals_003", "world_music_002", "world_music_006",
                   "details_009", "nature_Garden", "nature_Storm", "plasma_Path", "plasma_EveningGlow"}
HELDOUT_STYLE = {"details_004", "details_019", "wesnoth_landscape-coast", "wesnoth_swamp-03",
                 "plasma_Kite"}


def unpack(package, root):
    """apt-get download + dpkg -x into root/package; returns that folder."""
    target = root / package
    if not target.exists():
        subprocess.run(["apt-get", "download", package], cwd=root, check=True, capture_output=True)
        deb = next(root.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    return target


def rcc_images(path, min_side=256):
    """WebP images stored in a Qt .rcc resource file, in file order."""
    data = path.read_bytes()
    for match in re.finditer(rb"RIFF(....)WEBP", data, re.S):
        size = struct.unpack("<I", match.group(1))[0]
        try:
            img = Image.open(io.BytesIO(data[match.start():match.start() + 8 + size]))
            img.load()
        except OSError:
            continue
        if min(img.size) >= min_side:
            yield img


def largest(folder):
    return max(folder.glob("*"), key=lambda p: p.stat().st_size)


def collect(root):
    """Yield (kind, stem, PIL image) for every picked image; kind is 'content' or 'style'."""
    gc = unpack("gcompris-qt-data", root) / GCOMPRIS_RCC
    for rcc, stem in [("erase", "erase"), ("explore_monuments", "monuments"), ("explore_world_animals", "world_animals"),
                      ("explore_farm_animals", "farm_animals"), ("explore_world_music", "world_music"),
                      ("clickgame", "underwater"), ("details", "details")]:
        for i, img in enumerate(rcc_images(gc / f"{rcc}.rcc")):
            painting = rcc == "details" and i in DETAILS_PAINTINGS
            yield ("style" if painting else "content"), f"{stem}_{i:03d}", img
    for path in sorted((unpack("wesnoth-1.16-data", root) / WESNOTH_STORY).glob("*.jpg")):
        yield "style", f"wesnoth_{path.stem}", Image.open(path)
    plasma = unpack("plasma-workspace-wallpapers", root) / PLASMA
    for name in PLASMA_PHOTOS:
        yield "content", f"plasma_{name}", Image.open(largest(plasma / name / "contents" / "images"))
    for name in PLASMA_ART:
        yield "style", f"plasma_{name}", Image.open(largest(plasma / name / "contents" / "images"))
    mate = unpack("mate-backgrounds", root) / "usr/share/backgrounds/mate"
    for path in sorted((mate / "nature").glob("*.jpg")):
        yield "content", f"nature_{path.stem}", Image.open(path)
    for name in ["Elephants_3840x2160.jpg", "Flow.png", "Gulp.png", "Silk.png", "Spring.png", "Waves.png",
                 "GreenTraditional.jpg"]:
        yield "style", f"mate_{Path(name).stem}", Image.open(next(mate.rglob(name)))
    for path in sorted((unpack("gnome-backgrounds", root) / "usr/share/backgrounds/gnome").glob("*-l.webp")):
        yield "style", f"gnome_{path.stem}", Image.open(path)
    for path in sorted((unpack("ukui-wallpapers", root) / "usr/share/backgrounds").glob("*")):
        if path.stem not in ("2004default", "firstgeneration"):
            yield "style", f"ukui_{path.stem}", Image.open(path)
    for path in sorted((unpack("krita-data", root) / "usr/share/krita/patterns").glob("*.png")):
        yield "style", f"krita_{path.stem}", Image.open(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data", type=Path)
    parser.add_argument("--cache", type=Path, help="folder for the .deb files (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cache or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        counts = {}
        for kind, stem, img in collect(root):
            img = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img).convert("RGB")
            if min(img.size) < 128:
                continue
            if min(img.size) > SIDE:
                scale = SIDE / min(img.size)
                img = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.Resampling.LANCZOS)
            heldout = stem in (HELDOUT_CONTENT if kind == "content" else HELDOUT_STYLE)
            folder = args.out / ("heldout" if heldout else "") / kind
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{stem}.jpg", quality=95)
            key = ("heldout " if heldout else "") + kind
            counts[key] = counts.get(key, 0) + 1
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())), f"images in {args.out}")


if __name__ == "__main__":
    main()
