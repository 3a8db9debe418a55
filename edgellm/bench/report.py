"""``BenchReport``: the result of ``edgellm.benchmark``, its stable JSON form and the comparison rows.

One report for encoders and LLMs: the same top level, one result row per model × thread count. An encoder row
times ``invoke()`` (latency_ms); an LLM row (``model.task`` = "text-generation") times generations (time to
first token, prefill and decode tokens/s). One report holds rows of one kind: they do not share a table.

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
    ], comparison [ {name, num_threads, baseline, is_baseline, speedup, speedup_of, size_ratio, fidelity} ]

An LLM row (``edgellm.bench.llm``; the keys before ``init_ms`` are those of the former "edgellm.bench-llm/1"
rows, kept for scripts that read them):

      { model* {path, size_bytes, name, kind, model_type, task: "text-generation", recipe}, runtime* ("litert" |
        "litertlm"), export*, recipe*, threads*, prompt_tokens*, new_tokens*, runs*, mode, weight_cache, verify,
        runner_mode, runner_fallback_reason, load_s*, time_to_first_token_ms*, prefill_tokens_per_second*,
        decode_tokens_per_second*, bytes_read_per_token, peak_rss_bytes*, tokens | prompt + reply (litertlm),
        num_threads* (= threads), runtime_package* {name, version}, init_ms (= load_s in ms), peak_rss_mb*,
        fidelity }

``speedup`` = baseline p50 / this p50 for encoders, this decode tokens/s / baseline decode tokens/s for LLMs
(2.0 = twice as fast; ``speedup_of`` names which); ``size_ratio`` = this size / baseline size. The baseline is
the first result with the same thread count (and accelerator, for encoders).

``load_report`` also reads the LLM reports edgellm wrote before (``"edgellm.bench-llm/1"``: rows only, no host
or runtime version): their rows gain the keys above that can be derived (``model.size_bytes`` is null).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "edgellm.bench/1"
LLM_SCHEMA_V1 = "edgellm.bench-llm/1"  # LLM reports before they were BenchReports; read, never written
TEXT_GENERATION = "text-generation"  # edgellm.manifest.TEXT_GENERATION: the task of LLM rows

MIXED_KINDS = ("text-generation exports and other models cannot share one bench table; run them in separate "
               "`edgellm bench` calls")


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
    def is_llm(self) -> bool:
        """A text-generation row (generations timed), not an encoder's (invokes timed)."""
        return (self.data.get("model") or {}).get("task") == TEXT_GENERATION

    @property
    def p50_ms(self) -> float | None:
        """Median invoke latency of an encoder row; None for an LLM row."""
        return (self.data.get("latency_ms") or {}).get("p50")

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
        """Ratios of every result against the first one with the same thread count (and accelerator, encoders).

        >>> # encoders: fp32 p50 20 ms, int8 p50 8 ms -> int8 speedup 2.5; LLMs: decode 40 vs 100 tok/s -> 2.5
        """
        rows, baselines = [], {}
        for r in self.results:
            if r.is_llm:
                key = ("llm", r.num_threads)
                base = baselines.setdefault(key, r)
                this, ref = r.data.get("decode_tokens_per_second"), base.data.get("decode_tokens_per_second")
                speedup, of = (round(this / ref, 3) if this and ref else None), "decode_tokens_per_second"
            else:
                key = (r.num_threads, (r.data.get("accelerator") or {}).get("used"))
                base = baselines.setdefault(key, r)
                p50, base_p50 = r.p50_ms, base.p50_ms
                speedup, of = (round(base_p50 / p50, 3) if p50 and base_p50 else None), "latency_ms.p50"
            size, base_size = r.data["model"].get("size_bytes"), base.data["model"].get("size_bytes")
            rows.append({
                "name": r.name,
                "num_threads": r.num_threads,
                "baseline": base.name,
                "is_baseline": base is r,
                "speedup": speedup,
                "speedup_of": of,
                "size_ratio": round(size / base_size, 3) if size is not None and base_size else None,
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

        if isinstance(d, dict) and d.get("schema") == LLM_SCHEMA_V1:
            return _from_llm_v1(d)
        if not isinstance(d, dict) or not str(d.get("schema", "")).startswith("edgellm.bench/"):
            raise ConfigError("not an edgellm bench report (no 'schema': 'edgellm.bench/N' key); save one with "
                              "`edgellm bench ... --format json --output FILE`")
        major = str(d["schema"]).split("/", 1)[1]
        if major != SCHEMA.split("/", 1)[1]:
            raise ConfigError(f"bench report schema {d['schema']!r} is not supported; this edgellm reads {SCHEMA!r}")
        report = cls(
            results=tuple(BenchResult(r) for r in d.get("results", [])),
            host=d.get("host", {}),
            runtime=d.get("runtime", {}),
            config=d.get("config", {}),
            notes=tuple(d.get("notes", [])),
            created=d.get("created", ""),
        )
        check_one_kind(report.results)
        return report

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
        check_one_kind(results)
        return cls(tuple(results), first.host, first.runtime, first.config, tuple(notes), first.created)


def check_one_kind(results) -> None:
    """ConfigError when LLM rows and encoder rows would share one report (their columns differ)."""
    if len({r.is_llm for r in results}) > 1:
        from edgellm.errors import ConfigError

        raise ConfigError(MIXED_KINDS)


def llm_result(row: dict[str, Any], *, model: dict[str, Any], runtime_package: dict[str, Any],
               peak_rss_mb: float | None = None, fidelity: dict | None = None) -> BenchResult:
    """An LLM row (``bench_llm``/``bench_litertlm``'s dict) as a BenchResult: its keys kept, the shared ones added.

    ``model``: {path, size_bytes, name, kind, model_type, task, recipe} of the file the runtime loaded;
    ``peak_rss_mb``: the row's peak (None: derived from its ``peak_rss_bytes``).
    """
    if peak_rss_mb is None and row.get("peak_rss_bytes") is not None:
        peak_rss_mb = row["peak_rss_bytes"] / 2**20
    data = {"model": {**model, "task": TEXT_GENERATION}, **row}
    data.update({
        "num_threads": row["threads"],
        "runtime_package": runtime_package,
        "init_ms": round(1e3 * row["load_s"], 3) if row.get("load_s") is not None else None,
        "peak_rss_mb": round(peak_rss_mb, 2) if peak_rss_mb is not None else None,
        "fidelity": fidelity,
    })
    return BenchResult(data)


def _from_llm_v1(d: dict[str, Any]) -> BenchReport:
    """A report written by ``edgellm bench --format json`` on an LLM export before it was a BenchReport."""
    import os

    results = []
    for row in d.get("results") or []:
        export = str(row.get("export", ""))
        model = {"path": export, "size_bytes": None, "name": os.path.basename(export.rstrip("/\\")) or export,
                 "kind": "export-folder", "model_type": None, "recipe": row.get("recipe")}
        results.append(llm_result(row, model=model, runtime_package={"name": None, "version": None}))
    return BenchReport(tuple(results), host={}, runtime={}, config={},
                       notes=(f"read from an {LLM_SCHEMA_V1} report: no host, runtime version or model size "
                              "recorded",), created="")


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
