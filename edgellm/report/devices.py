"""Report entries from saved ``edgellm bench --format json`` files: one entry per device (and model).

``edgellm report pi4.json pi5.json x86.json`` compares one model across a fleet of boards: each file becomes an
entry labelled by the machine it ran on (the board, else the CPU; the file name when two files name the same
machine, or none). A file timing several models (``edgellm bench fp32/ int8/ --format json``) gives an entry per
model, labelled "machine: model"; every file must time the same models, recognised by model type, recipe, task
and file size (not by path: an export copied to a board keeps its size, not its path). Standard library only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from edgellm.bench.report import BenchReport, load_report
from edgellm.errors import ConfigError
from edgellm.report.entry import ReportEntry, model_key, model_name
from edgellm.report.table import device_label


def entries_from_bench(paths: Sequence[str | os.PathLike]) -> list[ReportEntry]:
    """One ReportEntry per file (× model): everything read and checked before anything is written."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ConfigError("no bench reports given; pass one or more files written by `edgellm bench --format json`")
    reports = [(Path(p), load_report(str(p))) for p in paths]  # ConfigError: unreadable, not a report, new schema
    groups = []  # (path, device, model key, model dict, BenchReport of that model's rows)
    for path, report in reports:
        if not report.results:
            raise ConfigError(f"bench report {path} holds no results; pass a report of a finished `edgellm bench` "
                              "run")
        by: dict[tuple, list] = {}
        for r in report.results:
            host = r.data.get("host") or report.host
            by.setdefault((json.dumps(host, sort_keys=True), model_key(r.data.get("model") or {})), []).append(r)
        for (host_json, key), results in by.items():
            host = json.loads(host_json)
            sub = BenchReport(tuple(results), host=host, runtime=report.runtime, config=report.config,
                              notes=report.notes, created=report.created)
            groups.append((path, device_label(host), key, results[0].data.get("model") or {}, sub))
    _check_same_models(groups)
    several_models = len({g[2] for g in groups}) > 1
    entries = []
    for path, device, key, model, sub in groups:
        name = device or path.stem
        if device is None or sum(1 for g in groups if g[1] == device and g[2] == key) > 1:
            name = f"{device} ({path.name})" if device else path.name
        label = f"{name}: {model.get('name') or model_name(model)}" if several_models else name
        entries.append(ReportEntry(label=label, bench=sub.to_dict()))
    return entries


def _check_same_models(groups) -> None:
    files: dict[Path, dict[tuple, dict]] = {}
    for path, _, key, model, _ in groups:
        files.setdefault(path, {})[key] = model
    (first, first_models), *rest = files.items()
    for path, models in rest:
        if set(models) != set(first_models):
            this = ", ".join(model_name(m) for k, m in models.items() if k not in first_models) or "fewer models"
            that = ", ".join(model_name(m) for k, m in first_models.items() if k not in models) or "fewer models"
            raise ConfigError(f"{path} times {this} where {first} times {that}; a report compares the same "
                              "model(s) across devices: pass bench reports of one export")
