"""``edgellm pack``: copy a checked export folder to where a device app reads it (the Android demo's assets).

The export's files are checked against the sizes and sha256 its edgellm.json records before the copy, and the copy
is checked again before it is renamed into place (``atomic_output_dir``): what lands in
``android_demo/app/src/main/assets/edgellm`` is byte for byte what was validated, or nothing is written.

    >>> edgellm.pack("out/smollm2", "android_demo/app/src/main/assets/edgellm", overwrite=True)  # doctest: +SKIP
    PackResult(path=PosixPath('android_demo/app/src/main/assets/edgellm'), files=(...), size_bytes=..., verified=True)
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from edgellm.bundle.outdir import atomic_output_dir
from edgellm.errors import ConfigError
from edgellm.manifest import FILES, MANIFEST, read_manifest, verify_files
from edgellm.signals import check

APP_FOLDER = "/data/local/tmp/edgellm"  # the first folder the Android demo looks in (android_demo/README.md)


@dataclass(frozen=True)
class PackResult:
    path: Path  # the folder written
    files: tuple[str, ...]  # names copied, relative to it ("/"-separated), edgellm.json included
    size_bytes: int
    verified: bool  # False: the export records no file hashes (an older edgellm), so nothing could be checked

    def summary(self) -> str:
        check_line = ("checked against edgellm.json (size + sha256) before and after the copy" if self.verified else
                      "NOT checked: its edgellm.json records no file hashes (re-export it to have them)")
        return (f"packed {len(self.files)} files ({self.size_bytes / 1e6:.1f} MB) into {self.path}; {check_line}\n"
                f"on a phone without rebuilding the app: adb shell rm -rf {APP_FOLDER} && "
                f"adb push {self.path} {APP_FOLDER}")


def pack(export_dir: str | os.PathLike, output_dir: str | os.PathLike, *, overwrite: bool = False) -> PackResult:
    """Copy the export folder ``export_dir`` to ``output_dir`` (e.g. ``android_demo/app/src/main/assets/edgellm``)
    after checking every file edgellm.json lists; ``overwrite`` replaces an earlier export there (never another
    folder). Raises ModelFileError naming the first file that differs, ConfigError for a bad ``output_dir``."""
    src = Path(export_dir)
    if not src.is_dir():
        raise ConfigError(f"export folder {str(src)!r} does not exist; pass a folder written by `edgellm export`")
    manifest = read_manifest(src)  # ModelFileError when it is not an export
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an older export: reported in the result instead
        verified = verify_files(src, manifest)
    if verified:
        names = sorted(manifest[FILES])
    else:
        names = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()
                       and p.name != MANIFEST and not any(part.startswith(".") for part in p.relative_to(src).parts))
    names.append(MANIFEST)
    with atomic_output_dir(output_dir, overwrite=overwrite, source=src) as tmp:
        for name in names:
            check()
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / name, target)
        if verified:
            verify_files(tmp, manifest)  # the copy, before it is renamed into place
    size = sum((src / n).stat().st_size for n in names)
    return PackResult(Path(output_dir), tuple(names), size, verified)
