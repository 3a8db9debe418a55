"""`edgellm optimize` against the separate `edgellm export` + `edgellm bench` runs it replaces, on all-MiniLM-L6-v2.

Runs, back to back on one machine, each as the CLI a user would type (a fresh process each):
  1. for each default encoder recipe (fp32, fp16, int8-dynamic, int8, int16x8): `edgellm export --quantize R`
     then `edgellm bench` of that folder (1 thread, the bench defaults);
  2. `edgellm optimize` with the same recipes and bench settings into a new folder;
  3. `edgellm optimize` again with nothing changed (every stage reused).
Prints the wall times, the ratio optimize / separate (target <= 1.3) and the repeated run (target < 10 s), and
writes them as JSON. About 5-10 minutes on a 2-core x86-64.

    python benchmarks/optimize_minilm.py [--model PATH] [--work DIR] [--output results.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

RECIPES = ("fp32", "fp16", "int8-dynamic", "int8", "int16x8")
EDGELLM = [sys.executable, "-m", "edgellm"]


def run(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(EDGELLM + args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="HF folder (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--work", default="out/bench_optimize", help="scratch folder (replaced)")
    p.add_argument("--output", default=None, help="write the figures as JSON here")
    a = p.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = ["--model", a.model] if a.model else []
    separate = {}
    for r in RECIPES:
        export_s = run(["export", *model, "--quantize", r, str(work / "separate" / r)])
        bench_s = run(["bench", str(work / "separate" / r), "--threads", "1", "--format", "json",
                       "--output", str(work / "separate" / f"{r}.json")])
        separate[r] = {"export_s": round(export_s, 1), "bench_s": round(bench_s, 1)}
        print(f"separate {r}: export {export_s:.1f} s, bench {bench_s:.1f} s", flush=True)
    separate_s = sum(v["export_s"] + v["bench_s"] for v in separate.values())
    opt = ["optimize", *model, "--recipes", ",".join(RECIPES), "--threads", "1", str(work / "optimize")]
    optimize_s = run(opt)
    print(f"optimize: {optimize_s:.1f} s", flush=True)
    repeat_s = run(opt)
    print(f"optimize again (nothing changed): {repeat_s:.1f} s", flush=True)
    report = json.loads((work / "optimize" / "report.json").read_text())
    figures = {"separate_s": round(separate_s, 1), "optimize_s": round(optimize_s, 1),
               "ratio": round(optimize_s / separate_s, 3), "repeat_s": round(repeat_s, 1), "separate": separate,
               "best": report["lock"]["selected"],
               "verdicts": (report.get("extra") or report).get("optimize", {}).get("verdicts")}
    print(f"separate export + bench: {separate_s:.1f} s; optimize {optimize_s:.1f} s = {figures['ratio']:.2f}x "
          f"(target <= 1.3); repeated {repeat_s:.1f} s (target < 10 s); best {figures['best']}")
    if a.output:
        Path(a.output).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
