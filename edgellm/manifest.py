"""The export folder's manifest, ``edgellm.json``: its file names, its format version, reading and checking it.

Standard library only: every reader (``edgellm bench``, ``inspect``, ``generate`` on a Raspberry Pi; the exporter;
the Android demo reads the same keys) goes through here. ``edgellm.bundle`` writes the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable

from edgellm.errors import ModelFileError

FORMAT_VERSION = 1
MANIFEST = "edgellm.json"
MODEL_FILE = "model.tflite"
LITERTLM_FILE = "model.litertlm"  # LLM exports: the same model as a LiteRT-LM bundle
TEXT_GENERATION = "text-generation"  # the task of LLM exports; every other task is an encoder's
COMPRESS_FILE = "compress.json"  # what `edgellm prune` did, in the HF folder it writes
COMPRESS_FORMAT = "edgellm.compress/1"


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's edgellm.json as a dict; a one-line ModelFileError when it is missing, not JSON, or not an
    object, or when it comes from a newer edgellm (a ``format_version`` above ours)."""
    folder = Path(folder)
    file = folder / MANIFEST
    if not file.is_file():
        raise ModelFileError(f"{str(folder)!r} has no {MANIFEST}; pass an export folder written by `edgellm export`")
    try:
        manifest = json.loads(file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{file} is not valid JSON ({e}); re-run `edgellm export`") from e
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{file} holds a JSON {type(manifest).__name__}, not an object; re-run "
                             "`edgellm export`")
    version = manifest.get("format_version", FORMAT_VERSION)
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise ModelFileError(f"{file} has format_version {version}; this edgellm reads {FORMAT_VERSION}: "
                             "upgrade edgellm or re-export with this one")
    return manifest


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write edgellm.json into ``folder`` at once (temporary file, then rename)."""
    from edgellm.files import write_atomically

    return write_atomically(Path(folder) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def is_compress_output(folder: str | os.PathLike) -> bool:
    """``folder`` holds the compress.json of an `edgellm prune` output."""
    try:
        doc = json.loads((Path(folder) / COMPRESS_FILE).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == COMPRESS_FORMAT


def task_of(path: str | os.PathLike) -> str | None:
    """The task of the export folder at ``path``; None for anything else (a file, a folder without a readable
    manifest). For choosing a code path, not for checking a folder: readers call ``read_manifest``."""
    try:
        task = read_manifest(path).get("task") if Path(path).is_dir() else None
    except ModelFileError:
        return None
    return task if isinstance(task, str) else None


def is_llm_export(path: str | os.PathLike) -> bool:
    return task_of(path) == TEXT_GENERATION


# ---------------------------------------------------------------------------------------------- integrity
FILES = "files"  # the manifest section: {name: {"size": bytes, "sha256": hex}} of every shipped file


def file_digests(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """{name: {"size", "sha256"}} of every file in the export ``folder`` except edgellm.json (names relative to
    the folder, "/"-separated; hidden temporary files left out). Written into the manifest by ``edgellm.bundle``."""
    folder = Path(folder)
    out = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        if name == MANIFEST or any(part.startswith(".") for part in Path(name).parts):
            continue
        out[name] = {"size": file.stat().st_size, "sha256": sha256_file(file)}
    return out


def verify_files(folder: str | os.PathLike, manifest: dict[str, Any], *,
                 names: Iterable[str] | None = None) -> bool:
    """Check the size and sha256 of the export's files against the manifest's ``files`` section before a loader
    hands them to LiteRT: one-line ModelFileError naming the first file that differs or is missing.

    ``names``: the files the loader reads (default: all listed). Returns True when checked; False for an export
    written before edgellm recorded hashes (no ``files`` section: a warning, then the caller loads it the safe way).
    """
    folder = Path(folder)
    files = manifest.get(FILES)
    if files is None:
        warnings.warn(f"{folder / MANIFEST} records no file hashes (an export from an older edgellm), so its files "
                      "cannot be checked; re-export it to get them", stacklevel=2)
        return False
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise ModelFileError(f"{folder / MANIFEST}: its '{FILES}' section is not {{name: {{size, sha256}}}}; "
                             "re-export the folder")
    for name in (files if names is None else names):
        expected = files.get(name)
        if expected is None:
            raise ModelFileError(f"{name}: not listed in {MANIFEST}'s '{FILES}' section, so it was not written by "
                                 "the export; re-export the folder, or pass --no-verify")
        file = folder / name
        if not file.is_file():
            raise ModelFileError(f"{name}: {str(folder)!r} has no {name} though {MANIFEST} lists it; copy the "
                                 "whole export folder, or re-export it")
        try:
            size = file.stat().st_size
            if size != expected.get("size"):
                raise ModelFileError(f"{name}: {size} bytes, {MANIFEST} says {expected.get('size')}: the file was "
                                     "changed or cut short after export; re-export it, or pass --no-verify")
            if sha256_file(file) != expected.get("sha256"):
                raise ModelFileError(f"{name}: sha256 differs from {MANIFEST}: the file was changed after export; "
                                     "re-export it, or pass --no-verify")
        except OSError as e:
            raise ModelFileError(f"{name}: cannot be read ({e.strerror or e}); check its permissions") from e
    return True


def sha256_file(file: Path) -> str:
    """The file's sha256 (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
