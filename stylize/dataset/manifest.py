"""The record of a dataset run, in the output folder beside the class folders (which a
torchvision ImageFolder reads; files at the top level are not classes):

- `dataset.json`: the settings the outputs were made with; a rerun must match them.
- `manifest.part-I-of-N.jsonl`: what shard I of N did, a JSON line per output as it happens
  (source, style, alpha, output, status "done" or "failed", error); appending is safe to kill.
- `manifest.jsonl`: the parts merged, one line per output, sorted; written when a run ends.
"""
import fcntl
import json
from contextlib import contextmanager
from pathlib import Path

from stylize.errors import StylizeError
from stylize.files import atomic_write

SETTINGS_FILE = "dataset.json"
MANIFEST_FILE = "manifest.jsonl"
PART_PATTERN = "manifest.part-*-of-*.jsonl"


@contextmanager
def writing(path):
    """An OSError while writing `path` (a read-only folder, a full disk) as one StylizeError."""
    try:
        yield
    except OSError as e:
        raise StylizeError(f"cannot write {path}: {e.strerror or e}") from None


def part_path(folder, shard):
    index, count = shard
    return Path(folder) / f"manifest.part-{index:05d}-of-{count:05d}.jsonl"


def check_settings(folder, settings):
    """Write `settings` into a new output folder, or check that an existing one was made with
    the same (so a resumed run cannot mix two pairings)."""
    path = Path(folder) / SETTINGS_FILE
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise StylizeError(f"cannot read {path}: {e}") from None
        changed = [f"{key} {old.get(key)!r} -> {value!r}" for key, value in settings.items() if old.get(key) != value]
        if changed:
            raise StylizeError(f"{folder} was made with other settings ({'; '.join(changed)}); "
                               "rerun with the same options, or give a new --output")
        return
    with writing(path):
        atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=1) + "\n"))


def read_lines(path):
    """The records of one JSONL file; a line cut short by a kill is skipped."""
    records = []
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def read_records(folder):
    """output -> its record, from the merged manifest and every part; "done" wins over "failed"."""
    folder = Path(folder)
    best = {}
    for path in [folder / MANIFEST_FILE, *sorted(folder.glob(PART_PATTERN))]:
        for record in read_lines(path):
            output = record.get("output")
            if output is not None and (output not in best or record.get("status") == "done"):
                best[output] = record
    return best


class ManifestPart:
    """One process's part, opened for appending; each record is flushed as it is written."""

    def __init__(self, folder, shard):
        self.path = part_path(folder, shard)
        with writing(self.path):
            self.file = open(self.path, "a+", encoding="utf-8")
            self.file.seek(0, 2)
            if self.file.tell():  # a line cut short by a kill would swallow the next one
                self.file.seek(self.file.tell() - 1)
                if self.file.read(1) != "\n":
                    self.file.write("\n")

    def write(self, record):
        with writing(self.path):
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()

    def close(self):
        try:
            self.file.close()
        except OSError:  # a line the disk had no room for: the rerun's check records its output
            pass


@contextmanager
def _locked(folder):
    """An exclusive lock on the folder's manifest, so processes that end together merge in turn."""
    with open(Path(folder) / "manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def merge_manifest(folder):
    """Rewrite manifest.jsonl from every part; returns the number of outputs it records. If it
    cannot be written the parts stay as they are, and a rerun merges them."""
    path = Path(folder) / MANIFEST_FILE
    try:
        with _locked(folder):
            records = read_records(folder)
            lines = "".join(json.dumps(records[output]) + "\n" for output in sorted(records))
            atomic_write(path, lambda tmp: Path(tmp).write_text(lines))
    except OSError as e:
        raise StylizeError(f"cannot write {path}: {e.strerror or e}; every output and the manifest parts are "
                           "kept: rerun the same command to merge them") from None
    return len(records)
