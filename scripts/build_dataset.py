"""Build the training set for the default decoder from Debian packages (no COCO/WikiArt here).

    python scripts/build_dataset.py [--out data]

Downloads the packages below with `apt-get download` and unpacks them with `dpkg -x` (no
install, no root needed beyond apt's cache), picks photos for content and paintings, artwork
and textures for style, scales each to a shorter side of at most 512 px (JPEG, quality 95),
and holds out a fixed set for evaluation:

    OUT/content/  OUT/style/  OUT/heldout/{content,style}/  OUT/heldout-paintings/{content,style}/

GCompris keeps its pictures inside Qt resource (.rcc) files; the WebP images are cut out of
those by their RIFF headers. Packages and licences are listed in weights/README.md.
"""
import argparse
import io
import re
import struct
import subprocess
import tempfile
import zlib
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
WESNOTH = "usr/share/games/wesnoth/1.16/data"
WESNOTH_CAMPAIGNS = ["trow", "httt", "utbs", "low", "tsg", "nr", "did", "dm", "dw", "ei", "l", "sof", "sota", "sotbe",
                     "thot", "ttb"]
ENDLESS_SKY = "usr/share/games/endless-sky/plugins/endless-sky-high-dpi/images"
FREECOL = "usr/share/games/freecol/default/resources/images"
FLARE = "usr/share/games/flare/mods"
PACKAGES = ["gcompris-qt-data", "wesnoth-1.16-data", "plasma-workspace-wallpapers", "mate-backgrounds",
            "gnome-backgrounds", "ukui-wallpapers", "krita-data", *(f"wesnoth-1.16-{c}" for c in WESNOTH_CAMPAIGNS),
            "endless-sky-high-dpi", "freecol", "flare-game", "scratch", "widelands-data",
            "lomiri-wallpapers-16.04", "tuxtype-data", "mypaint-data-extras"]
# Held out of training, for the evaluation pairs and the results grid (file-name stems).
HELDOUT_CONTENT = {"erase_003", "erase_010", "erase_017", "erase_024", "erase_031", "monuments_005",
                   "monuments_015", "monuments_025", "monuments_035", "monuments_045", "world_animals_004",
                   "world_animals_011", "farm_animals_003", "world_music_002", "world_music_006",
                   "details_009", "nature_Garden", "nature_Storm", "plasma_Path", "plasma_EveningGlow"}
HELDOUT_STYLE = {"details_004", "details_019", "wesnoth_landscape-coast", "wesnoth_swamp-03",
                 "plasma_Kite"}
# The extended held-out set: a fixed sixteenth of the paintings of painting_sources (chosen by a
# hash of the file stem, so adding packages never moves an image between sets), never trained on.
# Written to OUT/heldout-paintings/style, with the held-out photos as its content.
PAINTING_HOLDOUT_MODULUS = 16


def holds_out_painting(stem):
    return zlib.crc32(stem.encode()) % PAINTING_HOLDOUT_MODULUS == 0


