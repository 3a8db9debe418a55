"""Milliseconds per call of decode and of each verify_<T> signature of LLM exports, interleaved: what a speculative
step costs against a plain one. Prints the figures in docs/speculative.md, "Figures".

    python benchmarks/verify_cost.py EXPORT [EXPORT ...] [--threads 1] [--rounds 5] [--calls 10] [--position 60]

Each round runs --calls calls of every signature of every export in turn (the cache filled to --position by one
prefill first); the median and the minimum over rounds are printed per export and signature.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def call_ms(runner, t: int, position: int, calls: int) -> float:
    """Milliseconds per call of decode (t = 1) or verify_<t> at ``position``, over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        if t == 1:
            runner.decode(5, position=position)
        else:
            runner.verify([5] * t, position=position)
    return (time.perf_counter() - start) / calls * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exports", nargs="+", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=10)
    p.add_argument("--position", type=int, default=60)
    args = p.parse_args(argv)
    from edgellm.generate.runner import LlmRunner

    runners = {}
    for folder in args.exports:
        r = LlmRunner(folder / "model.tflite", num_threads=args.threads)
        r.prefill(list(range(1, args.position + 1)))
        runners[str(folder)] = r
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for name, r in runners.items():
            for t in (1, *r.layout.verify_lengths):
                times.setdefault((name, "decode" if t == 1 else f"verify_{t}"), []).append(
                    call_ms(r, t, args.position, args.calls))
    for (name, sig), ms in times.items():
        print(f"{name:<40} {sig:<9} median {np.median(ms):6.2f} ms  min {min(ms):6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
