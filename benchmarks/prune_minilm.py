"""Structured pruning of all-MiniLM-L6-v2 with recovery (``edgellm prune --method ffn|heads --recover-steps N``):
parameters, the embeddings' cosine to the unpruned model on held text, int8-dynamic export size and p50 latency.
Prints the figures in benchmarks/README.md, "Structured pruning of MiniLM".

    python benchmarks/prune_minilm.py [--methods ffn,heads] [--ffn-amount 0.3] [--heads-amount 0.5]
                                      [--ffn-steps N] [--heads-steps N] [--out out/prune_minilm] [--no-refit]

Rows per method: cut only (``--no-refit``) and refit (the default), both without recovery, then refit + recovery.

Targets: 30% of FFN neurons pruned + recovery: mean cosine >= 0.97; 50% of heads pruned + recovery: >= 0.95; both
exports smaller and faster than the unpruned model's (int8-dynamic, sequence length 128, 1 thread).

Importance scores and recovery read the training text only (default: a seeded 3000 of the sentences
benchmarks/distill_minilm.py builds from the Python documentation, package descriptions and docstrings, plus
calibration/en.txt; built once into out/distill_minilm/data); the cosine is measured on calibration/en_eval.txt
(60 sentences, never trained on), PyTorch sentence embeddings (benchmarks/lowrank_minilm.py's ``embed``: mean
pooling + normalise) of the pruned model against the original, before and after recovery. Speed: the exports are timed in turn for ``--rounds`` rounds and the median
p50 is reported, so a load spike from other jobs hits every model alike. PyTorch runs at 1 thread.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from distill_minilm import build_corpus  # noqa: E402  (the distillation benchmark's training text)
from lowrank_minilm import embed  # noqa: E402  (the same sentence embedding as the low-rank measurement)


def cpu_flags() -> str:
    out = subprocess.run("grep -o 'avx512_vnni\\|avx2' /proc/cpuinfo | sort -u", shell=True, capture_output=True,
                         text=True).stdout.split()
    return ",".join(out) or "neither avx2 nor avx512_vnni"


def main(argv=None) -> int:
    import numpy as np
    import torch

    import edgellm
    from edgellm.calibrate import corpus_path
    from edgellm.convert.source import default_model_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", default="ffn,heads", help="comma-separated: ffn, heads")
    p.add_argument("--ffn-amount", type=float, default=0.3)
    p.add_argument("--heads-amount", type=float, default=0.5)
    p.add_argument("--ffn-steps", type=int, default=800, help="recovery steps after ffn pruning")
    p.add_argument("--heads-steps", type=int, default=800, help="recovery steps after heads pruning")
    p.add_argument("--data", default=None, help="training text (default: distill_minilm.py's corpus)")
    p.add_argument("--num-samples", type=int, default=3000, help="texts of --data used (a seeded subset)")
    p.add_argument("--sequence-length", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per export (median p50 reported)")
    p.add_argument("--out", type=Path, default=Path("out/prune_minilm"))
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument("--no-refit", dest="refit", action="store_false", help="prune with --no-refit (cut only) before "
                   "the recovery too; by default a cut-only row without recovery is printed beside the refit ones")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    amounts = {"ffn": args.ffn_amount, "heads": args.heads_amount}
    steps = {"ffn": args.ffn_steps, "heads": args.heads_steps}
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"cpu flags: {cpu_flags()}; torch threads {torch.get_num_threads()}")

    src = default_model_path()
    data = args.data or str(build_corpus(Path("out/distill_minilm/data"))[0])
    texts = [t.strip() for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    reference = embed(src, texts)

    def cosine(folder: Path) -> tuple[float, float]:
        c = torch.nn.functional.cosine_similarity(reference, embed(folder, texts), dim=-1)
        return round(float(c.mean()), 4), round(float(c.min()), 4)

    rows: dict[str, dict] = {"original": {"folder": src, "params": None}}
    for method in methods:
        name = f"{method} {amounts[method]:g}"
        variants = [(0, False), (0, True), (steps[method], True)] if args.refit else [(0, False),
                                                                                       (steps[method], False)]
        for recover, refit in variants:
            folder = args.out / f"{method}_{amounts[method]:g}_r{recover}{'_refit' if refit else ''}"
            start = time.perf_counter()
            result = edgellm.prune(src, folder, method=method, amount=amounts[method], data=data,
                                   num_samples=args.num_samples, recover_steps=recover, refit=refit,
                                   overwrite=folder.exists(),
                                   progress=lambda line: print(f"  prune: {line}", file=sys.stderr, flush=True))
            wall = time.perf_counter() - start
            print(result.summary())
            rows["original"]["params"] = result.params_before
            mean, low = cosine(folder)
            row = {"folder": folder, "params": result.params_after, "cos_mean": mean, "cos_min": low,
                   "wall_min": round(wall / 60, 2), "recover_steps": recover}
            if result.recovery:
                curve = result.recovery["loss_curve"]
                row["loss"] = [round(curve[0][1], 4), round(curve[-1][1], 4)]
                row["train_min"] = round(result.recovery["train_s"] / 60, 2)
            how = "refit" if refit else "cut"
            rows[f"{name} {how} + {recover} steps" if recover else f"{name} {how}, no recovery"] = row

    exported = {}
    for name, row in rows.items():
        if name != "original" and not row["recover_steps"]:
            continue
        out = args.out / ("export_" + name.replace(" ", "_").replace(",", "").replace("+", "r"))
        r = edgellm.export(row["folder"], out, quantize="int8-dynamic", sequence_length=args.sequence_length,
                           overwrite=True, allow_validation_failure=True)
        row["bytes"] = (out / "model.tflite").stat().st_size
        row["validation"] = "passed" if r.validation.passed else "FAILED"
        exported[name] = out
    runs = {name: [] for name in exported}
    for _ in range(args.rounds):  # every export in turn, so a load spike hits all of them
        for name, out in exported.items():
            bench = edgellm.benchmark(out, edgellm.BenchConfig(threads=(1,), runs=100, min_seconds=3.0, warmup=10))
            runs[name].append(bench.to_dict()["results"][0]["latency_ms"]["p50"])
    for name in exported:
        rows[name]["p50_ms"] = round(float(np.median(runs[name])), 3)
        rows[name]["p50_rounds"] = [round(x, 3) for x in runs[name]]

    base = rows["original"]
    print(f"\nheld text: {len(texts)} sentences of en_eval.txt; training text: {data}; int8-dynamic, sequence "
          f"length {args.sequence_length}, 1 thread, median of {args.rounds} rounds' p50")
    print(f"{'model':<34} {'params M':>8} {'int8 MB':>8} {'p50 ms':>8} {'cos mean':>8} {'cos min':>8} "
          f"{'wall min':>8}  validation")
    for name, row in rows.items():
        size = f"{row['bytes'] / 1e6:8.2f}" if "bytes" in row else f"{'-':>8}"
        p50 = f"{row['p50_ms']:8.2f}" if "p50_ms" in row else f"{'-':>8}"
        cos = (f"{row['cos_mean']:8.4f} {row['cos_min']:8.4f}" if "cos_mean" in row else f"{'1':>8} {'1':>8}")
        wall = f"{row['wall_min']:8.2f}" if "wall_min" in row else f"{'-':>8}"
        print(f"{name:<34} {row['params'] / 1e6:8.2f} {size} {p50} {cos} {wall}  {row.get('validation', '-')}")
    for name, row in rows.items():
        if name == "original" or "bytes" not in row:
            continue
        print(f"{name}: size {row['bytes'] / base['bytes']:.3f}x, p50 {row['p50_ms'] / base['p50_ms']:.3f}x "
              f"(speed-up {base['p50_ms'] / row['p50_ms']:.2f}x) of the unpruned int8-dynamic export")
    if args.json:
        args.json.write_text(json.dumps({k: {kk: (str(vv) if isinstance(vv, Path) else vv) for kk, vv in v.items()}
                                         for k, v in rows.items()}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
