"""Write an output folder all at once: build it in a temporary sibling, then rename it into place.

A failure, Ctrl-C or SIGTERM while building leaves no OUTPUT_DIR behind (and an existing one untouched).

``--overwrite`` replaces only a folder edgellm wrote (one holding an ``edgellm.json`` that ``read_manifest``
accepts) or an empty one, and never the current directory, the model source or a folder above either of them:
a folder of documents given by mistake is refused, not emptied.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Iterator

from edgellm.errors import ConfigError, ModelFileError
from edgellm.files import umask
from edgellm.manifest import MANIFEST, is_compress_output, read_manifest
from edgellm.signals import check

_SHOWN_FILES = 4  # unexpected files named in a refusal


def check_output_dir(path: str | Path, *, overwrite: bool, source: str | Path | None = None,
                     needed_bytes: int = 0) -> Path:
    """Fail early, before any work, when ``path`` cannot be written or must not be replaced.

    ``source``: the model folder or file the export reads (never replaced, nor a folder holding it);
    ``needed_bytes``: an estimate of the export's size, checked against the free space of the file system.
    """
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite must be True or False; got {overwrite!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"output folder must be a path (str or pathlib.Path); got {type(path).__name__}")
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output {str(path)!r} is a file; pass a folder path")
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ConfigError(f"output folder {str(path)!r} is the current directory or holds it; choose a new "
                          "folder, e.g. out/model")
    if source is not None:
        src = Path(source).expanduser().resolve()
        if resolved == src or resolved in src.parents:
            raise ConfigError(f"output folder {str(path)!r} is the model source {str(source)!r} or holds it; "
                              "choose another folder")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise ConfigError(f"output folder {str(path)!r} exists and is not empty; pass --overwrite to replace it "
                              "or choose another folder")
        _check_ours(path)
    _check_writable(path, needed_bytes)
    return path


def _check_ours(path: Path) -> None:
    """ConfigError unless ``path`` holds an edgellm.json that read_manifest accepts (an export), or the
    compress.json of an `edgellm prune` output."""
    if is_compress_output(path):
        return
    try:
        read_manifest(path)
        return
    except ModelFileError as e:
        reason = "no edgellm.json" if not (path / MANIFEST).is_file() else f"its {MANIFEST} is not edgellm's"
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        shown = ", ".join(names[:_SHOWN_FILES]) + (f" and {len(names) - _SHOWN_FILES} more"
                                                   if len(names) > _SHOWN_FILES else "")
        raise ConfigError(f"--overwrite replaces only a folder edgellm wrote, and {str(path)!r} was not ({reason}; "
                          f"it holds {shown}); choose another folder, or empty it yourself") from e


def _check_writable(path: Path, needed_bytes: int) -> None:
    """The nearest existing folder at or above ``path`` is a writable folder with room for ``needed_bytes``."""
    parent = path.parent if not path.exists() else path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot create output folder {str(path)!r}: {str(parent)!r} is a file")
    folder = path.parent if path.parent.exists() else parent  # the temporary sibling goes next to ``path``
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write output folder {str(path)!r}: {str(folder)!r} is not writable; choose a "
                          "folder you can write to")
    if needed_bytes > 0:
        free = shutil.disk_usage(folder).free
        if free < needed_bytes:
            raise ConfigError(f"not enough free disk for {str(path)!r}: the export needs about "
                              f"{needed_bytes / 1e6:.0f} MB, {str(folder)!r} has {free / 1e6:.0f} MB free; free some "
                              "space or choose another disk")


@contextlib.contextmanager
def atomic_output_dir(path: str | Path, *, overwrite: bool, source: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path``, on any exception (Ctrl-C, SIGTERM too) it is
    removed and ``path`` is as it was."""
    path = check_output_dir(path, overwrite=overwrite, source=source)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        tmp.chmod(0o777 & ~umask())  # mkdtemp makes it 0700; an export folder is as readable as any other
        yield tmp
        check()  # a Ctrl-C or SIGTERM that a library callback swallowed still stops the run here
        check_output_dir(path, overwrite=overwrite, source=source)  # still ours after the (long) build
        _replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace(new: Path, path: Path) -> None:
    """Put ``new`` at ``path``. An existing ``path`` is swapped with ``new`` in one step where the OS can
    (renameat2 RENAME_EXCHANGE), else renamed aside first and restored on any failure; SIGINT and SIGTERM wait
    until the swap is done, so there is no moment without an output folder. ``new`` then holds the old export."""
    with _signals_held():
        if not path.exists():
            new.rename(path)
            return
        if not _exchange(new, path):
            old = path.with_name(f".{path.name}.old-{new.name.rsplit('-', 1)[-1]}")
            path.rename(old)
            try:
                new.rename(path)
            except BaseException:
                old.rename(path)
                raise
            old.rename(new)  # the old export takes the temporary folder's place, which the caller removes
    shutil.rmtree(new, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the OS or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (delivered right after) while the block runs; no-op where it cannot."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
