"""Text renderings of bench and inspect reports: table (terminal), markdown, csv, json."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from edgellm.bench.report import BenchReport


def _mb(n: int | float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f}"


def _bytes(n: int | float) -> str:
    """1234 -> '1.2 KB', 23501936 -> '23.5 MB' (decimal units, as file managers and pip show them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if v < 1 else f"{v:.3f}" if v < 10 else f"{v:.2f}" if v < 100 else f"{v:.1f}"


def _fidelity(f: dict | None) -> str:
    """Compact fidelity cell: recipe, pass/fail and at most two metrics from edgellm.json."""
    if not f:
        return "-"
    parts = []
    if f.get("passed") is not None:
        parts.append("pass" if f["passed"] else "FAIL")
    metrics = f.get("metrics") or {}
    flat = _flatten(metrics) if isinstance(metrics, dict) else {}
    numeric = {k: v for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def rank(key: str) -> tuple:
        low = key.lower()
        for i, word in enumerate(_FIDELITY_ORDER):
            if word in low:
                return (i, key)
        return (len(_FIDELITY_ORDER), key)

    for k in sorted(numeric, key=rank)[:2]:
        parts.append(f"{k.rsplit('.', 1)[-1]}={numeric[k]:.4g}")
    return " ".join(parts) or "-"


# Which metrics of edgellm.json's validation the comparison table shows first (two of them).
_FIDELITY_ORDER = ("min_cos", "cos", "top1", "agree", "snr", "perplex", "max_abs")


def _grid(header: list[str], rows: list[list[str]], *, markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    right = [i > 0 for i in range(len(header))]

    def line(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


# ---------------------------------------------------------------------------------------------- bench
def _host_line(report: BenchReport) -> str:
    h, rt = report.host, report.runtime
    if not h:  # an edgellm.bench-llm/1 report recorded neither
        return "host and runtime not recorded"
    board = f"{h.get('board')}, " if h.get("board") else ""
    # a phone's report (the Android demo) has no Python: say what it has instead of "None-bit Python None"
    python = (f" ({h.get('python_bits')}-bit Python {h.get('python')})" if h.get("python") else "")
    return (f"host: {board}{h.get('cpu')}, {h.get('usable_cores')}/{h.get('cores')} cores, {h.get('os')} "
            f"{h.get('arch')}{python}; runtime: {rt.get('name')} {rt.get('version')}")


def _ratios(c: dict) -> list[str]:
    if c["is_baseline"]:
        return ["(base)", "(base)", _fidelity(c["fidelity"])]
    speedup = "-" if c["speedup"] is None else f"{c['speedup']:.2f}×"
    size = "-" if c["size_ratio"] is None else f"{c['size_ratio']:.2f}"
    return [speedup, size, _fidelity(c["fidelity"])]


def _label(r) -> str:
    host = r.data.get("host")
    return r.name + (f" [{host.get('board') or host.get('cpu') or 'host not recorded'}]" if host is not None else "")


def llm_table(report: BenchReport, *, markdown: bool = False) -> str:
    """Text-generation rows: load, TTFT, prefill (pp) and decode (tg) tokens/s; speed-up on decode tokens/s."""
    results = report.results
    comp = report.comparison()
    compare = not all(c["is_baseline"] for c in comp)

    def same(key: str) -> str:
        values = {r.data.get(key) for r in results}
        return str(values.pop()) if len(values) == 1 else ""

    header = ["export", "recipe", "runtime", "threads", "load s", "TTFT ms", f"pp{same('prompt_tokens')} tok/s",
              f"tg{same('new_tokens')} tok/s", "peak RSS MB"]
    if compare:
        header += ["speed-up", "size ×", "fidelity"]
    rows = []
    for r, c in zip(results, comp):
        d = r.data
        peak = d.get("peak_rss_mb")
        runtime = str(d.get("runtime")) + (f"+{str(d['speculative']).split(':')[0]}" if d.get("speculative") else "")
        row = [_label(r), str(d.get("recipe")), runtime, str(d["num_threads"]),
               "-" if d.get("load_s") is None else f"{d['load_s']:.2f}", f"{d['time_to_first_token_ms']:.1f}",
               f"{d['prefill_tokens_per_second']:.1f}", f"{d['decode_tokens_per_second']:.1f}",
               "-" if peak is None else f"{peak:.0f}"]
        if compare:
            row += _ratios(c)
        rows.append(row)
    out = [_grid(header, rows, markdown=markdown)]
    runs = sorted({r.data.get("runs") for r in results if r.data.get("runs") is not None})
    span = "?" if not runs else str(runs[0]) if len(runs) == 1 else f"{runs[0]}-{runs[-1]}"
    ratio = "; speed-up: decode tokens/s against the first export at the same thread count" if compare else ""
    out.append(f"median of {span} timed generations per row after a burn-in{ratio}; {_host_line(report)}")
    for r in results:  # speculative decoding rows
        d = r.data
        if d.get("speculative"):
            out.append(f"{_label(r)} @ {d['num_threads']} threads: --speculative {d['speculative']}, acceptance "
                       f"rate {d['acceptance_rate']:.2f}, {d['mean_accepted_tokens_per_step']:.2f} tokens per step")
    for note in report.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def bench_table(report: BenchReport, *, markdown: bool = False) -> str:
    """The comparison table of encoder rows (``llm_table`` for text-generation rows; never both)."""
    results = report.results
    kinds = {r.is_llm for r in results}
    if len(kinds) > 1:
        from edgellm.errors import ConfigError
        from edgellm.bench.report import MIXED_KINDS

        raise ConfigError(MIXED_KINDS)
    if kinds == {True}:
        return llm_table(report, markdown=markdown)
    comp = report.comparison()
    compare = not all(c["is_baseline"] for c in comp)
    header = ["model", "thr", "size MB", "init ms", "first ms", "p50 ms", "p90 ms", "p99 ms", "mean±std ms",
              "inf/s", "peak RSS MB", "XNNPACK"]
    if compare:
        header += ["speed-up", "size ×", "fidelity"]
    rows = []
    for r, c in zip(results, comp):
        d = r.data
        lat = d["latency_ms"]
        if d.get("api") == "compiled_model":
            acc = d.get("accelerator") or {}
            xnn = f"{acc.get('used')}" + (" (xnnpack)" if d.get("xnnpack") else "")
        elif d.get("xnnpack"):
            xnn = f"yes, {d.get('delegate_partitions')} part."
        else:
            xnn = "no"
        row = [_label(r), str(d["num_threads"]), _mb(d["model"]["size_bytes"]), _ms(d.get("init_ms")),
               _ms(d.get("first_invoke_ms")), _ms(lat["p50"]), _ms(lat["p90"]), _ms(lat["p99"]),
               f"{_ms(lat['mean'])}±{_ms(lat['std'])}", f"{d.get('inferences_per_s') or 0:.1f}",
               "-" if d.get("peak_rss_mb") is None else f"{d['peak_rss_mb']:.0f}", xnn]
        if compare:
            row += _ratios(c)
        rows.append(row)
    out = [_grid(header, rows, markdown=markdown)]
    runs = sorted({r.data["runs"] for r in results})
    src = sorted({r.data["inputs"]["source"] for r in results})
    span = str(runs[0]) if len(runs) == 1 else f"{runs[0]}-{runs[-1]}"
    out.append(f"{span} timed invokes per row; inputs: {', '.join(src)}; {_host_line(report)}")
    for r in results:
        per = r.data.get("per_signature")
        if per:
            cells = ", ".join(f"{k}: {v['samples']} lines p50 {_ms(v['p50'])} ms" for k, v in per.items())
            out.append(f"{r.name} @ {r.num_threads} thr per signature: {cells}")
    for note in report.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def bench_csv(report: BenchReport) -> str:
    """One row per result; nested keys flattened with dots (``latency_ms.p50``); host columns appended."""
    rows = []
    for r, c in zip(report.results, report.comparison()):
        flat = _flatten(r.data)
        flat["speedup"] = c["speedup"]
        flat["size_ratio"] = c["size_ratio"]
        flat.update(_flatten(report.host, "host."))
        rows.append(flat)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def render_bench(report: BenchReport, fmt: str) -> str:
    if fmt == "json":
        return report.to_json()
    if fmt == "csv":
        return bench_csv(report)
    if fmt == "markdown":
        return bench_table(report, markdown=True)
    return bench_table(report)


# ---------------------------------------------------------------------------------------------- inspect
def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else name[: width // 2 - 2] + "…" + name[-(width // 2 - 1):]


def _shape(dtype: str, shape) -> str:
    return f"{dtype}[{', '.join(map(str, shape))}]"


def _natural(name: str) -> list:
    """Sort key that orders numbers by value: kv_2 before kv_10."""
    import re

    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _indices(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> "0..2,5"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}..{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def layer_groups(tensors: list[dict]) -> list[tuple[str, dict, int]]:
    """(name, first tensor, count) per table line, in natural order: tensors whose names differ only by their last
    number (a layer index) and share dtype and shape (not quantized) are one line.

    kv_k_cache_0 .. kv_k_cache_29, all float32[1, 256, 3, 64] -> ("kv_k_cache_{0..29}", kv_k_cache_0's row, 30)
    """
    import re

    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for t in tensors:
        *_, last = [None, *re.finditer(r"\d+", t["name"])]
        if last is None or t.get("quantization"):
            key: tuple = (t["name"],)
            index = 0
        else:
            key = (t["name"][:last.start()], t["name"][last.end():], t["dtype"], tuple(t["shape"]))
            index = int(last.group())
        groups.setdefault(key, []).append((index, t))
    lines = []
    for key, members in groups.items():
        members.sort(key=lambda m: m[0])
        first = members[0][1]
        if len(members) == 1:
            lines.append((first["name"], first, 1))
        else:
            lines.append((f"{key[0]}{{{_indices([i for i, _ in members])}}}{key[1]}", first, len(members)))
    return sorted(lines, key=lambda line: _natural(line[1]["name"]))


def inspect_table(report) -> str:
    out = [f"{report.path}  ({report.kind}, {_bytes(report.size_bytes)})"]
    if report.sections:
        out.append("sections:")
        for s in report.sections:
            items = ", ".join(f"{k}={v}" for k, v in list(s["items"].items())[:4])
            out.append(f"  [{s['index']}] {s['type']:<22} {_bytes(s['bytes']):>9}  {items}")
    for m in report.models:
        sg_ops = ", ".join(f"{sg['ops']}" for sg in m["subgraphs"])
        out.append("")
        out.append(f"{m['section'] + ': ' if m.get('section') else ''}{len(m['subgraphs'])} subgraph(s), ops {sg_ops}")
        out.append("signatures:")
        for s in m["signatures"]:
            out.append(f"  {s['name']} (subgraph {s['subgraph']})")
            for kind, items in (("in ", s["inputs"]), ("out", s["outputs"])):
                for name, t, count in layer_groups(items):  # the json format lists every tensor
                    q = ""
                    if t["quantization"]:
                        q = f"  scale={t['quantization']['scale']} zero_point={t['quantization']['zero_point']}"
                    many = f"×{count}" if count > 1 else ""
                    out.append(f"    {kind} {name:<24} {many:>4} {_shape(t['dtype'], t['shape'])}{q}")
        out.append("op census (subgraph 0): op × activation dtype × weight dtype")
        rows = [[r["op"], str(r["count"]), r["activations"], r["weights"] or "-",
                 ", ".join(f"{k}×{v}" for k, v in r["fused"].items()) or "-"] for r in m["op_census"]]
        out.append("\n".join("  " + line for line in _grid(["op", "count", "activations", "weights", "fused act."],
                                                              rows, markdown=False).splitlines()))
        p = m["precision"]
        kinds = ", ".join(f"{v} {k}" for k, v in p["ops_by_kind"].items())
        if p["quantized"]:
            stayed = ", ".join(f"{k}×{v}" for k, v in p["float_compute_ops"].items()) or "none"
            out.append(f"precision: quantized graph ({kinds}); compute ops that stayed float: {stayed}")
        else:
            out.append(f"precision: float graph ({kinds})" + ("; fp16 weights, dequantized at load" if p["fp16_weights"] else ""))
        x = m.get("xnnpack")
        if x is None:
            out.append("xnnpack: not checked (runtime=False)")
        elif "error" in x:
            out.append(f"xnnpack: could not load the model to check: {x['error']}")
        else:
            out.append(f"xnnpack: {x['partitions']} partition(s); {x['delegated_ops']} of {x['total_ops']} ops delegated "
                       f"({x['runtime']['name']} {x['runtime']['version']})")
            if x["undelegated"]:
                left = ", ".join(f"{u['op']}×{u['count']} ({u['activations']})" for u in x["undelegated"])
                out.append(f"  not delegated: {left}")
            if x["breakers"]:
                br = ", ".join(f"{b['op']} #{b['node']} ({b['activations']})" for b in x["breakers"][:12])
                out.append(f"  breaking the graph (between partitions): {br}")
            elif x["partitions"]:
                out.append("  nothing breaks the graph: the ops left out sit before or after the partition(s)")
        sz = m["size"]
        by = ", ".join(f"{k} {_bytes(v)} ({100 * v / max(sz['weights_bytes'], 1):.0f}%)" for k, v in sz["by_dtype"].items())
        out.append(f"size: {_bytes(sz['file_bytes'])} = weights {_bytes(sz['weights_bytes'])} [{by}] + graph/metadata "
                   f"{_bytes(sz['other_bytes'])}")
        for t in sz["largest"][:5]:
            out.append(f"  {_bytes(t['bytes']):>9}  {_shape(t['dtype'], t['shape']):<22} {_short(t['name'])}")
    return "\n".join(out)


def render_inspect(report, fmt: str) -> str:
    if fmt == "json":
        return report.to_json()
    return inspect_table(report)


def write_output(path: str, text: str, *, overwrite: bool) -> None:
    """Write ``text`` to ``path`` atomically (temp file + rename); refuse to replace a file without overwrite."""
    import os

    from edgellm.errors import ConfigError
    from edgellm.files import write_atomically

    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite must be True or False; got {overwrite!r}")
    if os.path.isdir(path):
        raise ConfigError(f"--output {path} is a folder; pass a file path, e.g. {os.path.join(path, 'report.txt')}")
    if os.path.exists(path) and not overwrite:
        raise ConfigError(f"{path} exists; pass --overwrite to replace it, or choose another --output")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: folder {folder} is not writable; choose another --output")
    try:
        write_atomically(path, text if text.endswith("\n") else text + "\n")
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}; choose another --output") from e
