"""Time to first token, prefill and decode tokens/s of LLM exports, per runner mode and thread count.
Prints the figure in benchmarks/README.md, "Runner modes and the weight cache".

    python benchmarks/llm_decode.py out/smollm2_int8 [more exports] [--threads 1,2] [--modes compiled,inplace,copy]
        [--prompt-tokens 64] [--new-tokens 64] [--runs 3] [--bandwidth-gbs 16,31|measure] [--json FILE]

Each (export, threads, mode) runs in its own process (XNNPACK's thread pool and RSS stay separate), interleaved
in that order; edgellm.bench.llm does the timing (burn-in, then the median of --runs). ``compiled`` (the
default where CompiledModel is there) and ``inplace`` are edgellm's runner on LiteRT's CompiledModel (one KV cache
shared by all signatures, XNNPACK's in-memory weight cache) and on the Interpreter (tensors held as numpy views);
both write only the new KV rows. ``copy`` is the signature runner (whole cache copied in per call). RSS is the
process's peak: load, one burn-in and the timed generations. The bandwidth bound is bytes read per token (weights + the static KV
cache) over the read bandwidth measured on the machine; share = achieved / bound.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exports", nargs="+", type=Path)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--modes", default="compiled,inplace,copy")
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--bandwidth-gbs", default="16,31",
                   help="read bandwidth per thread count, GB/s, or 'measure' (numpy sums of a 1 GiB array split "
                        "over that many threads, best of 5)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: export|threads|mode
    args = p.parse_args(argv)
    if args.one:
        from edgellm.bench.llm import LlmBenchConfig, bench_llm

        folder, threads, mode = args.one.split("|")
        print(json.dumps(bench_llm(folder, LlmBenchConfig(threads=int(threads), mode=mode, runs=args.runs,
                                                          prompt_tokens=args.prompt_tokens,
                                                          new_tokens=args.new_tokens))))
        return 0
    threads = [int(t) for t in args.threads.split(",")]
    if args.bandwidth_gbs == "measure":
        bandwidth = {t: read_bandwidth_gbs(t) for t in threads}
        print("measured read bandwidth: " + ", ".join(f"{b:.1f} GB/s at {t} thread(s)" for t, b in bandwidth.items()))
    else:
        bandwidth = dict(zip(threads, [float(b) for b in args.bandwidth_gbs.split(",")]))
    rows = []
    for folder in args.exports:
        for t in threads:
            for mode in args.modes.split(","):
                out = subprocess.run([sys.executable, __file__, str(folder), "--one", f"{folder}|{t}|{mode}",
                                      "--runs", str(args.runs), "--prompt-tokens", str(args.prompt_tokens),
                                      "--new-tokens", str(args.new_tokens)],
                                     check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                bound = bandwidth[t] * 1e9 / row["bytes_read_per_token"] if t in bandwidth else float("nan")
                row["bandwidth_bound_tokens_per_second"] = bound
                row["bandwidth_share"] = row["decode_tokens_per_second"] / bound
                rows.append(row)
                print(f"{folder.name:<20} {row['recipe']:<13} threads {t} {mode:<8} load {row['load_s']:.2f} s  "
                      f"TTFT {row['time_to_first_token_ms']:6.1f} ms  prefill {row['prefill_tokens_per_second']:6.1f} "
                      f"tok/s  decode {row['decode_tokens_per_second']:6.1f} tok/s  "
                      f"({100 * row['bandwidth_share']:.0f}% of {bound:.0f} tok/s bound)  "
                      f"RSS {row['peak_rss_bytes'] / 1e6:.0f} MB", flush=True)
    for folder in args.exports:
        same = {json.dumps(r["tokens"]) for r in rows if r["export"] == str(folder)}
        print(f"{folder.name}: greedy tokens identical across threads and modes: {len(same) == 1}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def read_bandwidth_gbs(threads: int, size: int = 1 << 30, repeats: int = 5) -> float:
    """DRAM read bandwidth: a 1 GiB float32 array (far past the caches) summed in ``threads`` slices at once by
    numpy (which releases the GIL), best of ``repeats``."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    data = np.ones(size // 4, np.float32)
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - start)
    return size / best / 1e9


if __name__ == "__main__":
    sys.exit(main())
