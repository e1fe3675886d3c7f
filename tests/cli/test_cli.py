import subprocess
import sys

import pytest
from conftest import gradient_image
from PIL import Image

import stylize.models.weights
from stylize.cli.main import main
from stylize.media.images import to_tensor

SMALL = ["--content-size", "32", "--style-size", "32"]


def run(args):
    """Run `stylize ARGS` in-process; returns the exit status."""
    try:
        return main([str(a) for a in args])
    except SystemExit as e:  # argparse's usage errors
        return e.code


def fails(capsys, args, message, output_dir=None):
    """The command exits 2 with one `error:` line containing `message`, and writes no file."""
    code = run(args)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], err
    if output_dir is not None:
        assert not [p for p in output_dir.rglob("*") if p.is_file()], "partial output left behind"


def test_single_pair(images, decoder_file, capsys):
    out = images / "result.png"
    assert run(["transfer", "--content", images / "content.png", "--style", images / "style.png",
                "--weights", decoder_file, "--output", out, *SMALL]) == 0
    assert Image.open(out).size == (43, 32)  # 64x48 content, shorter side 32
    assert str(out) in capsys.readouterr().out


def test_folders_run_every_pair(images, decoder_file, tmp_path):
    contents, styles, out = tmp_path / "c", tmp_path / "s", tmp_path / "out"
    contents.mkdir(), styles.mkdir()
    for i in range(2):
        gradient_image((40, 40), i).save(contents / f"photo{i}.jpg")
    for name in ("wave", "stars", "ink"):
        gradient_image((40, 40), 9).save(styles / f"{name}.png")
    run(["transfer", "--content", contents, "--style", styles, "--weights", decoder_file,
         "--output", out, "--ext", "webp", *SMALL])
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"photo{i}_stylized_{s}.webp" for i in range(2) for s in ("wave", "stars", "ink"))


def test_style_features_are_computed_once_per_style(images, decoder_file, tmp_path, monkeypatch):
    from stylize.pipelines.engine import Engine

    calls = []
    original = Engine.style_stats
    monkeypatch.setattr(Engine, "style_stats", lambda self, *args: calls.append(1) or original(self, *args))
    contents = tmp_path / "c"
    contents.mkdir()
    for i in range(3):
        gradient_image((40, 40), i).save(contents / f"p{i}.png")
    run(["transfer", "--content", contents, "--style", images / "style.png", "--weights", decoder_file,
         "--output", tmp_path / "out", *SMALL])
    assert len(calls) == 1 and len(list((tmp_path / "out").iterdir())) == 3


def test_interpolation_makes_one_image_per_content(images, decoder_file, tmp_path):
    run(["transfer", "--content", images / "content.png", "--style", f"{images / 'style.png'},{images / 'style2.jpg'}",
         "--style-weights", "1,3", "--weights", decoder_file, "--output", tmp_path / "o", *SMALL])
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["content_stylized_style+style2.jpg"]


def test_masks_paint_each_region_in_its_own_style(images, tmp_path):
    """With the shipped model: away from the seam, each half of a two-mask result is nearer the
    result of its own style alone than of the other's."""
    left, right = Image.new("L", (64, 48), 0), Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48)), right.paste(255, (32, 0, 64, 48))
    left.save(tmp_path / "l.png"), right.save(tmp_path / "r.png")
    stripes = Image.new("RGB", (48, 48), (240, 200, 20))
    for x in range(0, 48, 6):
        stripes.paste((20, 40, 160), (x, 0, x + 3, 48))
    stripes.save(tmp_path / "stripes.png")
    styles = [images / "style.png", tmp_path / "stripes.png"]
    sizes = ["--content-size", "48", "--style-size", "48"]
    run(["transfer", "--content", images / "content.png", "--style", ",".join(map(str, styles)),
         "--mask", tmp_path / "l.png", tmp_path / "r.png", "--output", tmp_path / "masked.png", *sizes])
    for i, style in enumerate(styles):
        run(["transfer", "--content", images / "content.png", "--style", style, "--output", tmp_path / f"{i}.png",
             *sizes])
    masked, alone = to_tensor(Image.open(tmp_path / "masked.png")), [to_tensor(Image.open(tmp_path / f"{i}.png"))
                                                                      for i in range(2)]
    assert masked.shape == (3, 48, 64)
    for own, other, side in ((0, 1, slice(0, 20)), (1, 0, slice(44, None))):
        near, far = ((masked[..., side] - alone[k][..., side]).abs().mean() for k in (own, other))
        assert near < 0.5 * far


def test_odd_image_modes_work(images, decoder_file, tmp_path):
    gradient_image((40, 30), 4, mode="CMYK").save(tmp_path / "cmyk.jpg")
    gradient_image((30, 30), 5, mode="P").save(tmp_path / "pal.png", transparency=3)
    run(["transfer", "--content", tmp_path / "cmyk.jpg", "--style", tmp_path / "pal.png",
         "--weights", decoder_file, "--output", tmp_path / "o.png", *SMALL])
    assert Image.open(tmp_path / "o.png").mode == "RGB"


def bad_files(folder):
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    buf = folder / "full.jpg"
    gradient_image((64, 64)).save(buf)
    (folder / "truncated.jpg").write_bytes(buf.read_bytes()[:400])
    (folder / "bad_decoder.safetensors").write_bytes(b"nonsense")
    Image.new("RGB", (8000, 100), (120, 80, 40)).save(folder / "strip.png")  # a few KB; 163840x2048 at 2048


