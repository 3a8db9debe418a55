"""Reports that compare recipes or devices: one table, PNG plots, report.md / report.html / report.json.

    from edgellm.report import ReportEntry, write_report, entries_from_bench

    write_report([ReportEntry(label="fp32", bench=fp32_bench.to_dict()),
                  ReportEntry(label="int8", bench=int8_bench.to_dict(), status="best", reason="fastest in budget")],
                 "out/report", title="all-MiniLM-L6-v2 recipes")
    write_report(entries_from_bench(["pi4.json", "pi5.json"]), "out/fleet", title="minilm-int8 on two boards")

Standard library only until a plot is drawn (matplotlib, the 'report' extra).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ReportEntry": "edgellm.report.entry",
    "write_report": "edgellm.report.write",
    "entries_from_bench": "edgellm.report.devices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgellm.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
