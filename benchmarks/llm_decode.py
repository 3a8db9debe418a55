"""Time to first token, prefill and decode tokens/s of LLM exports, per runner mode and thread count.

    python benchmarks/llm_decode.py out/smollm2_int8 [out/smollm2_fp32 ...] [--threads 1,2] [--prompt-tokens 64]
        [--new-tokens 64] [--runs 3] [--bandwidth-gbs 16,31]

Like llama-bench's pp/tg: the prompt is exactly --prompt-tokens tokens of held English text, then --new-tokens greedy
tokens are decoded without stopping at end-of-sequence. Per (export, threads, mode): one burn-in generation, then
--runs timed ones; the median is reported. Modes: ``inplace`` (edgellm's runner: interpreter tensors held as numpy
views, only new KV rows written) and ``copy`` (the signature runner: whole cache copied in per call, the naive loop).
The bandwidth bound is weight bytes read per token (the model file minus nothing: every weight is read once per
decode step) plus the KV cache, over the given read bandwidth; the share is achieved / bound.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

from edgellm.generate import GenerateConfig, load_llm

HELD = Path(__file__).resolve().parents[1] / "edgellm" / "calibrate" / "data" / "en_eval.txt"


def prompt_ids(llm, n: int) -> list[int]:
    text = " ".join(line.strip() for line in HELD.read_text("utf-8").splitlines() if line.strip())
    ids = llm.tokenizer.encode(text)
    if len(ids) < n:
        raise SystemExit(f"held text has only {len(ids)} tokens; pass --prompt-tokens {len(ids)} or less")
    return ids[:n]


def run(folder: Path, threads: int, mode: str, args) -> dict:
    t0 = time.perf_counter()
    llm = load_llm(folder, num_threads=threads, mode=mode)
    load_s = time.perf_counter() - t0
    ids = prompt_ids(llm, args.prompt_tokens)
    config = GenerateConfig(max_new_tokens=args.new_tokens, stop_at_eos=False)
    tokens = list(llm.tokens(ids, config))  # burn-in
    stats = []
    for _ in range(args.runs):
        again = list(llm.tokens(ids, config))
        assert again == tokens, "greedy tokens changed between runs"
        stats.append(llm.last_stats)
    manifest = llm.manifest
    weight_bytes = (folder / manifest["model_file"]).stat().st_size
    kv_bytes = manifest["llm"]["kv_cache"]["bytes"]
    return {
        "export": str(folder), "recipe": manifest["quantization"]["recipe"], "threads": threads, "mode": mode,
        "load_s": load_s, "ttft_ms": 1e3 * statistics.median(s.time_to_first_token_s for s in stats),
        "prefill_tok_s": statistics.median(s.prefill_tokens_per_second for s in stats),
        "decode_tok_s": statistics.median(s.decode_tokens_per_second for s in stats),
        "bytes_per_token": weight_bytes + kv_bytes, "tokens": tokens,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exports", nargs="+", type=Path)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--modes", default="inplace,copy")
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--bandwidth-gbs", default="16,31", help="read bandwidth per thread count, GB/s (measured here)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    bandwidth = dict(zip(threads, [float(b) for b in args.bandwidth_gbs.split(",")]))
    rows = []
    for folder in args.exports:
        for t in threads:
            for mode in args.modes.split(","):
                row = run(folder, t, mode, args)
                bound = bandwidth.get(t, 0) * 1e9 / row["bytes_per_token"] if t in bandwidth else float("nan")
                row["bandwidth_bound_tok_s"] = bound
                row["bandwidth_share"] = row["decode_tok_s"] / bound if bound else float("nan")
                rows.append(row)
                print(f"{row['export']:<32} {row['recipe']:<13} threads {t} {mode:<8} load {row['load_s']:.2f} s  "
                      f"TTFT {row['ttft_ms']:6.1f} ms  prefill {row['prefill_tok_s']:7.1f} tok/s  decode "
                      f"{row['decode_tok_s']:6.1f} tok/s  ({100 * row['bandwidth_share']:.0f}% of the {bound:.0f} tok/s "
                      "bandwidth bound)", flush=True)
    same = {json.dumps(r["tokens"]) for r in rows if r["recipe"] == rows[0]["recipe"]}
    print(f"greedy tokens identical across modes and threads per export: {len(same) == 1}")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