@pytest.mark.parametrize("change, message", [
    ({"--content": "missing.png"}, "content image not found"),
    ({"--style": "missing.png"}, "style image not found"),
    ({"--content": "empty.png"}, "not an image"),
    ({"--content": "text.jpg"}, "not an image"),
    ({"--style": "truncated.jpg"}, "cannot decode image"),
    ({"--weights": "bad_decoder.safetensors"}, "not a readable safetensors file"),
    ({"--alpha": "1.5"}, "must be between 0 and 1"),
    ({"--style-weights": "1,2"}, "got 2 style weights for 1 style"),
    ({"--style-weights": "a,b"}, "must be comma-separated numbers"),
    ({"--mask": "full.jpg"}, "masks must match the content size"),
    ({"--content-size": "-4"}, "must be 0 or more"),
    ({"--device": "tpu"}, "invalid choice"),
    ({"--alpha": "nan"}, "alpha must be a finite number"),
    ({"--style-weights": "nan"}, "style weights must be a finite number"),
    ({"--style-weights": "inf"}, "style weights must be a finite number"),
    ({"--content-size": "100000"}, "over the limit of 64,000,000 pixels"),
    ({"--style": "strip.png", "--style-size": "2048"}, "would be worked on at 163840x2048"),
    ({"--max-pixels": "100"}, "over the limit of 100 pixels"),
])
def test_bad_input_is_one_error_line_and_no_output(images, decoder_file, capsys, tmp_path, change, message):
    bad_files(images)
    args = {"--content": "content.png", "--style": "style.png", "--weights": str(decoder_file)}
    args.update(change)
    argv = ["transfer", *SMALL]  # first, so that a case's own --content-size or --style-size wins
    for key, value in args.items():
        argv += [key, value if key in ("--alpha", "--style-weights", "--content-size", "--style-size", "--device",
                                       "--max-pixels")
                 or value == str(decoder_file) else images / value]
    out = tmp_path / "out"
    fails(capsys, [*argv, "--output", out / "o.png"], message, out)


def test_unwritable_output(images, decoder_file, capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    fails(capsys, ["transfer", "--content", images / "content.png", "--style", images / "style.png",
                   "--weights", decoder_file, "--output", tmp_path / "file" / "o.png", *SMALL], "cannot write")


def test_an_output_name_with_another_extension_is_refused_not_made_a_folder(images, decoder_file, capsys, tmp_path):
    fails(capsys, ["transfer", "--content", images / "content.png", "--style", images / "style.png",
                   "--weights", decoder_file, "--output", tmp_path / "out.txt", *SMALL],
          "--output " + str(tmp_path / "out.txt") + ": .txt is not an image extension")
    assert not (tmp_path / "out.txt").exists()


def test_a_read_only_output_file_is_not_replaced(images, decoder_file, capsys, tmp_path):
    (tmp_path / "results").mkdir()
    out = tmp_path / "results" / "kept.png"
    out.write_bytes(b"an earlier result")
    out.chmod(0o444)
    fails(capsys, ["transfer", "--content", images / "content.png", "--style", images / "style.png",
                   "--weights", decoder_file, "--output", out, *SMALL], f"cannot write {out}: the file is read-only")
    assert out.read_bytes() == b"an earlier result"
    assert [p.name for p in out.parent.iterdir()] == ["kept.png"]  # no temporary left beside it


def test_missing_default_decoder_says_so(images, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(stylize.models.weights, "DEFAULT_DECODER", tmp_path / "weights" / "adain_decoder.safetensors")
    fails(capsys, ["transfer", "--content", images / "content.png", "--style", images / "style.png",
                   "--output", tmp_path / "o.png", *SMALL], "no trained decoder shipped yet")


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stylize.cli.main", "transfer", "--content",
                             str(tmp_path / "nope.png"), "--style", str(tmp_path / "nope.png")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: content image not found: {tmp_path / 'nope.png'}"]


def test_batches_give_the_same_images(images, decoder_file, tmp_path):
    contents = tmp_path / "c"
    contents.mkdir()
    for i in range(3):
        gradient_image((40, 40), i).save(contents / f"p{i}.png")
    gradient_image((48, 40), 7).save(contents / "other_size.png")
    for size in ("1", "2"):
        assert run(["transfer", "--content", contents, "--style", f"{images / 'style.png'},{images / 'style2.jpg'}",
                    "--weights", decoder_file, "--output", tmp_path / f"b{size}", "--ext", "png",
                    "--batch-size", size, "--precision", "fp32", *SMALL]) == 0
    one, two = sorted((tmp_path / "b1").iterdir()), sorted((tmp_path / "b2").iterdir())
    assert [p.name for p in one] == [p.name for p in two] and len(one) == 8
    for a, b in zip(one, two):
        diff = (to_tensor(Image.open(a).convert("RGB")) - to_tensor(Image.open(b).convert("RGB"))).abs().max()
        assert diff <= 2 / 255, (a.name, diff)


def test_cli_model_fast(images, fast_file, capsys):
    out = images / "fast.png"
    assert main(["transfer", "--model", "fast", "--content", str(images / "content.png"), "--style",
                 str(images / "style.png"), "--weights", str(fast_file), "--output", str(out), *SMALL]) == 0
    assert Image.open(out).size == (43, 32)


@pytest.mark.parametrize("argv, message", [
    (["train-fast", "--style-dir", ".", "--modulation-lr", "-1"], "--modulation-lr: must be 0 or more, got -1"),
    (["train", "--style-dir", ".", "--lr", "nan"], "--lr: must be 0 or more, got nan"),
    (["train-bank", "--style-weight", "-0.5"], "--style-weight: must be 0 or more, got -0.5"),
])
def test_training_rates_and_weights_below_zero_are_one_error_line(capsys, tmp_path, argv, message):
    fails(capsys, [*argv, "--content-dir", tmp_path, "--out", tmp_path / "run"], message)
    assert not (tmp_path / "run").exists()
