"""The report's one table: a row per entry × thread count, as data (report.json ``rows``) and as cells.

Encoders: size, p50/p90 latency, speed-up (reference p50 / this p50); LLMs: size, time to first token, decode
tokens/s, speed-up (this decode tokens/s / reference's). The reference is the first entry's row at the same
thread count (no speed-up at a thread count the first entry was not timed at). Fidelity columns (cosine, top-1,
perplexity ratio) and XNNPACK partitions appear when some row has them. Standard library only; cell formats
are ``edgellm.bench.format``'s.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from edgellm.bench.format import _mb, _ms
from edgellm.errors import ConfigError
from edgellm.report.entry import ReportEntry

ENCODER, LLM = "encoder", "llm"


def device_label(host: dict | None) -> str | None:
    """The board a bench ran on ("Raspberry Pi 5 Model B Rev 1.0"), else its CPU; None when not recorded."""
    if not host:
        return None
    return host.get("board") or host.get("cpu") or None


def report_kind(entries: Sequence[ReportEntry]) -> str:
    """ENCODER or LLM: what every entry with rows times (ConfigError when they differ)."""
    kinds = {e.is_llm for e in entries} - {None}
    if len(kinds) > 1:
        llms = [e.label for e in entries if e.is_llm]
        others = [e.label for e in entries if e.is_llm is False]
        raise ConfigError(f"a report compares one kind of model; entries {', '.join(llms)} time text-generation "
                          f"exports and {', '.join(others)} time encoders: report them separately")
    return LLM if kinds == {True} else ENCODER


def _fidelity_values(validation: dict | None) -> dict[str, Any]:
    """passed, cosine (worst output's mean cosine), top1, perplexity_ratio from an edgellm.json validation.

    Encoder metrics are per output ({"last_hidden_state": {"mean_cosine": .., "top1": ..}}); LLM metrics are flat.
    """
    out: dict[str, Any] = {"passed": None, "cosine": None, "top1": None, "perplexity_ratio": None}
    if not validation:
        return out
    out["passed"] = validation.get("passed")
    metrics = validation.get("metrics") or {}
    if not isinstance(metrics, dict):
        return out
    nested = [m for m in metrics.values() if isinstance(m, dict)]

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    cosines = [m["mean_cosine"] for m in nested if number(m.get("mean_cosine"))]
    if number(metrics.get("mean_cosine")):
        cosines.append(metrics["mean_cosine"])
    out["cosine"] = min(cosines) if cosines else None
    if number(metrics.get("top1")):
        out["top1"] = metrics["top1"]
    else:
        top1 = [m["top1"] for m in nested if number(m.get("top1"))]
        out["top1"] = min(top1) if top1 else None
    if number(metrics.get("perplexity_ratio")):
        out["perplexity_ratio"] = metrics["perplexity_ratio"]
    return out


def _speed(kind: str, data: dict) -> float | None:
    """The figure speed-up is the ratio of: encoder p50 ms (lower is faster), LLM decode tokens/s (higher)."""
    if kind == LLM:
        return data.get("decode_tokens_per_second")
    return (data.get("latency_ms") or {}).get("p50")


def build_rows(entries: Sequence[ReportEntry]) -> list[dict[str, Any]]:
    """One dict per entry × thread count (an entry without bench rows: one row with its label and status)."""
    kind = report_kind(entries)
    reference: dict[int, tuple[str, float | None]] = {}  # threads -> (label, speed) of the first entry
    rows = []
    for entry in entries:
        report = entry.report
        fid = _fidelity_values(entry.validation)
        results = sorted(report.results, key=lambda r: r.num_threads)
        base = {"label": entry.label, "status": entry.status, "reason": entry.reason,
                "size_bytes": entry.model_size, **fid}
        if not results:
            rows.append({**base, "device": device_label(report.host), "threads": None, "speedup": None,
                         "reference": None})
            continue
        for r in results:
            d = r.data
            speed = _speed(kind, d)
            if entry is entries[0]:
                reference[r.num_threads] = (entry.label, speed)
            ref_label, ref_speed = reference.get(r.num_threads, (None, None))
            if speed and ref_speed:
                speedup = round(speed / ref_speed if kind == LLM else ref_speed / speed, 3)
            else:
                speedup = None
            row = {**base, "device": device_label(d.get("host") or report.host), "threads": r.num_threads}
            if kind == LLM:
                row.update({"ttft_ms": d.get("time_to_first_token_ms"),
                            "prefill_tokens_per_second": d.get("prefill_tokens_per_second"),
                            "decode_tokens_per_second": d.get("decode_tokens_per_second")})
            else:
                lat = d.get("latency_ms") or {}
                row.update({"p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"),
                            "latency_ms": dict(lat) or None})
            row.update({"speedup": speedup, "reference": ref_label,
                        "xnnpack_partitions": d.get("delegate_partitions") if d.get("xnnpack") else None,
                        "peak_rss_mb": d.get("peak_rss_mb")})
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- cells
def _num(fmt: str) -> Callable[[Any], str]:
    return lambda v: "-" if v is None else format(v, fmt)


def _passed(v) -> str:
    return "-" if v is None else "pass" if v else "FAIL"


# (row key, header, cell format, encoder / llm / both); a column shows when some row has a value for it
_COLUMNS: tuple[tuple[str, str, Callable[[Any], str], str | None], ...] = (
    ("label", "entry", str, None),
    ("device", "device", lambda v: v or "-", None),
    ("status", "status", str, None),
    ("threads", "threads", _num("d"), None),
    ("size_bytes", "size MB", _mb, None),
    ("p50_ms", "p50 ms", _ms, ENCODER),
    ("p90_ms", "p90 ms", _ms, ENCODER),
    ("ttft_ms", "TTFT ms", _num(".1f"), LLM),
    ("decode_tokens_per_second", "decode tok/s", _num(".1f"), LLM),
    ("speedup", "speed-up", lambda v: "-" if v is None else f"{v:.2f}×", None),
    ("passed", "validation", _passed, None),
    ("cosine", "cosine", _num(".5f"), None),
    ("top1", "top-1", _num(".3f"), None),
    ("perplexity_ratio", "ppl ratio", _num(".4f"), None),
    ("xnnpack_partitions", "XNNPACK partitions", _num("d"), None),
    ("peak_rss_mb", "peak RSS MB", _num(".0f"), None),
    ("reason", "reason", lambda v: v or "", None),
)


def columns(rows: Sequence[dict[str, Any]], kind: str) -> list[tuple[str, str]]:
    """(key, header) of the columns this table shows: label and threads always; the device column only when
    several devices appear and the labels are not the devices themselves; status and reason only when some entry
    is not a plain "ok"; every other column when a row has a value for it."""
    shown = []
    devices = {r["device"] for r in rows}
    for key, header, _, only in _COLUMNS:
        if only is not None and only != kind:
            continue
        if key == "device":
            if len(devices) < 2 or all(r["label"] == r["device"] for r in rows):
                continue
        elif key == "status":
            if all(r["status"] == "ok" for r in rows):
                continue
        elif key == "reason":
            if not any(r["reason"] for r in rows):
                continue
        elif key not in ("label", "threads") and all(r.get(key) is None for r in rows):
            continue
        shown.append((key, header))
    return shown


def cells(row: dict[str, Any], shown: Sequence[tuple[str, str]]) -> list[str]:
    formats = {key: fmt for key, _, fmt, _ in _COLUMNS}
    out = []
    for key, _ in shown:
        value = row.get(key)
        if key == "speedup" and row.get("reference") == row["label"] and value == 1.0:
            out.append("(reference)")
        else:
            out.append(formats[key](value))
    return out


def markdown_table(rows: Sequence[dict[str, Any]], kind: str) -> str:
    shown = columns(rows, kind)

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(h for _, h in shown) + " |", "|" + "|".join("---" for _ in shown) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in cells(r, shown)) + " |" for r in rows]
    return "\n".join(lines)
