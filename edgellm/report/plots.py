"""The report's PNG plots, drawn with matplotlib's Agg canvas (no display, no global backend switch).

    speed_vs_size.png        p50 latency (encoders) or decode tokens/s (LLMs) against model size
    speed_vs_fidelity.png    the same against fidelity (cosine; LLMs: perplexity ratio, else top-1), Pareto front
                             marked: the entries no other entry beats on both axes
    latency_distribution.png encoders: latency per entry. A bench report holds percentiles, not each run's time,
                             so the box is drawn from them (box p50..p90, whiskers min..p99, max as a dot)
    time_to_first_token.png  LLMs: TTFT per entry and thread count (a bench row is the median of its runs)
    speed_per_threads.png    LLMs (and encoders timed at several thread counts): speed per thread count

Plots 1 and 2 use one thread count (the one most entries were timed at; ties: the smallest). A plot with nothing
to show (no sizes, no fidelity, one thread count) is left out and the report says why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from edgellm.report.table import LLM

DPI = 100
SIZE = (7.0, 4.4)  # inches: 700 x 440 px


@dataclass(frozen=True)
class Plot:
    file: str  # file name inside the plots folder
    title: str
    caption: str  # what is drawn and how to read it, one or two sentences


def pareto_front(points: Sequence[tuple[float, float]], *, x_higher: bool, y_higher: bool) -> list[int]:
    """Indices of the points no other point beats on both axes (equal on one and better on the other counts).

    >>> # latency (lower better) against cosine (higher better): (0.999, 20 ms) and (0.99, 8 ms) are both on the
    >>> # front, (0.98, 10 ms) is beaten by (0.99, 8 ms)
    >>> pareto_front([(0.999, 20.0), (0.99, 8.0), (0.98, 10.0)], x_higher=True, y_higher=False)
    [0, 1]
    """
    def better_or_equal(a: float, b: float, higher: bool) -> bool:
        return a >= b if higher else a <= b

    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            better_or_equal(ox, x, x_higher) and better_or_equal(oy, y, y_higher) and (ox, oy) != (x, y)
            for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def primary_threads(rows: Sequence[dict[str, Any]]) -> int | None:
    """The thread count most entries have a row at (ties: the smallest); None without timed rows."""
    counts = Counter(r["threads"] for r in rows if r["threads"] is not None)
    if not counts:
        return None
    return min(counts, key=lambda t: (-counts[t], t))


def _speed_axis(kind: str) -> tuple[str, str, bool]:
    """(row key, axis label, higher is better)."""
    if kind == LLM:
        return "decode_tokens_per_second", "decode tokens/s (higher is faster)", True
    return "p50_ms", "p50 latency, ms (lower is faster)", False


def _fidelity_axis(rows: Sequence[dict[str, Any]], kind: str) -> tuple[str, str, bool] | None:
    order = ([("perplexity_ratio", "perplexity ratio to PyTorch (lower is closer)", False)] if kind == LLM else [])
    order += [("cosine", "mean cosine to PyTorch, worst output (higher is closer)", True),
              ("top1", "top-1 agreement with PyTorch (higher is closer)", True)]
    for key, label, higher in order:
        if sum(r.get(key) is not None for r in rows) >= 1:
            return key, label, higher
    return None


def _figure():
    from edgellm.errors import require

    require("matplotlib", "report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    # no "Software" text chunk: the same figures give the same bytes whatever matplotlib wrote them
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _annotate(ax, xs, ys, labels) -> None:
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 5), fontsize=8)


def _scatter_rows(rows, threads):
    """The row of each entry at ``threads``, in entry order."""
    return [r for r in rows if r["threads"] == threads]


def draw(rows: Sequence[dict[str, Any]], kind: str, folder: Path) -> tuple[list[Plot], list[str]]:
    """Write the plots into ``folder``; return them and notes on the plots left out (and why)."""
    plots: list[Plot] = []
    notes: list[str] = []
    speed_key, speed_label, speed_higher = _speed_axis(kind)
    threads = primary_threads(rows)
    if threads is None:
        return plots, ["no entry has timed rows: no plots"]
    at = [r for r in _scatter_rows(rows, threads) if r.get(speed_key) is not None]
    left_out = sorted({r["label"] for r in rows if r["threads"] is not None} - {r["label"] for r in at})
    where = f" at {threads} thread{'s' if threads > 1 else ''}"
    missing = f"; not timed{where}: {', '.join(left_out)}" if left_out else ""

    # 1. speed vs size
    sized = [r for r in at if r.get("size_bytes") is not None]
    if sized:
        fig, ax = _figure()
        xs, ys = [r["size_bytes"] / 1e6 for r in sized], [r[speed_key] for r in sized]
        ax.scatter(xs, ys, s=60, color="tab:blue", zorder=3)
        _annotate(ax, xs, ys, [r["label"] for r in sized])
        ax.set_xlabel("model size, MB")
        ax.set_ylabel(speed_label)
        ax.set_title(f"{'Decode speed' if kind == LLM else 'Latency'} vs size{where}")
        ax.grid(True, alpha=0.3)
        _save(fig, folder / "speed_vs_size.png")
        plots.append(Plot("speed_vs_size.png", f"{'Decode speed' if kind == LLM else 'Latency'} vs size",
                          f"One point per entry{where}{missing}."))
    else:
        notes.append("speed vs size not drawn: no entry records its model size")

    # 2. speed vs fidelity, Pareto front
    axis = _fidelity_axis(at, kind)
    if axis is not None:
        fid_key, fid_label, fid_higher = axis
        pts = [r for r in at if r.get(fid_key) is not None]
        xs, ys = [r[fid_key] for r in pts], [r[speed_key] for r in pts]
        # an entry that failed validation is drawn (a cross), never on the front
        ok = [i for i, r in enumerate(pts) if r.get("passed") is not False]
        front = {ok[i] for i in pareto_front([(xs[i], ys[i]) for i in ok], x_higher=fid_higher,
                                             y_higher=speed_higher)}
        fig, ax = _figure()
        others = [i for i in range(len(pts)) if i not in front]
        ax.scatter([xs[i] for i in others], [ys[i] for i in others], s=60, facecolors="none",
                   edgecolors="tab:gray", label="dominated", zorder=3)
        order = sorted(front, key=lambda i: xs[i])
        ax.plot([xs[i] for i in order], [ys[i] for i in order], "-o", color="tab:red", markersize=8,
                label="Pareto front", zorder=4)
        failed = [i for i, r in enumerate(pts) if r.get("passed") is False]
        if failed:
            ax.scatter([xs[i] for i in failed], [ys[i] for i in failed], marker="x", s=90, color="black",
                       label="failed validation", zorder=5)
        _annotate(ax, xs, ys, [r["label"] for r in pts])
        ax.set_xlabel(fid_label)
        ax.set_ylabel(speed_label)
        ax.set_title(f"{'Decode speed' if kind == LLM else 'Latency'} vs fidelity{where}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        _save(fig, folder / "speed_vs_fidelity.png")
        names = ", ".join(pts[i]["label"] for i in order)
        plots.append(Plot("speed_vs_fidelity.png", f"{'Decode speed' if kind == LLM else 'Latency'} vs fidelity",
                          f"Red: the Pareto front ({names}), the entries no other entry beats on both speed and "
                          f"fidelity{where}; a cross: failed validation, never on the front{missing}."))
    else:
        notes.append("speed vs fidelity not drawn: no entry records a validation (cosine, top-1 or perplexity)")

    # 3. latency distribution (encoders) or time to first token (LLMs)
    timed = [r for r in rows if r["threads"] is not None]
    if kind == LLM:
        ttft = [r for r in timed if r.get("ttft_ms") is not None]
        if ttft:
            fig, ax = _figure()
            names = [f"{r['label']} ×{r['threads']}" for r in ttft]
            ax.bar(range(len(ttft)), [r["ttft_ms"] for r in ttft], color="tab:blue")
            ax.set_xticks(range(len(ttft)), names, rotation=30, ha="right", fontsize=8)
            ax.set_ylabel("time to first token, ms (lower is faster)")
            ax.set_title("Time to first token per entry and thread count")
            ax.grid(True, axis="y", alpha=0.3)
            _save(fig, folder / "time_to_first_token.png")
            plots.append(Plot("time_to_first_token.png", "Time to first token",
                              "Median of each row's timed generations (×N: thread count); bench reports of LLMs "
                              "hold medians, not each generation's time."))
    else:
        stats = [r for r in timed if r.get("p50_ms") is not None]
        boxes = []
        for r in stats:
            lat = {k: v for k, v in (r.get("latency_ms") or {}).items() if v is not None}
            lat.setdefault("p50", r["p50_ms"])
            boxes.append({"label": f"{r['label']} ×{r['threads']}", "whislo": lat.get("min", lat["p50"]),
                          "q1": lat["p50"], "med": lat["p50"], "q3": lat.get("p90", lat["p50"]),
                          "whishi": lat.get("p99", lat.get("p90", lat["p50"])),
                          "fliers": [lat["max"]] if lat.get("max") is not None else [],
                          "mean": lat.get("mean")})
        if boxes:
            fig, ax = _figure()
            ax.bxp(boxes, showmeans=any(b["mean"] is not None for b in boxes), patch_artist=True,
                   boxprops={"facecolor": "tab:blue", "alpha": 0.5}, medianprops={"color": "black"})
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
            ax.set_ylabel("latency, ms")
            ax.set_title("Latency per entry and thread count")
            ax.grid(True, axis="y", alpha=0.3)
            _save(fig, folder / "latency_distribution.png")
            plots.append(Plot("latency_distribution.png", "Latency distribution",
                              "Drawn from each row's percentiles, not its runs (a bench report keeps no per-run "
                              "times): box p50 to p90, whiskers min to p99, dot the slowest run, triangle the "
                              "mean; ×N: thread count."))

    # 4. speed per thread count
    counts = {r["threads"] for r in timed}
    if kind == LLM or len(counts) > 1:
        fig, ax = _figure()
        for label in dict.fromkeys(r["label"] for r in timed):
            mine = sorted((r for r in timed if r["label"] == label and r.get(speed_key) is not None),
                          key=lambda r: r["threads"])
            if mine:
                ax.plot([r["threads"] for r in mine], [r[speed_key] for r in mine], "-o", label=label)
        ax.set_xticks(sorted(counts))
        ax.set_xlabel("threads")
        ax.set_ylabel(speed_label)
        ax.set_title(f"{'Decode tokens/s' if kind == LLM else 'p50 latency'} per thread count")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        _save(fig, folder / "speed_per_threads.png")
        plots.append(Plot("speed_per_threads.png", f"{'Decode speed' if kind == LLM else 'Latency'} per "
                          "thread count", "One line per entry." + (" Every entry was timed at one thread "
                                                                  "count only." if len(counts) == 1 else "")))
    else:
        notes.append("speed per thread count not drawn: every entry was timed at one thread count")
    return plots, notes
