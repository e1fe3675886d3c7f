"""`stylize dataset` when the output cannot be written: a full disk in DataLoader workers or at
the manifest's merge, a read-only output folder. Each is one `error:` line and exit 2, no
traceback; what was made is kept, and a rerun completes the set and the manifest.

A full disk is a file-size limit (RLIMIT_FSIZE) on the run's process: writing past it fails
with EFBIG, as writing to a full disk fails with ENOSPC, through the same calls."""
import os
import resource
import shutil
import signal
import subprocess
from contextlib import contextmanager

import pytest
from conftest import gradient_image
from test_dataset import _assert_complete_once, _cli, files_under, make_tree, part_records

from stylize.cli.main import main
from stylize.dataset.manifest import MANIFEST_FILE


@pytest.fixture
def tree(tmp_path):
    """8 photos in two class folders, 3 paintings."""
    styles = tmp_path / "styles"
    styles.mkdir()
    for i in range(3):
        gradient_image((36, 36), seed=100 + i).save(styles / f"painting{i}.png")
    return make_tree(tmp_path / "source"), styles


def run_with_file_limit(args, max_bytes):
    """The CLI in a process that cannot write any file past `max_bytes`."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return subprocess.run(_cli(*args), capture_output=True, text=True, preexec_fn=limit, timeout=300)


def assert_one_error_line(stderr, *words):
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), stderr


def dataset_args(source, styles, out, fast_file, *extra):
    return ["dataset", str(source), "--styles", str(styles), "--output", str(out), "--model", "fast",
            "--weights", str(fast_file), "--size", "32", "--style-size", "32", "--device", "cpu", *extra]


def test_a_full_disk_in_dataloader_workers_is_one_error_line_and_a_rerun_completes(tree, fast_file, tmp_path):
    source, styles = tree
    out = tmp_path / "out"
    args = dataset_args(source, styles, out, fast_file, "--workers", "1", "--batch-size", "2")
    full = run_with_file_limit(args, 1000)  # dataset.json (~300 bytes) fits, no output image (~1.8 KB) does
    assert full.returncode == 2, full.stderr[-2000:]
    assert_one_error_line(full.stderr, "cannot write", "File too large")
    again = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    _assert_complete_once(out, sorted(f"{c}/img{i}.jpg" for c in ("cat", "dog") for i in range(4)))


def test_a_full_disk_at_the_merge_keeps_the_parts_and_a_rerun_merges(fast_file, tmp_path):
    source = make_tree(tmp_path / "source", per_class=16)
    styles = tmp_path / "styles"
    shutil.copytree(source / "cat", styles)
    out = tmp_path / "out"
    expected = sorted(f"{c}/img{i}.jpg" for c in ("cat", "dog") for i in range(16))
    first = subprocess.run(_cli(*dataset_args(source, styles, out, fast_file, "--shard", "0/2")),
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    # The second shard's images (~1.8 KB) and part (16 lines, ~1.8 KB) fit under 2.6 KB; the
    # manifest of both (32 lines) does not.
    last = run_with_file_limit(dataset_args(source, styles, out, fast_file, "--shard", "1/2"), 2600)
    assert last.returncode == 2, last.stderr[-2000:]
    assert_one_error_line(last.stderr, f"cannot write {out / MANIFEST_FILE}", "rerun the same command")
    assert files_under(out) == expected  # every output is there
    assert sorted(r["output"] for r in part_records(out)) == expected  # and recorded in the parts
    again = subprocess.run(_cli(*dataset_args(source, styles, out, fast_file, "--shard", "1/2")),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 done, 16 skipped" in again.stdout, again.stderr[-2000:]
    _assert_complete_once(out, expected)


@contextmanager
def read_only(folder):
    """`folder` unwritable, for root too (which ignores permission bits: the immutable flag)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = lambda: folder.chmod(0o755)  # noqa: E731
    else:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root, and the immutable flag cannot be set here")
        undo = lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)  # noqa: E731
    try:
        yield
    finally:
        undo()


def test_a_read_only_output_folder_is_one_error_line(tree, fast_file, tmp_path, capfd):
    source, styles = tree
    out = tmp_path / "out"
    out.mkdir()
    with read_only(out):
        assert main(dataset_args(source, styles, out, fast_file)) == 2
        assert_one_error_line(capfd.readouterr().err, f"cannot write {out / 'dataset.json'}")
        assert list(out.iterdir()) == []
    assert main(dataset_args(source, styles, out, fast_file)) == 0
    _assert_complete_once(out, sorted(f"{c}/img{i}.jpg" for c in ("cat", "dog") for i in range(4)))
