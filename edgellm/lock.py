"""The lock: what an export or an ``edgellm optimize`` run was built from, so ``edgellm verify`` can rebuild it.

A lock holds the sha256 of every input file (the model's weights, tokenizer and config files, the calibration and
validation corpora), the versions of the libraries that touched the result, each stage's arguments, the seed and
the sha256 of every output file. An export folder keeps its lock in edgellm.json (``lock``: the export config,
the inputs and the seed; its ``versions`` and ``files`` sections are the rest); ``edgellm optimize`` keeps one in
report.json (``lock``) covering every recipe's export and the folder ``best/``.

``verify`` rebuilds into a temporary folder and compares file by file. A file that differs is explained: an input
that changed, a library version that changed, a file changed on disk after it was written, or, all of those
equal, a stage that is not byte-deterministic, named and shown (size, op census, the JSON keys that differ).
Standard library only at import time; verifying imports the export pipeline.

    >>> verify("out/minilm/edgellm.json").summary()   # doctest: +SKIP
    'MATCH: 5 files of out/minilm rebuilt byte for byte (model.tflite, edgellm.json, ...)'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgellm.errors import ConfigError, EdgeLLMError, ModelFileError
from edgellm.manifest import FILES, MANIFEST, read_manifest, sha256_file

LOCK_FORMAT = "edgellm.lock/1"
SEED = 0  # the seed of edgellm's own random choices (calibration subsets: edgellm.calibrate.load_samples seed=0)
# edgellm.json keys that are measurements of the run, not results of it: recorded, never compared
MEASURED_KEYS = ("export",)  # LLM exports: export time and peak memory per phase
# A dependency that is not byte-deterministic: litert-lm-builder writes a random uuid4 and the build time into every
# .litertlm's system metadata (litertlm_builder.populate_system_metadata, which drops any value passed in). Those two
# strings, in the file's header, are blanked before hashing; every other byte of the bundle is compared.
STAMPED_SUFFIXES = (".litertlm",)
_STAMPS = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
                     rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")
_HEADER = 1 << 16  # the system metadata sits in the first KiBs
Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------- inputs
def input_digests(model: str | os.PathLike, *, calibration_data: str | None = None,
                  uses_calibration: bool = True) -> dict[str, dict[str, Any]]:
    """{role/name: {path, size, sha256}} of every file a build reads: the model folder's files (or the .gguf
    file), the calibration corpus (``calibration_data`` or the packaged calibration/en.txt) and the held-out
    validation text (calibration/en_eval.txt)."""
    from edgellm.calibrate.samples import corpus_path

    model = Path(model).expanduser().resolve()
    files: dict[str, Path] = {}
    if model.is_file():
        files[f"model/{model.name}"] = model
    elif model.is_dir():
        for f in sorted(p for p in model.rglob("*") if p.is_file()):
            rel = f.relative_to(model)
            if not any(part.startswith(".") for part in rel.parts):
                files[f"model/{rel.as_posix()}"] = f
    if uses_calibration:
        cal = Path(calibration_data).expanduser().resolve() if calibration_data else corpus_path("en")
        if cal.is_dir():
            for f in sorted(p for p in cal.rglob("*") if p.is_file()):
                files[f"calibration/{f.relative_to(cal).as_posix()}"] = f
        elif cal.is_file():
            files[f"calibration/{cal.name}"] = cal
    files["validation/en_eval.txt"] = corpus_path("en_eval")
    return {name: {"path": str(f), "size": f.stat().st_size, "sha256": sha256_file(f)} for name, f in files.items()}


def library_versions() -> dict[str, str]:
    from edgellm.bundle import library_versions as versions

    return versions()


def export_lock(config: dict[str, Any], model: str | os.PathLike, *, calibration_data: str | None) -> dict[str, Any]:
    """The ``lock`` section of an export's edgellm.json (its ``versions`` and ``files`` sections complete it)."""
    return {"format": LOCK_FORMAT, "model": str(Path(model).expanduser().resolve()), "config": config,
            "seed": SEED, "inputs": input_digests(model, calibration_data=calibration_data)}


