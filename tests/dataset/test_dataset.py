"""`stylize dataset`: mirrored trees, the pairing as a pure function of seed and path, shards
under --shard and torchrun, resume after SIGKILL, corrupt sources, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gradient_image
from PIL import Image

from stylize.cli.main import main
from stylize.dataset.manifest import MANIFEST_FILE, PART_PATTERN, read_lines
from stylize.dataset.plan import draw_styles, plan_dataset
from stylize.pipelines.request import DatasetRequest, check_dataset_inputs

ROOT = Path(__file__).resolve().parents[2]


def make_tree(root, classes=("cat", "dog"), per_class=4, size=(40, 32)):
    for c, name in enumerate(classes):
        for i in range(per_class):
            path = root / name / f"img{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            gradient_image(size, seed=10 * c + i).save(path)
    return root


@pytest.fixture
def tree(tmp_path):
    source = make_tree(tmp_path / "source")
    styles = tmp_path / "styles"
    styles.mkdir()
    for i in range(3):
        gradient_image((36, 36), seed=100 + i).save(styles / f"painting{i}.png")
    return source, styles


def dataset_args(source, styles, output, fast_file, *extra):
    return ["dataset", str(source), "--styles", str(styles), "--output", str(output), "--model", "fast",
            "--weights", str(fast_file), "--size", "32", "--style-size", "32", "--device", "cpu", *extra]


def manifest(output):
    return read_lines(output / MANIFEST_FILE)


def part_records(output):
    return [r for part in sorted(output.glob(PART_PATTERN)) for r in read_lines(part)]


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                  and p.parent != folder)


def test_mirrors_the_tree_with_k_outputs_each(tree, fast_file, tmp_path, capsys):
    source, styles = tree
    out = tmp_path / "out"
    assert main(dataset_args(source, styles, out, fast_file, "--per-image", "2", "--alpha-range", "0.3,0.8")) == 0
    assert "16 done, 0 skipped (already there), 0 failed" in capsys.readouterr().out
    expected = sorted(f"{c}/img{i}_{k}.jpg" for c in ("cat", "dog") for i in range(4) for k in range(2))
    assert files_under(out) == expected
    records = manifest(out)
    assert [r["output"] for r in records] == expected
    assert {r["status"] for r in records} == {"done"}
    for r in records:
        assert 0.3 <= r["alpha"] <= 0.8 and r["style"] in {"painting0.png", "painting1.png", "painting2.png"}
        assert r["source"] == r["output"].rsplit("_", 1)[0] + ".jpg"
    # the two outputs of one image take two different styles while there are enough
    by_source = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r["style"])
    assert all(len(set(s)) == 2 for s in by_source.values())
    assert Image.open(out / expected[0]).size == (40, 32)  # shorter side 32, aspect kept
    settings = json.loads((out / "dataset.json").read_text())
    assert settings["per_image"] == 2 and settings["alpha_range"] == [0.3, 0.8]


def test_pairing_is_the_same_across_runs_and_shard_counts(tree, tmp_path):
    source, styles = tree
    request = check_dataset_inputs(DatasetRequest(source, styles, tmp_path / "out", per_image=3,
                                                  alpha_range="0,1", seed=7))
    whole = plan_dataset(request).outputs
    assert plan_dataset(request).outputs == whole
    for count in (2, 3, 5):
        shards = [plan_dataset(request, (i, count)).outputs for i in range(count)]
        assert sorted(o for s in shards for o in s) == sorted(whole)
        assert sum(len(s) for s in shards) == len(whole)  # disjoint
    other_seed = plan_dataset(check_dataset_inputs(DatasetRequest(source, styles, tmp_path / "o", per_image=3,
                                                                  alpha_range="0,1", seed=8))).outputs
    assert [o.alpha for o in other_seed] != [o.alpha for o in whole]


def test_styles_are_read_at_the_models_side_unless_given(tree, tmp_path):
    source, styles = tree
    sides = [check_dataset_inputs(DatasetRequest(source, styles, tmp_path / "out", **fields)).style_size
             for fields in ({}, {"model": "fast"}, {"model": "fast", "style_size": 64})]
    assert sides == [512, 320, 64]


def test_draws_are_distinct_styles_then_repeats():
    picks = draw_styles(0, "a/b.jpg", 5, 3, (1.0, 1.0))
    assert sorted(s for s, _ in picks[:3]) == [0, 1, 2]
    assert all(0 <= s < 3 and a == 1.0 for s, a in picks)
    assert draw_styles(0, "a/b.jpg", 5, 3, (0.0, 1.0)) == draw_styles(0, "a/b.jpg", 5, 3, (0.0, 1.0))


def test_shards_together_make_the_whole_set(tree, fast_file, tmp_path):
    source, styles = tree
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    assert main(dataset_args(source, styles, whole, fast_file, "--alpha-range", "0.5,1")) == 0
    for i in range(3):
        assert main(dataset_args(source, styles, sharded, fast_file, "--alpha-range", "0.5,1", "--shard",
                                 f"{i}/3")) == 0
    assert files_under(sharded) == files_under(whole)
    assert manifest(sharded) == manifest(whole)
    for name in files_under(whole):  # the same pairs give the same pictures
        assert (sharded / name).read_bytes() == (whole / name).read_bytes()


def test_rerun_skips_finished_outputs_and_redoes_missing_ones(tree, fast_file, tmp_path, capsys):
    source, styles = tree
    out = tmp_path / "out"
    assert main(dataset_args(source, styles, out, fast_file)) == 0
    (out / "cat" / "img0.jpg").unlink()
    (out / "dog" / "img1.jpg").write_bytes(b"half")  # not readable: made again
    (out / "dog" / ".img2.0123456789ab.jpg").write_bytes(b"left by a kill")
    capsys.readouterr()
    assert main(dataset_args(source, styles, out, fast_file)) == 0
    assert "2 done, 6 skipped (already there), 0 failed" in capsys.readouterr().out
    assert files_under(out) == sorted(f"{c}/img{i}.jpg" for c in ("cat", "dog") for i in range(4))
    assert len(manifest(out)) == 8


def test_a_corrupt_source_is_recorded_and_counted(tree, fast_file, tmp_path, capsys):
    source, styles = tree
    (source / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "out"
    assert main(dataset_args(source, styles, out, fast_file)) == 0
    assert "8 done, 0 skipped (already there), 1 failed" in capsys.readouterr().out
    failed = [r for r in manifest(out) if r["status"] == "failed"]
    assert [(r["source"], r["output"]) for r in failed] == [("dog/broken.jpg", "dog/broken.jpg")]
    assert "broken.jpg" in failed[0]["error"]
    assert not (out / "dog" / "broken.jpg").exists()


def test_other_settings_are_refused_on_resume(tree, fast_file, tmp_path, capsys):
    source, styles = tree
    out = tmp_path / "out"
    assert main(dataset_args(source, styles, out, fast_file)) == 0
    before = files_under(out)
    capsys.readouterr()
    assert main(dataset_args(source, styles, out, fast_file, "--seed", "1")) == 2
    assert "other settings (seed 0 -> 1)" in capsys.readouterr().err
    assert files_under(out) == before


@pytest.mark.parametrize("change, message", [
    (["--per-image", "0"], "--per-image must be 1 or more"),
    (["--alpha-range", "0.2,1.5"], "alpha must be between 0 and 1, got 0.2,1.5"),
    (["--alpha-range", "0.9,0.1"], "alpha range 0.9,0.1 is reversed"),
    (["--shard", "3/2"], "shard 3/2: I must be from 0 to N-1"),
    (["--styles", "{tmp}/no-such-folder"], "style folder not found"),
    (["--styles", "{tmp}/empty"], "no images found in style folder"),
    (["--source", "{tmp}/empty"], "no images found in source folder"),
    (["--source", "{tmp}/missing"], "source folder not found"),
    (["--output", "{tmp}/source/cat/out"], "is inside the source folder"),
])
def test_bad_input_is_one_error_line_and_nothing_written(tree, fast_file, tmp_path, capfd, change, message):
    source, styles = tree
    (tmp_path / "empty").mkdir()
    options = {"--source": str(source), "--styles": str(styles), "--output": str(tmp_path / "out")}
    options.update({change[0]: change[1].format(tmp=tmp_path)} if change[0] in options else {})
    extra = [] if change[0] in options else change
    argv = ["dataset", options["--source"], "--styles", options["--styles"], "--output", options["--output"],
            "--model", "fast", "--weights", str(fast_file), *extra]
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(argv) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert sorted(p for p in tmp_path.rglob("*")) == before


def _cli(*args, torchrun=0):
    launcher = [sys.executable, "-m", "stylize.cli.main"] if not torchrun else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}",
        "-m", "stylize.cli.main"]
    return [*launcher, *args]


def _wait_for_records(output, count, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if len(part_records(output)) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} records before the run ended")


def _assert_complete_once(output, expected):
    assert files_under(output) == expected  # no temporaries, no extra files
    done = [r["output"] for r in part_records(output) if r["status"] == "done"]
    assert sorted(done) == expected  # each output recorded (made) once over all runs and ranks
    assert [r["output"] for r in manifest(output)] == expected


def test_resume_after_sigkill_completes_the_set(tmp_path, decoder_file):
    source = make_tree(tmp_path / "source", classes=("a", "b", "c"), per_class=12, size=(64, 64))
    styles = tmp_path / "styles"
    styles.mkdir()
    gradient_image((64, 64), seed=3).save(styles / "s.png")
    out = tmp_path / "out"
    # the quality model (VGG-19 at 64 px, one image a pass) is slow enough to be caught mid-run
    args = _cli("dataset", str(source), "--styles", str(styles), "--output", str(out), "--weights", str(decoder_file),
                "--size", "64", "--style-size", "64", "--batch-size", "1", "--workers", "0", "--device", "cpu")
    run = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_records(out, 5, run)
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert 5 <= len(files_under(out)) < 36
    subprocess.run(args, check=True, capture_output=True)
    _assert_complete_once(out, sorted(f"{c}/img{i}.jpg" for c in "abc" for i in range(12)))


def _children(pid):
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_torchrun_two_processes_then_a_killed_rank_and_a_rerun(tmp_path, decoder_file, fast_file):
    source = make_tree(tmp_path / "source", classes=("a", "b"), per_class=16, size=(64, 64))
    styles = tmp_path / "styles"
    styles.mkdir()
    gradient_image((64, 64), seed=3).save(styles / "s.png")
    gradient_image((64, 64), seed=4).save(styles / "t.png")
    expected = sorted(f"{c}/img{i}.jpg" for c in "ab" for i in range(16))

    def args(out, *model):
        return _cli("dataset", str(source), "--styles", str(styles), "--output", str(out), *model, "--size", "64",
                    "--style-size", "64", "--workers", "0", "--batch-size", "1", "--device", "cpu", torchrun=2)

    whole = tmp_path / "whole"
    done = subprocess.run(args(whole, "--model", "fast", "--weights", str(fast_file)), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "32 done, 0 skipped (already there), 0 failed" in done.stdout
    assert len(list(whole.glob(PART_PATTERN))) == 2
    _assert_complete_once(whole, expected)

    # the quality model (VGG-19 at 64 px, one image a pass) is slow enough to be caught mid-run
    killed = tmp_path / "killed"
    quality = args(killed, "--weights", str(decoder_file))
    launcher = subprocess.Popen(quality, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_records(killed, 4, launcher)
    ranks = _children(launcher.pid)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    assert launcher.wait(timeout=120) != 0  # torchrun stops the other rank and fails
    assert len(files_under(killed)) < 32
    again = subprocess.run(quality, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    _assert_complete_once(killed, expected)
    assert manifest(killed) == manifest(whole)  # the pairing does not depend on the model either
