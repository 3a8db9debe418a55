"""``write_report``: report.md, a self-contained report.html, report.json and the PNG plots, written at once.

The files are built in a staging folder inside OUTPUT_DIR (``.report.partial-*``) and moved into place only when
all of them are done, with SIGINT and SIGTERM held during the moves: a failure or Ctrl-C leaves the earlier
report as it was. Only the report's own names are replaced (report.md, report.html, report.json, report_plots/);
anything else in OUTPUT_DIR (an ``edgellm optimize`` run's best/ folder, say) is left alone. A folder holding a
report.* that edgellm did not write is refused, not overwritten.

The report carries no time stamp, so the same entries give the same bytes (``edgellm verify`` compares them).
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from edgellm.bench.format import _host_line
from edgellm.errors import ConfigError
from edgellm.report.entry import ReportEntry
from edgellm.report.plots import Plot, draw, primary_threads
from edgellm.report.table import LLM, build_rows, cells, columns, markdown_table, report_kind

SCHEMA = "edgellm.report/1"
MD, HTML, JSON, PLOTS = "report.md", "report.html", "report.json", "report_plots"
_OURS = (MD, HTML, JSON, PLOTS)


def write_report(entries: Sequence[ReportEntry], output_dir: str | os.PathLike, *, title: str,
                 lock: dict | None = None, extra: dict | None = None) -> dict[str, Any]:
    """Write the report of ``entries`` (the first one is the reference of the speed-ups) into ``output_dir``.

    ``lock``: the reproducibility record (inputs, versions, stage arguments, outputs), stored in report.json as
    given; ``extra``: any further JSON data for report.json (e.g. the budget and objective of a search).
    Returns ``{"md": Path, "html": Path, "json": Path, "plots": [Path, ...]}``.
    """
    entries = _check(entries, title, lock, extra)
    out = _check_output_dir(output_dir)
    kind = report_kind(entries)
    rows = build_rows(entries)
    existed = out.is_dir()
    if existed:
        staging = Path(tempfile.mkdtemp(prefix=".report.partial-", dir=out))
    else:  # a new folder: built as a sibling, renamed into place
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        (staging / PLOTS).mkdir()
        plots, plot_notes = draw(rows, kind, staging / PLOTS)
        notes = _notes(entries) + plot_notes
        doc = _json_doc(entries, rows, kind, title, plots, notes, lock, extra)
        (staging / JSON).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / MD).write_text(_markdown(entries, rows, kind, title, plots, notes, lock), encoding="utf-8")
        (staging / HTML).write_text(_html(entries, rows, kind, title, plots, notes, lock, extra, staging / PLOTS),
                                    encoding="utf-8")
        _commit(staging, out, existed)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"md": out / MD, "html": out / HTML, "json": out / JSON, "plots": [out / PLOTS / p.file for p in plots]}


# ---------------------------------------------------------------------------------------------- checks
def _check(entries, title, lock, extra) -> list[ReportEntry]:
    if isinstance(entries, (str, bytes, dict)) or not hasattr(entries, "__iter__"):
        raise ConfigError(f"entries must be a sequence of ReportEntry; got {type(entries).__name__}")
    entries = list(entries)
    if not entries:
        raise ConfigError("a report needs at least one entry; got none")
    bad = [type(e).__name__ for e in entries if not isinstance(e, ReportEntry)]
    if bad:
        raise ConfigError(f"entries must be ReportEntry objects; got {', '.join(sorted(set(bad)))}")
    labels = [e.label for e in entries]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"report entry labels must be unique; {', '.join(map(repr, twice))} appear more than once")
    if not isinstance(title, str) or not title.strip() or "\n" in title:
        raise ConfigError(f"report title must be a non-empty one-line string; got {title!r}")
    for name, value in (("lock", lock), ("extra", extra)):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"report {name} must be a dict or None; got {type(value).__name__}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"report {name} must hold JSON data only (str, numbers, lists, dicts); {e}") from None
    return entries


def _check_output_dir(output_dir) -> Path:
    if not isinstance(output_dir, (str, os.PathLike)):
        raise ConfigError(f"report output folder must be a path; got {type(output_dir).__name__}")
    out = Path(output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report output {str(out)!r} is a file; pass a folder")
    if out.is_dir():
        present = [name for name in _OURS if (out / name).exists()]
        if present and not _is_ours(out / JSON):
            raise ConfigError(f"{str(out)!r} holds {', '.join(present)} that edgellm did not write (no "
                              f"{JSON} with schema {SCHEMA!r}); choose another folder or move them away")
    parent = out if out.is_dir() else next(p for p in out.parents if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the report into {str(out)!r}: {str(parent)!r} is not a writable folder")
    return out


def _is_ours(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and str(doc.get("schema", "")).startswith("edgellm.report/")


def _commit(staging: Path, out: Path, existed: bool) -> None:
    """Move the staged files over the earlier report: plots folder swapped, files renamed, report.json last;
    a new folder is renamed into place whole."""
    from edgellm.bundle.outdir import _exchange, _signals_held
    from edgellm.files import umask
    from edgellm.signals import check

    check()
    for path in (staging, staging / PLOTS):  # mkdtemp makes 0700; a report is as readable as any other folder
        path.chmod(0o777 & ~umask())
    for path in [*staging.glob("*.*"), *(staging / PLOTS).glob("*.png")]:
        path.chmod(0o666 & ~umask())
    with _signals_held():
        if not existed:
            if out.exists():
                raise ConfigError(f"{str(out)!r} appeared while the report was written; run again")
            staging.rename(out)
            return
        plots = out / PLOTS
        if plots.exists():
            if not _exchange(staging / PLOTS, plots):
                aside = staging / ".old-plots"
                plots.rename(aside)
                (staging / PLOTS).rename(plots)
        else:
            (staging / PLOTS).rename(plots)
        for name in (MD, HTML, JSON):
            os.replace(staging / name, out / name)


# ---------------------------------------------------------------------------------------------- content
def _notes(entries: Sequence[ReportEntry]) -> list[str]:
    notes = []
    for e in entries:
        for n in e.report.notes:
            if n not in notes:
                notes.append(n)
    return notes


def _devices(entries: Sequence[ReportEntry]) -> list[tuple[str, str]]:
    """(label, host line) per entry; entries sharing one host line are listed once, under their labels joined."""
    lines: dict[str, list[str]] = {}
    for e in entries:
        lines.setdefault(_host_line(e.report), []).append(e.label)
    return [(", ".join(labels), line) for line, labels in lines.items()]


def _speed_note(kind: str, reference: str) -> str:
    what = ("decode tokens/s divided by the reference's" if kind == LLM else
            "the reference's p50 latency divided by this one's")
    return f"speed-up: {what}, at the same thread count; reference: {reference} (the first entry)"


def _json_doc(entries, rows, kind, title, plots, notes, lock, extra) -> dict[str, Any]:
    shown = columns(rows, kind)
    return {
        "schema": SCHEMA,
        "title": title,
        "kind": kind,
        "reference": entries[0].label,
        "plot_threads": primary_threads(rows),
        "columns": [{"key": k, "header": h} for k, h in shown],
        "rows": rows,
        "entries": [e.to_dict() for e in entries],
        "plots": [{"file": f"{PLOTS}/{p.file}", "title": p.title, "caption": p.caption} for p in plots],
        "notes": notes,
        "lock": lock,
        "extra": extra,
    }


def _lock_line(lock: dict | None) -> str | None:
    if not lock:
        return None
    parts = []
    for key, value in lock.items():
        parts.append(f"{key} ({len(value)})" if isinstance(value, (dict, list)) else key)
    return f"The lock is in {JSON} (`lock`): {', '.join(parts)}."


def _markdown(entries, rows, kind, title, plots, notes, lock) -> str:
    out = [f"# {title}", "", markdown_table(rows, kind), "",
           _speed_note(kind, entries[0].label) + ".", ""]
    out += ["## Devices", ""] + [f"- {labels}: {line}" for labels, line in _devices(entries)] + [""]
    for p in plots:
        out += [f"## {p.title}", "", f"![{p.title}]({PLOTS}/{p.file})", "", p.caption, ""]
    if notes:
        out += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    line = _lock_line(lock)
    if line:
        out += [line, ""]
    return "\n".join(out)


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #f2f2f2; }
tr.best td { background: #e8f5e9; font-weight: 600; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #555; max-width: 56rem; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
.note { color: #555; font-size: 0.9rem; }
"""


