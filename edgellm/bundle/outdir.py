"""Write an output folder all at once: build it in a temporary sibling, then rename it into place.

A failure or Ctrl-C while building leaves no OUTPUT_DIR behind (and an existing one untouched).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from edgellm.errors import ConfigError


def check_output_dir(path: str | Path, *, overwrite: bool) -> Path:
    """Fail early, before any work, when ``path`` cannot be written."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output {str(path)!r} is a file; pass a folder path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(f"output folder {str(path)!r} exists and is not empty; pass --overwrite to replace it "
                          "or choose another folder")
    return path


@contextlib.contextmanager
def atomic_output_dir(path: str | Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path``, on any exception it is removed."""
    path = check_output_dir(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; an export folder is as readable as any other
    try:
        yield tmp
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(new: Path, path: Path) -> None:
    if not path.exists():
        new.rename(path)
        return
    old = path.with_name(f".{path.name}.old-{new.name.rsplit('-', 1)[-1]}")
    path.rename(old)
    try:
        new.rename(path)
    except OSError:
        old.rename(path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data)
    tmp.replace(path)
