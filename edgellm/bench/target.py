"""What a bench/inspect PATH names: a ``.tflite`` file, an export folder (``edgellm.json``), or a ``.litertlm``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgellm.errors import ConfigError, ModelFileError
from edgellm.manifest import FILES, LITERTLM_FILE, MANIFEST, MODEL_FILE, read_manifest, verify_files


@dataclass(frozen=True)
class Target:
    given: str  # the PATH as the user wrote it
    model_path: Path  # the .tflite (or .litertlm) to load
    folder: Path | None = None  # the export folder, when PATH is one
    manifest: dict | None = None  # its edgellm.json
    verified: bool = False  # the files matched edgellm.json's sizes and sha256 (else: load in safe mode)

    @property
    def name(self) -> str:
        """Short label for tables: the folder name for an export folder, else the file name."""
        return self.folder.name if self.folder is not None else self.model_path.name

    @property
    def kind(self) -> str:
        if self.model_path.suffix == ".litertlm":
            return "litertlm"
        return "export-folder" if self.folder is not None else "tflite"

    def signature_lengths(self) -> dict[str, int]:
        """Signature name -> sequence length, as edgellm.json lists them (empty when not an export folder)."""
        out = {}
        for s in (self.manifest or {}).get("signatures") or []:
            if isinstance(s, dict) and "name" in s and isinstance(s.get("sequence_length"), int):
                out[s["name"]] = s["sequence_length"]
        return out

    def fidelity(self) -> dict | None:
        """``validation`` of edgellm.json ({passed, tolerance, metrics}) and the recipe, for comparison tables."""
        if not self.manifest:
            return None
        v = self.manifest.get("validation")
        q = self.manifest.get("quantization") or {}
        if not isinstance(v, dict):
            return None
        return {"recipe": q.get("recipe") if isinstance(q, dict) else None, "passed": v.get("passed"),
                "tolerance": v.get("tolerance"), "metrics": v.get("metrics")}


def resolve(path: str | os.PathLike, *, verify: bool = True) -> Target:
    """Resolve PATH; ModelFileError (one line, what to pass instead) when it is none of the three.

    ``verify``: an export folder's files must match the sizes and sha256 its edgellm.json records (a one-line
    ModelFileError naming the file otherwise); False skips the check (``--no-verify``).
    """
    if not isinstance(verify, bool):
        raise ConfigError(f"verify must be True or False; got {verify!r}")
    given = os.fspath(getattr(path, "path", path))  # also accepts an object with .path (EdgeModel)
    p = Path(given)
    if p.is_dir():
        manifest_path = p / MANIFEST
        if not manifest_path.is_file():
            tflites = sorted(x.name for x in p.glob("*.tflite"))
            hint = f"; pass the file instead: {p / tflites[0]}" if tflites else "; pass a .tflite file or an export folder"
            raise ModelFileError(f"{p} is a folder without {MANIFEST}, so not an edgellm export folder{hint}")
        manifest = read_manifest(p)
        model_file = manifest.get("model_file", MODEL_FILE)
        model_path = p / str(model_file)
        if not model_path.is_file():
            raise ModelFileError(f"{manifest_path} names model_file {model_file!r} but {model_path} is missing; "
                                 "re-export the folder or copy the model back")
        reads = [name for name in (manifest.get(FILES) or {}) if name != LITERTLM_FILE or model_file == name]
        verified = verify and verify_files(p, manifest, names=reads)
        return Target(given, model_path, p, manifest, verified)
    if not p.exists():
        raise ModelFileError(f"{p} does not exist; pass a .tflite file, an export folder or a .litertlm bundle")
    return Target(given, p)