_TEXT = {"label", "device", "status", "reason"}  # left-aligned cells


def _html(entries, rows, kind, title, plots: list[Plot], notes, lock, extra, plot_dir: Path) -> str:
    e = html.escape
    shown = columns(rows, kind)
    head = "".join(f"<th>{e(h)}</th>" for _, h in shown)
    body = []
    for r in rows:
        css = ' class="best"' if r["status"] == "best" else ""
        body.append(f"<tr{css}>" + "".join(f'<td class="text">{e(c)}</td>' if key in _TEXT else f"<td>{e(c)}</td>"
                                           for (key, _), c in zip(shown, cells(r, shown))) + "</tr>")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{e(title)}</h1>",
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>",
        f'<p class="note">{e(_speed_note(kind, entries[0].label))}.</p>',
        "<h2>Devices</h2>", "<ul>" + "".join(f"<li>{e(labels)}: {e(line)}</li>" for labels, line in
                                            _devices(entries)) + "</ul>",
    ]
    for p in plots:
        data = base64.b64encode((plot_dir / p.file).read_bytes()).decode("ascii")
        parts += [f"<h2>{e(p.title)}</h2>", "<figure>",
                  f'<img src="data:image/png;base64,{data}" alt="{e(p.title)}">',
                  f"<figcaption>{e(p.caption)}</figcaption>", "</figure>"]
    if notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"]
    for name, value in (("Lock", lock), ("Extra", extra)):
        if value:
            parts += [f"<details><summary>{name} (as in {JSON})</summary>",
                      f"<pre>{e(json.dumps(value, indent=2, ensure_ascii=False))}</pre></details>"]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
