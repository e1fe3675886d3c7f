import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_judge_set_needs_the_held_out_paintings_first(tmp_path):
    # It copies held-out paintings that scripts/build_dataset.py writes: without them, one line
    # and exit 2, before anything is downloaded or written.
    result = subprocess.run(["bash", "scripts/build_judge_set.sh", str(tmp_path / "set"), str(tmp_path / "nodata")],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    missing = tmp_path / "nodata" / "heldout" / "style"
    assert result.stderr.strip() == f"build_judge_set: no {missing}: run scripts/build_dataset.py first"
    assert not (tmp_path / "set").exists()
