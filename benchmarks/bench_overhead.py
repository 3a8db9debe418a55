"""The runner's own cost per invoke (target: under 20 µs): what edgellm bench adds to invoke().
Prints the figure in benchmarks/README.md, "Runner overhead".

Two tiny models make the invoke itself cheap, so the runner's share is visible: one ADD on 16 floats
(add.tflite) and the 1-layer BERT of the tests (16 tokens). For each, in alternating rounds:
    bare      w.Invoke() in a plain loop timed as a whole: the floor
    runner    benchmark(): mean latency (timer calls inside) + runner_overhead_us (the loop outside the timer)
    text-file benchmark() with --text-file on the tiny export: three inputs set before every invoke
overhead = runner mean + runner_overhead_us - bare, in µs.

    python benchmarks/bench_overhead.py [--models-dir build/tiny_models] [--runs 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def bare_invoke_us(path: Path, n: int) -> float:
    from edgellm.bench.inputs import input_specs, random_inputs
    from edgellm.runtime.modelfile import read_model
    from edgellm.runtime.litert import Session, find_runtime, load_interpreter

    model = read_model(path)
    sig = model.signatures[0]
    arrays, _ = random_inputs(input_specs(model, sig))
    loaded = load_interpreter(find_runtime(), str(path), threads=1)
    session = Session(loaded, sig.name, list(arrays))
    session.set_inputs(arrays)
    invoke = session.invoke
    for _ in range(200):
        invoke()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        invoke()
    return (time.perf_counter_ns() - t0) / n / 1e3


def runner_us(path: Path, n: int, text_file: str | None = None) -> tuple[float, float, float]:
    from edgellm.bench import BenchConfig, benchmark

    r = benchmark(path, BenchConfig(runs=n, min_seconds=0, warmup=200, text_file=text_file)).results[0]
    mean_us = r["latency_ms"]["mean"] * 1e3
    return mean_us + r["runner_overhead_us"], mean_us, r["runner_overhead_us"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", default=None, help="folder from benchmarks/tiny_models.py (made if absent)")
    ap.add_argument("--runs", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    folder = Path(args.models_dir or tempfile.mkdtemp(prefix="edgellm-overhead-"))
    if not (folder / "tiny-export" / "edgellm.json").exists():
        import tiny_models

        folder.mkdir(parents=True, exist_ok=True)
        tiny_models.make_tflite(folder / "tiny.tflite")
        tiny_models.make_export(folder / "tiny-export", folder / "tiny.tflite")
        tiny_models.make_add(folder / "add.tflite")
    lines = folder / "lines.txt"
    lines.write_text("hello world\nthe phone is fast\nthe model is small\n")

    cases = [("add.tflite (1 ADD)", folder / "add.tflite", None),
             ("tiny BERT, fixed input", folder / "tiny.tflite", None),
             ("tiny BERT, --text-file", folder / "tiny-export", str(lines))]
    print(f"{args.runs} invokes per measurement, median of {args.rounds} rounds, 1 thread")
    print(f"{'case':<24} {'bare invoke':>12} {'runner':>10} {'overhead':>9}  (inside timer / outside)")
    worst = 0.0
    for label, path, text in cases:
        bare_path = path / "model.tflite" if path.is_dir() else path
        bares, totals, insides, outsides = [], [], [], []
        for _ in range(args.rounds):
            bares.append(bare_invoke_us(bare_path, args.runs))
            total, mean, outside = runner_us(path, args.runs, text)
            totals.append(total)
            insides.append(mean)
            outsides.append(outside)
        bare, total = statistics.median(bares), statistics.median(totals)
        over = total - bare
        worst = max(worst, over)
        print(f"{label:<24} {bare:>9.2f} µs {total:>7.2f} µs {over:>6.2f} µs  "
              f"({statistics.median(insides) - bare:.2f} / {statistics.median(outsides):.2f})")
    print(f"\n{'PASS' if worst < 20 else 'FAIL'}: runner overhead per invoke {worst:.2f} µs (target < 20 µs)")
    return 0 if worst < 20 else 1


if __name__ == "__main__":
    sys.exit(main())
