"""``ReportEntry``: one column of a report (a recipe of ``edgellm optimize``, or a device of ``edgellm report``).

An entry holds one ``edgellm bench --format json`` report of one model (its rows: one per thread count), read
and checked with ``BenchReport.from_dict``, so an unknown schema version is refused here, before anything is
written. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgellm.bench.report import BenchReport
from edgellm.errors import ConfigError, config_fields


def model_key(model: dict[str, Any]) -> tuple:
    """What identifies a benchmarked model across devices: its kind of graph and its size, not its path or
    folder name (an export copied to a Raspberry Pi keeps its size and recipe, not its path).

    >>> model_key({"path": "/home/pi/m/model.tflite", "size_bytes": 23_000_000, "model_type": "bert",
    ...            "recipe": "int8", "task": "feature-extraction", "name": "m"})
    ('bert', 'int8', 'feature-extraction', 23000000)
    """
    size = model.get("size_bytes")
    # an edgellm.bench-llm/1 report recorded no size: the folder name is all there is
    return (model.get("model_type"), model.get("recipe"), model.get("task"), size if size is not None else
            model.get("name"))


def model_name(model: dict[str, Any]) -> str:
    """'minilm-int8 (int8, 23.0 MB)': how an error message names a benchmarked model."""
    size = model.get("size_bytes")
    details = [d for d in (model.get("recipe"), None if size is None else f"{size / 1e6:.1f} MB") if d]
    return f"{model.get('name') or model.get('path')}" + (f" ({', '.join(details)})" if details else "")


@dataclass(frozen=True, kw_only=True)
class ReportEntry:
    """One recipe or device in a report.

    ``bench`` is a BenchReport dict whose rows time one model (one row per thread count); ``size_bytes``
    defaults to the bench rows' model size, ``fidelity`` to their ``fidelity`` (the export's validation).
    """

    label: str
    # recipe name ("int8-dynamic") or device name ("Raspberry Pi 5 Model B Rev 1.0"): the row's first cell
    bench: dict
    # one `edgellm bench --format json` report (schema "edgellm.bench/1") for this entry's model; rows may be
    # empty (a recipe that failed before it could be timed)
    size_bytes: int | None = None
    # model file size; None: taken from the bench rows
    fidelity: dict | None = None
    # the export's edgellm.json "validation" section ({passed, tolerance, metrics, ...}); None: from the rows
    status: str = "ok"
    # "best", "ok", "over budget", "failed validation", "slower", ...
    reason: str = ""
    # why it lost / was picked, one line

    def __post_init__(self):
        if not isinstance(self.label, str) or not self.label.strip() or "\n" in self.label:
            raise ConfigError(f"ReportEntry label must be a non-empty one-line string; got {self.label!r}")
        if not isinstance(self.bench, dict):
            raise ConfigError(f"ReportEntry {self.label!r}: bench must be a dict (BenchReport.to_dict()); got "
                              f"{type(self.bench).__name__}")
        report = BenchReport.from_dict(self.bench)  # ConfigError on an unknown schema or mixed kinds
        models = {model_key(r.data.get("model") or {}): r.data.get("model") or {} for r in report.results}
        if len(models) > 1:
            names = ", ".join(model_name(m) for m in models.values())
            raise ConfigError(f"ReportEntry {self.label!r}: its bench report times {len(models)} models ({names}); "
                              "an entry holds one model: give each its own entry")
        if self.size_bytes is not None and (isinstance(self.size_bytes, bool) or not isinstance(self.size_bytes, int)
                                            or self.size_bytes < 0):
            raise ConfigError(f"ReportEntry {self.label!r}: size_bytes must be an integer >= 0 or None; got "
                              f"{self.size_bytes!r}")
        if self.fidelity is not None and not isinstance(self.fidelity, dict):
            raise ConfigError(f"ReportEntry {self.label!r}: fidelity must be a validation dict or None; got "
                              f"{type(self.fidelity).__name__}")
        for name in ("status", "reason"):
            value = getattr(self, name)
            if not isinstance(value, str) or "\n" in value:
                raise ConfigError(f"ReportEntry {self.label!r}: {name} must be a one-line string; got {value!r}")
        if not self.status.strip():
            raise ConfigError(f"ReportEntry {self.label!r}: status must not be empty (e.g. 'ok')")

    # ------------------------------------------------------------------------------------------- derived
    @property
    def report(self) -> BenchReport:
        return BenchReport.from_dict(self.bench)

    @property
    def is_llm(self) -> bool | None:
        """True for text-generation rows, False for encoder rows, None without rows."""
        results = self.report.results
        return results[0].is_llm if results else None

    @property
    def model_size(self) -> int | None:
        if self.size_bytes is not None:
            return self.size_bytes
        for r in self.report.results:
            size = (r.data.get("model") or {}).get("size_bytes")
            if size is not None:
                return size
        return None

    @property
    def validation(self) -> dict | None:
        if self.fidelity is not None:
            return self.fidelity
        return next((r.data["fidelity"] for r in self.report.results if r.data.get("fidelity")), None)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "bench": self.bench, "size_bytes": self.size_bytes, "fidelity": self.fidelity,
                "status": self.status, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReportEntry":
        return cls(**config_fields(cls, data))
