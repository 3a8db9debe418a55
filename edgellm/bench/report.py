"""``BenchReport``: the result of ``edgellm.benchmark``, its stable JSON form and the comparison rows.

JSON (``BenchReport.to_dict()``, ``schema`` = ``"edgellm.bench/1"``); keys marked * are stable: renaming
or removing one bumps the schema version, adding keys does not.

    schema*, created (UTC ISO-8601), host* {cpu, board, cores, usable_cores, cpu_max_mhz, governor, os,
    kernel, arch, python, python_bits, numpy}, runtime* {name, version}, config {BenchConfig.to_dict()},
    notes [str], results* [
      { model* {path, size_bytes, name, kind, model_type, task, recipe}, signature, num_threads*,
        xnnpack* (applied), delegate_partitions* (null with an accelerator), api ("interpreter" |
        "compiled_model"), accelerator {requested, used, note}, runtime* {name, version},
        inputs {source, samples, note, ...}, verify_ms, init_ms*, first_invoke_ms*, warmup_ms {runs, mean},
        latency_ms* {p50, p90, p99, mean, std, min, max}, runs, inferences_per_s, peak_rss_mb*,
        baseline_rss_mb, rss_growth_mb, runner_overhead_us, per_signature {name: {samples, p50, mean}},
        fidelity {recipe, passed, tolerance, metrics} | null }
    ], comparison [ {name, num_threads, baseline, is_baseline, speedup, size_ratio, fidelity} ]

``speedup`` = baseline p50 / this p50 (2.0 = twice as fast); ``size_ratio`` = this size / baseline size.
The baseline is the first result with the same thread count and accelerator.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "edgellm.bench/1"


@dataclass(frozen=True)
class BenchResult:
    """One model × one thread count. ``data`` is the JSON object described in the module docstring."""

    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def name(self) -> str:
        return self.data["model"].get("name") or self.data["model"]["path"]

    @property
    def p50_ms(self) -> float:
        return self.data["latency_ms"]["p50"]

    @property
    def num_threads(self) -> int:
        return self.data["num_threads"]


@dataclass(frozen=True)
class BenchReport:
    results: tuple[BenchResult, ...]
    host: dict[str, Any]
    runtime: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def comparison(self) -> list[dict[str, Any]]:
        """Ratios of every result against the first one with the same thread count and accelerator."""
        rows, baselines = [], {}
        for r in self.results:
            key = (r.num_threads, (r.data.get("accelerator") or {}).get("used"))
            base = baselines.setdefault(key, r)
            p50, base_p50 = r.p50_ms, base.p50_ms
            size, base_size = r.data["model"]["size_bytes"], base.data["model"]["size_bytes"]
            rows.append({
                "name": r.name,
                "num_threads": r.num_threads,
                "baseline": base.name,
                "is_baseline": base is r,
                "speedup": round(base_p50 / p50, 3) if p50 > 0 else None,
                "size_ratio": round(size / base_size, 3) if base_size else None,
                "fidelity": r.data.get("fidelity"),
            })
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "host": self.host,
            "runtime": self.runtime,
            "config": self.config,
            "notes": list(self.notes),
            "results": [r.data for r in self.results],
            "comparison": self.comparison(),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchReport":
        """A report saved with ``--format json`` (e.g. brought back from a Raspberry Pi)."""
        from edgellm.errors import ConfigError

        if not isinstance(d, dict) or not str(d.get("schema", "")).startswith("edgellm.bench/"):
            raise ConfigError("not an edgellm bench report (no 'schema': 'edgellm.bench/N' key); save one with "
                              "`edgellm bench ... --format json --output FILE`")
        major = str(d["schema"]).split("/", 1)[1]
        if major != SCHEMA.split("/", 1)[1]:
            raise ConfigError(f"bench report schema {d['schema']!r} is not supported; this edgellm reads {SCHEMA!r}")
        return cls(
            results=tuple(BenchResult(r) for r in d.get("results", [])),
            host=d.get("host", {}),
            runtime=d.get("runtime", {}),
            config=d.get("config", {}),
            notes=tuple(d.get("notes", [])),
            created=d.get("created", ""),
        )

    @classmethod
    def merge(cls, reports: list["BenchReport"]) -> "BenchReport":
        """One report holding the results of several (first one's host and runtime on top)."""
        first = reports[0]
        notes = []
        for r in reports:
            notes.extend(n for n in r.notes if n not in notes)
        hosts = {json.dumps(r.host, sort_keys=True) for r in reports}
        if len(hosts) > 1:
            notes.append("results come from different hosts; see each result's host")
        results = []
        for r in reports:
            for res in r.results:
                data = dict(res.data)
                if len(hosts) > 1:
                    data.setdefault("host", r.host)
                results.append(BenchResult(data))
        return cls(tuple(results), first.host, first.runtime, first.config, tuple(notes), first.created)


def load_report(path: str) -> BenchReport:
    """A bench report saved as JSON (``edgellm bench ... --format json --output FILE``)."""
    from edgellm.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"bench report {path} could not be read ({e}); pass a file written by "
                          "`edgellm bench --format json`") from None
    return BenchReport.from_dict(data)