# ---------------------------------------------------------------------------------------------- verify
@dataclass(frozen=True, kw_only=True)
class FileCheck:
    """One output file: ``status`` "match", "differs" or "missing"; ``reason`` says why, ``detail`` shows it."""

    name: str
    status: str
    reason: str = ""
    detail: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    target: Path
    files: tuple[FileCheck, ...]
    notes: tuple[str, ...] = ()  # what was checked instead of bytes, inputs or versions that changed

    @property
    def matched(self) -> bool:
        return all(f.status == "match" for f in self.files)

    def summary(self) -> str:
        if self.matched:
            head = [f"MATCH: {len(self.files)} files of {self.target} rebuilt byte for byte"]
        else:
            bad = [f for f in self.files if f.status != "match"]
            head = [f"DIFFERS: {len(bad)} of {len(self.files)} files of {self.target}"]
            for f in bad:
                head.append(f"  {f.name}: {f.status}: {f.reason}")
                head.extend(f"    {line}" for line in f.detail)
        return "\n".join(head + [f"note: {n}" for n in self.notes])

    def to_dict(self) -> dict[str, Any]:
        return {"target": str(self.target), "matched": self.matched, "files": [f.to_dict() for f in self.files],
                "notes": list(self.notes)}


def verify(path: str | os.PathLike, *, progress: Progress | None = None) -> VerifyReport:
    """Rebuild what ``path`` (an export's edgellm.json, or an ``edgellm optimize`` report.json) was built from
    into a temporary folder and compare every output file with the lock and with the files on disk.

    Raises ConfigError (exit 2) for a file that is neither, a lock whose input files are missing, or a folder
    written before edgellm kept locks."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / MANIFEST if (path / MANIFEST).is_file() else path / "report.json"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist; pass an export's edgellm.json or an `edgellm optimize` "
                          "report.json")
    if path.name == MANIFEST:
        return _verify_export(path.parent, progress)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); pass a report.json written by `edgellm optimize`") from e
    lock = doc.get("lock") if isinstance(doc, dict) else None
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT or "stages" not in lock:
        raise ConfigError(f"{path} holds no {LOCK_FORMAT} lock of `edgellm optimize`; pass a report.json written by "
                          "it, or an export's edgellm.json")
    return _verify_optimize(path.parent, lock, progress)


def _verify_export(folder: Path, progress: Progress | None) -> VerifyReport:
    manifest = read_manifest(folder)
    lock = manifest.get("lock")
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT:
        raise ConfigError(f"{folder / MANIFEST} records no lock (an export from an edgellm before locks); re-export "
                          "it to verify it later")
    causes, notes = _causes(lock["inputs"], manifest.get("versions") or {})
    with tempfile.TemporaryDirectory(prefix="edgellm-verify-") as tmp:
        rebuilt = Path(tmp) / "rebuilt"
        _rebuild(lock, rebuilt, progress, label=folder.name)
        checks = _compare(folder, rebuilt, recorded=_recorded_digests(folder, manifest), causes=causes,
                          stage=f"export[{lock['config'].get('quantize')}]")
    return VerifyReport(target=folder, files=tuple(checks), notes=tuple(notes + _stamp_notes(checks)))


def _verify_optimize(root: Path, lock: dict[str, Any], progress: Progress | None) -> VerifyReport:
    causes, notes = _causes(lock["inputs"], lock.get("versions") or {})
    checks: list[FileCheck] = []
    reuse: dict = {}  # recipes share the float conversion, as in the run that wrote the lock
    with tempfile.TemporaryDirectory(prefix="edgellm-verify-") as tmp:
        for stage in lock["stages"]:
            if stage.get("stage") != "export":
                continue
            rebuilt = Path(tmp) / stage["recipe"]
            _rebuild({**lock, "config": stage["args"]}, rebuilt, progress, label=stage["recipe"], reuse=reuse)
            # the folder users ship (best/) for the winner, else the stage's own folder where it is still there
            shown = stage.get("folder") or stage["path"]
            for check in _compare(root / shown, rebuilt, recorded=stage["outputs"], causes=causes,
                                  stage=f"export[{stage['recipe']}]"):
                checks.append(FileCheck(name=f"{shown}/{check.name}", status=check.status, reason=check.reason,
                                        detail=check.detail))
    notes.append("bench figures and the report's tables and plots are measurements: recorded in report.json, not "
                 "rebuilt" + _reselect(lock))
    return VerifyReport(target=root, files=tuple(checks), notes=tuple(notes + _stamp_notes(checks)))


def _stamp_notes(checks: list[FileCheck]) -> list[str]:
    stamped = sorted({c.name.rsplit("/", 1)[-1] for c in checks if c.name.endswith(STAMPED_SUFFIXES)})
    if not stamped:
        return []
    return [f"{', '.join(stamped)}: litert-lm-builder writes a random uuid and the build time into every bundle "
            "(not byte-deterministic); compared with those two strings blanked, every other byte as is"]


def _reselect(lock: dict[str, Any]) -> str:
    """The recipe choice recomputed from the recorded measurements, said next to the recorded one."""
    from edgellm.optimize.budget import parse_budget
    from edgellm.optimize.select import Measurement, select

    config = lock.get("config") or {}
    measurements = [Measurement.from_dict(m) for m in lock.get("measurements") or []]
    if not measurements:
        return ""
    _, again = select(measurements, parse_budget(config.get("budget")), config.get("objective", "latency"))
    if again == lock.get("selected"):
        return f"; the recorded measurements pick {again} again"
    return f"; the recorded measurements now pick {again}, the lock says {lock.get('selected')}"


def _causes(inputs: dict[str, dict[str, Any]], versions: dict[str, str]) -> tuple[list[str], list[str]]:
    """(why outputs would differ, notes): changed inputs and library versions. Missing inputs: ConfigError."""
    missing = [n for n, d in inputs.items() if not Path(d["path"]).is_file()]
    if missing:
        first = inputs[missing[0]]["path"]
        raise ConfigError(f"the lock's input {missing[0]} ({first}) is missing"
                          + (f", and {len(missing) - 1} more" if len(missing) > 1 else "")
                          + "; put the files back where the lock records them to rebuild")
    causes = []
    for name, d in inputs.items():
        now = sha256_file(Path(d["path"]))
        if now != d["sha256"]:
            causes.append(f"different input: {name} sha256 {now[:12]}, the lock {d['sha256'][:12]}")
    current = library_versions()
    for lib, version in sorted(versions.items()):
        if current.get(lib) != version:
            causes.append(f"different library version: {lib} {current.get(lib)}, the lock {version}")
    return causes, list(causes)


def _rebuild(lock: dict[str, Any], out: Path, progress: Progress | None, *, label: str, reuse: dict | None = None
             ) -> None:
    from edgellm.export import ExportConfig, export

    config = ExportConfig.from_dict({**lock["config"], "overwrite": False})
    if progress is not None:
        progress(f"rebuilding {label}")
    export(lock["model"], out, config, reuse=reuse,
           progress=(lambda line: progress(f"[{label}] {line}")) if progress is not None else None)


def _recorded_digests(folder: Path, manifest: dict[str, Any]) -> dict[str, str]:
    recorded = {name: d.get("sha256") for name, d in (manifest.get(FILES) or {}).items()}
    for name, sha in recorded.items():  # the manifest has the raw hash; the lock compares stamps blanked
        if name.endswith(STAMPED_SUFFIXES) and (folder / name).is_file() and sha256_file(folder / name) == sha:
            recorded[name] = file_digest(folder / name)
    recorded[MANIFEST] = _json_digest(manifest)
    return recorded


def _json_digest(doc: dict[str, Any]) -> str:
    """sha256 of a manifest without its measured keys (MEASURED_KEYS) and the raw hashes of stamped files (their
    own entries compare them stamps blanked)."""
    kept = {k: v for k, v in doc.items() if k not in MEASURED_KEYS}
    if isinstance(kept.get(FILES), dict):
        kept[FILES] = {name: ({**d, "sha256": None} if name.endswith(STAMPED_SUFFIXES) and isinstance(d, dict)
                              else d) for name, d in kept[FILES].items()}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode("utf-8")).hexdigest()


def file_digest(file: Path) -> str:
    """sha256 of an output file as a lock records it: a .litertlm with its build uuid and time blanked."""
    if not file.name.endswith(STAMPED_SUFFIXES):
        return sha256_file(file)
    data = file.read_bytes()
    head = _STAMPS.sub(lambda m: b"0" * len(m.group()), data[:_HEADER])
    return hashlib.sha256(head + data[_HEADER:]).hexdigest()


def output_digests(folder: Path) -> dict[str, str]:
    """{name: sha256} of an export folder's files as a lock records them (edgellm.json without measurements)."""
    from edgellm.manifest import file_digests

    out = {name: file_digest(folder / name) for name in file_digests(folder)}
    if (folder / MANIFEST).is_file():
        try:
            out[MANIFEST] = _json_digest(read_manifest(folder))
        except ModelFileError:  # not JSON any more (changed on disk): its raw hash, which matches nothing
            out[MANIFEST] = sha256_file(folder / MANIFEST)
    return out