def unpack(package, root):
    """apt-get download + dpkg -x into root/package; returns that folder."""
    target = root / package
    if not target.exists():
        if not any(root.glob(f"{package}_*.deb")):
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
    for rcc, stem in [("erase", "erase"), ("explore_monuments", "monuments"),
                      ("explore_world_animals", "world_animals"), ("explore_farm_animals", "farm_animals"),
                      ("explore_world_music", "world_music"),
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
    yield from painting_sources(root)
    yield from photo_sources(root)


def figure_on_painting(figure, background):
    """A painted figure with a transparent surround, cropped to the figure and set on a painting
    (over white, the decoder would learn to paint flat white backgrounds)."""
    figure = figure.convert("RGBA")
    figure = figure.crop(figure.getchannel("A").getbbox() or (0, 0, *figure.size))
    scale = max(figure.size[0] / background.size[0], figure.size[1] / background.size[1])
    size = (max(figure.size[0], round(background.size[0] * scale)),
            max(figure.size[1], round(background.size[1] * scale)))
    background = background.convert("RGBA").resize(size)
    left, top = (background.size[0] - figure.size[0]) // 2, (background.size[1] - figure.size[1]) // 2
    return Image.alpha_composite(background.crop((left, top, left + figure.size[0], top + figure.size[1])), figure)


def centre(img, fraction):
    """The middle `fraction` of each side: FreeCol's portraits without their gilt frame."""
    w, h = img.size
    dx, dy = round(w * (1 - fraction) / 2), round(h * (1 - fraction) / 2)
    return img.crop((dx, dy, w - dx, h - dy))


def painting_sources(root):
    """The painterly style images (added on 2026-12-01): (kind 'painting', stem, image)."""
    wesnoth = {c: unpack(f"wesnoth-1.16-{c}", root) / WESNOTH / "campaigns" for c in WESNOTH_CAMPAIGNS}
    stories = []
    for campaign, folder in wesnoth.items():
        for path in sorted(folder.glob("*/images/story/*")):
            if path.suffix in (".jpg", ".png") and "logo" not in path.stem:
                stories.append((f"wesnoth-story_{campaign}_{path.stem}", path))
    for stem, path in stories:
        yield "painting", stem, Image.open(path)
    for campaign, folder in wesnoth.items():
        for path in sorted(folder.glob("*/images/maps/*.png")):
            yield "painting", f"wesnoth-map_{campaign}_{path.stem}", Image.open(path)
    backgrounds = [path for _, path in stories]
    core = unpack("wesnoth-1.16-data", root) / WESNOTH / "core/images/portraits"
    figures = [(f"wesnoth-portrait_{p.relative_to(core).with_suffix('').as_posix().replace('/', '_')}", p)
               for p in sorted(core.rglob("*.png"))]
    for campaign, folder in wesnoth.items():
        figures += [(f"wesnoth-portrait_{campaign}_{p.stem}", p)
                    for p in sorted(folder.glob("*/images/portraits/**/*.png"))]
    flare = unpack("flare-game", root) / FLARE
    figures += [(f"flare-portrait_{p.stem}", p) for p in sorted((flare / "fantasycore/images/portraits").glob("*.png"))]
    figures += [(f"flare-portrait_empyrean_{p.stem}", p)
                for p in sorted((flare / "empyrean_campaign/images/portraits").glob("*.png"))]
    for stem, path in figures:
        background = Image.open(backgrounds[zlib.crc32(stem.encode()) % len(backgrounds)])
        yield "painting", stem, figure_on_painting(Image.open(path), background)
    for path in sorted((flare / "fantasycore/images/menus/backgrounds").glob("*.png")):
        yield "painting", f"flare-bg_{path.stem}", Image.open(path)
    for path in sorted((flare / "empyrean_campaign/images/cutscenes").rglob("*.png")):
        yield "painting", f"flare-cutscene_{path.stem}", Image.open(path)
    freecol = unpack("freecol", root) / FREECOL
    for path in sorted((freecol / "foundingFathers").glob("*.size6.jpg")):
        yield "painting", f"freecol_{path.name.split('.')[0]}", centre(Image.open(path), 0.58)
    for path in sorted((freecol / "ui").glob("*.png")):
        if path.stem.startswith("meet_") or path.stem in ("landing", "discovery"):
            yield "painting", f"freecol_{path.stem}", Image.open(path)
    for path in sorted((unpack("mypaint-data-extras", root) / "usr/share/mypaint/backgrounds").glob("*/*.png")):
        yield "style", f"mypaint_{path.stem}", Image.open(path)


def photo_sources(root):
    """The photos added on 2026-12-01 (Endless Sky, Scratch, ...), for content."""
    land = unpack("endless-sky-high-dpi", root) / ENDLESS_SKY / "land"
    for path in sorted(land.glob("*.jpg")):
        yield "content", f"endless-sky_{path.stem.replace('@2x', '')}", Image.open(path)
    for path in sorted((unpack("scratch", root) / "usr/share/scratch/Media/Backgrounds").glob("*/*.jpg")):
        yield "content", f"scratch_{path.parent.name}_{path.stem}", Image.open(path)
    widelands = unpack("widelands-data", root) / "usr/share/games/widelands/data"
    for path in sorted((widelands / "templates/default/loadscreens/gameloading").glob("*/*.png")):
        yield "content", f"widelands_{path.parent.name}_{path.stem}", Image.open(path)
    for path in sorted((widelands / "campaigns").glob("fri0*.wmf/pics/background.jpg")):
        yield "content", f"widelands_{path.parent.parent.stem}", Image.open(path)
    for path in sorted((unpack("lomiri-wallpapers-16.04", root) / "usr/share/backgrounds").glob("*.jpg")):
        yield "content", f"lomiri_{path.stem}", Image.open(path)
    for path in sorted((unpack("tuxtype-data", root) / "usr/share/tuxtype/images").glob("kcas*.jpg")):
        yield "content", f"tuxtype_{path.stem}", Image.open(path)


def destinations(out, kind, stem):
    """The folders an image goes to: kind 'painting' is a style image that the extended held-out
    set may claim; held-out photos serve both held-out sets."""
    if kind == "painting":
        return [out / "heldout-paintings" / "style" if holds_out_painting(stem) else out / "style"]
    if kind == "content" and stem in HELDOUT_CONTENT:
        return [out / "heldout" / "content", out / "heldout-paintings" / "content"]
    if kind == "style" and stem in HELDOUT_STYLE:
        return [out / "heldout" / "style"]
    return [out / kind]


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
            for folder in destinations(args.out, kind, stem):
                folder.mkdir(parents=True, exist_ok=True)
                img.save(folder / f"{stem}.jpg", quality=95)
                key = f"{folder.relative_to(args.out)} {stem.split('_')[0]}"
                counts[key] = counts.get(key, 0) + 1
    for key, n in sorted(counts.items()):
        print(f"{n:5d}  {key}")
    print(f"{sum(counts.values())} images written under {args.out}")


if __name__ == "__main__":
    main()
