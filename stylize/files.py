"""Writing files so that no reader ever sees half of one: below every other module of the
library (media, models, training and the dataset mode all write through it)."""
import errno
import os
import re
import uuid
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


_TEMPORARY = re.compile(r"\.(.*)\.[0-9a-f]{12}(\.[^.]*)?")  # atomic_write's ".<stem>.<12 hex><suffix>"


def temporary_of(name):
    """The file name that an atomic_write temporary called `name` was to become, else None: a
    killed writer (SIGKILL, power loss) leaves its temporary behind for the next run to remove."""
    found = _TEMPORARY.fullmatch(name)
    return found.group(1) + (found.group(2) or "") if found else None


def atomic_write(path, write):
    """Call write(tmp_path), then rename onto `path`: readers never see a half-written file. A
    read-only file is left as it is (PermissionError): a rename would replace it regardless."""
    path = Path(path)
    if path.is_file() and not path.stat().st_mode & 0o222:
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}{path.suffix}")  # same folder: atomic rename
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # some writers (safetensors) create files 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