def _compare(on_disk: Path | None, rebuilt: Path, *, recorded: dict[str, str], causes: list[str],
             stage: str) -> list[FileCheck]:
    new = output_digests(rebuilt)
    disk = output_digests(on_disk) if on_disk is not None and on_disk.is_dir() else None
    checks = []
    for name in sorted(set(recorded) | set(new)):
        want, got = recorded.get(name), new.get(name)
        if disk is not None and name in recorded and disk.get(name) != want:
            status = "missing" if name not in disk else "differs"
            checks.append(FileCheck(name=name, status=status,
                                    reason="changed on disk after it was written (its sha256 is not the lock's)"
                                    if status == "differs" else "missing on disk though the lock lists it",
                                    detail=_show(on_disk / name, rebuilt / name) if status == "differs" else []))
            continue
        if want == got:
            checks.append(FileCheck(name=name, status="match"))
            continue
        if got is None or want is None:
            reason = ("the rebuild did not write it" if got is None
                      else "the rebuild wrote it; the lock does not list it")
            checks.append(FileCheck(name=name, status="differs", reason=reason))
            continue
        reason = "; ".join(causes) if causes else f"stage {stage} is not byte-deterministic here"
        checks.append(FileCheck(name=name, status="differs", reason=reason,
                                detail=_show(on_disk / name, rebuilt / name) if disk is not None else []))
    return checks


