"""int4 against int8-dynamic (and fp32) on LLM exports: held-text perplexity ratio and top-1, size, decode tokens/s.
Prints the figure in benchmarks/README.md, "int4 vs int8-dynamic".

    GGUF=$(python -c "from edgellm.convert.decoder.source import packaged_gguf; print(packaged_gguf())")
    for q in fp32 int8-dynamic int4; do edgellm export --model $GGUF --task text-generation --quantize $q \\
        --cache-length 256 --prefill-lengths 32,128 out/smol_$q; done
    python benchmarks/llm_int4.py out/smol_int4 out/smol_int8-dynamic --fp32 out/smol_fp32 [--threads 1,2]
        [--rounds 3 | --rounds 0 (fidelity only)] [--held-tokens 256]

Fidelity: every export (and the fp32 one) runs the same held text teacher-forced through edgellm's runner
(``--held-tokens`` of calibrate/data/en_eval.txt, at most the cache length); perplexity ratio and top-1 agreement are
against the fp32 export's logits, the reference the int4 target is stated against (<= 1.01x, >= 95%). The
validation numbers of each edgellm.json (against PyTorch) are printed too. Speed: each (round, export, threads)
is one child process running edgellm.bench.llm (64-token prompt, 64 greedy tokens, median of 3) and then 40
decode steps timed in process CPU time, interleaved so that load on a shared machine hits every export alike; the
medians over rounds are reported, with int4 / int8-dynamic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np


def held_logits(folder: Path, n: int) -> tuple[np.ndarray, list[int]]:
    from edgellm.validate.decoder import HELD_TEXT
    from edgellm.generate import load_llm

    llm = load_llm(folder, num_threads=1)
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = llm.tokenizer.encode(text)[: min(n, llm.layout.cache_length)]
    runner = llm.runner
    runner.reset()
    return np.stack([runner.decode(t, position=i).copy() for i, t in enumerate(ids)]), ids


def nll(logits: np.ndarray, ids: list[int]) -> float:
    x = logits[:-1].astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(ids) - 1), ids[1:]].mean())


def decode_cpu_ms(folder: Path, threads: int, steps: int = 40) -> float:
    """Process CPU time per decode step (all threads): on a machine other jobs share, wall time measures the
    share of the CPU the process got; CPU time measures the work."""
    import time

    from edgellm.generate import load_llm

    runner = load_llm(folder, num_threads=threads).runner
    for i in range(5):
        runner.decode(1, position=i)
    t = time.process_time()
    for i in range(5, 5 + steps):
        runner.decode(1, position=i)
    return (time.process_time() - t) / steps * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("int4", type=Path)
    p.add_argument("int8", type=Path, help="the int8-dynamic export of the same model")
    p.add_argument("--fp32", type=Path, default=None, help="the fp32 export: the fidelity reference")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--held-tokens", type=int, default=256)
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child: export|threads
    args = p.parse_args(argv)
    if args.one:
        from edgellm.bench.llm import LlmBenchConfig, bench_llm

        folder, threads = args.one.split("|")
        row = bench_llm(folder, LlmBenchConfig(threads=int(threads)))
        print(json.dumps({**row, "decode_cpu_ms_per_token": decode_cpu_ms(Path(folder), int(threads))}))
        return 0
    exports = {"int4": args.int4, "int8-dynamic": args.int8}
    reference = args.fp32 or args.int8
    ref_logits, ids = held_logits(reference, args.held_tokens)
    ref_nll = nll(ref_logits, ids)
    print(f"fidelity on {len(ids)} held tokens against {reference.name} (perplexity {np.exp(ref_nll):.3f})")
    for name, folder in exports.items():
        logits, got_ids = held_logits(folder, args.held_tokens)
        assert got_ids == ids, "exports use different tokenizers"
        manifest = json.loads((folder / "edgellm.json").read_text())
        v = manifest["validation"]["metrics"]
        size = (folder / manifest["model_file"]).stat().st_size
        print(f"  {name:<13} {size / 1e6:6.1f} MB  perplexity x{np.exp(nll(logits, ids) - ref_nll):.4f}  top-1 "
              f"{np.mean(logits.argmax(-1) == ref_logits.argmax(-1)):.3f}   (edgellm.json vs PyTorch: x"
              f"{v['perplexity_ratio']:.4f}, top-1 {v['top1']:.3f}, passed {manifest['validation']['passed']})")
        if "int4" in (manifest.get("quantization") or {}):
            print(f"  {'':<13} int4 layers: {manifest['quantization']['int4']}")
    if not args.rounds:  # --rounds 0: fidelity only
        return 0
    threads = [int(t) for t in args.threads.split(",")]
    speed: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    for r in range(args.rounds):
        for t in threads:
            for name, folder in exports.items():
                out = subprocess.run([sys.executable, __file__, str(folder), str(folder), "--one", f"{folder}|{t}"],
                                     check=True, capture_output=True, text=True).stdout
                row = json.loads(out.strip().splitlines()[-1])
                speed.setdefault((name, t), []).append(row["decode_tokens_per_second"])
                cpu.setdefault((name, t), []).append(row["decode_cpu_ms_per_token"])
                print(f"  round {r + 1} threads {t} {name:<13} decode {row['decode_tokens_per_second']:6.1f} tok/s  "
                      f"({row['decode_cpu_ms_per_token']:5.1f} CPU ms/token)  TTFT {row['time_to_first_token_ms']:6.1f} "
                      f"ms  load {row['load_s']:.2f} s", flush=True)
    for t in threads:
        a, b = statistics.median(speed[("int4", t)]), statistics.median(speed[("int8-dynamic", t)])
        ca, cb = statistics.median(cpu[("int4", t)]), statistics.median(cpu[("int8-dynamic", t)])
        print(f"threads {t}: decode int4 {a:.1f} tok/s, int8-dynamic {b:.1f} tok/s, int4 / int8-dynamic {a / b:.2f}x; "
              f"CPU ms/token int4 {ca:.1f}, int8-dynamic {cb:.1f}, int8 / int4 {cb / ca:.2f}x "
              f"(medians of {args.rounds} interleaved rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
