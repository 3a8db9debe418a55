"""What a report costs: `edgellm report` on real `edgellm bench` JSON, end to end, and write_report warm.

Prints the wall time of the `edgellm report A.json B.json --output DIR` command (a new process: Python start,
matplotlib import, four plots, md/html/json) and of a second write_report call in one process (what `edgellm
optimize` pays per run once matplotlib is loaded), and the size of each file written. The bench JSON comes from
real runs of the tiny BERT export (benchmarks/tiny_models.py) at 1 and 2 threads, once with XNNPACK and once
with the builtin kernels only, saved as two reports, so the report compares two real "configurations".

    .venv/bin/python benchmarks/report_write.py [--rounds 3]

Needs the convert extra (to build the tiny model) and the report extra (matplotlib).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tiny_models  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import edgellm
    from edgellm.report import entries_from_bench, write_report

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export = tiny_models.make_export(tmp / "tiny-export")
        files = []
        for name, xnnpack in (("xnnpack", True), ("builtin", False)):
            report = edgellm.benchmark([str(export)], edgellm.BenchConfig(threads=(1, 2), runs=50, min_seconds=0.3,
                                                                          xnnpack=xnnpack))
            path = tmp / f"{name}.json"
            path.write_text(report.to_json())
            files.append(str(path))
            print(f"bench {name}: p50 " + ", ".join(f"{r.num_threads} thr {r.p50_ms:.4f} ms" for r in report.results))

        cli = [str(Path(sys.executable).with_name("edgellm")), "report", *files, "--output"]
        cold = []
        for i in range(args.rounds):
            t0 = time.perf_counter()
            subprocess.run([*cli, str(tmp / f"cli{i}")], check=True, capture_output=True)
            cold.append(time.perf_counter() - t0)
        entries = entries_from_bench(files)
        write_report(entries, tmp / "warmup", title="warm-up")  # matplotlib imported and its fonts cached
        warm = []
        for i in range(args.rounds):
            t0 = time.perf_counter()
            paths = write_report(entries, tmp / f"warm{i}", title="tiny BERT, XNNPACK vs builtin")
            warm.append(time.perf_counter() - t0)
        print(f"`edgellm report` (new process), median of {args.rounds}: {statistics.median(cold):.2f} s "
              f"(min {min(cold):.2f})")
        print(f"write_report in a warm process, median of {args.rounds}: {statistics.median(warm):.2f} s "
              f"(min {min(warm):.2f}); {len(entries)} entries, {len(paths['plots'])} plots")
        for key in ("md", "html", "json"):
            print(f"  {paths[key].name}: {paths[key].stat().st_size / 1e3:.1f} KB")
        for png in paths["plots"]:
            print(f"  {png.parent.name}/{png.name}: {png.stat().st_size / 1e3:.1f} KB")


if __name__ == "__main__":
    main()