def _show(a: Path, b: Path) -> list[str]:
    """What differs between two versions of an output file, in a few lines."""
    try:
        x, y = a.read_bytes(), b.read_bytes()
    except OSError as e:
        return [f"cannot read: {e}"]
    lines = [f"{len(x)} bytes on disk, {len(y)} rebuilt"]
    first = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
    lines.append(f"first difference at byte {first}")
    if a.suffix == ".json":
        try:
            lines.extend(_json_paths(json.loads(x), json.loads(y))[:8])
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    elif a.suffix == ".tflite":
        lines.extend(_census_diff(a, b))
    return lines


def _json_paths(x: Any, y: Any, where: str = "") -> list[str]:
    if isinstance(x, dict) and isinstance(y, dict):
        out = []
        for k in sorted(set(x) | set(y), key=str):
            out.extend(_json_paths(x.get(k), y.get(k), f"{where}.{k}" if where else str(k)))
        return out
    if x != y and where.split(".")[0] not in MEASURED_KEYS:
        return [f"{where or '(top)'}: {json.dumps(x)[:60]} on disk, {json.dumps(y)[:60]} rebuilt"]
    return []


def _census_diff(a: Path, b: Path) -> list[str]:
    """The op/tensor census of two flatbuffers (edgellm inspect), where it differs."""
    try:
        from edgellm.bench import inspect

        ca, cb = (inspect(p).models[0]["precision"]["ops_by_kind"] for p in (a, b))
    except EdgeLLMError as e:  # a file changed by hand may not parse: say so
        return [f"op census not available: {e}"]
    return ["op census identical (ops by precision: " + json.dumps(ca) + ")"] if ca == cb else \
        [f"op census differs: {json.dumps(ca)} on disk, {json.dumps(cb)} rebuilt"]
