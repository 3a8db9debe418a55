"""The export folder's manifest, ``edgellm.json``: its file names, its format version, reading and checking it.

Standard library only: every reader (``edgellm bench``, ``inspect``, ``generate`` on a Raspberry Pi; the exporter;
the Android demo reads the same keys) goes through here. ``edgellm.bundle`` writes the manifest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgellm.errors import ModelFileError

FORMAT_VERSION = 1
MANIFEST = "edgellm.json"
MODEL_FILE = "model.tflite"
LITERTLM_FILE = "model.litertlm"  # LLM exports: the same model as a LiteRT-LM bundle
TEXT_GENERATION = "text-generation"  # the task of LLM exports; every other task is an encoder's


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
    file = Path(folder) / MANIFEST
    tmp = file.with_name(f".{MANIFEST}.partial")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, file)
    return file


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
