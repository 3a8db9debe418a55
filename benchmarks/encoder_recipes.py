"""Fidelity, size, latency and XNNPACK partitions of all-MiniLM-L6-v2 at every encoder recipe.
Prints the figure in benchmarks/README.md, "Encoder recipes".

Fidelity is the mean cosine between each export's sentence embedding and sentence-transformers-style PyTorch
fp32 embeddings, on calibration/en_eval.txt (sentences that are not in the calibration corpus). Latency is
`edgellm.benchmark` p50 on one fixed input at each thread count (XNNPACK on).

    python benchmarks/encoder_recipes.py [--out out/recipes] [--threads 1,2] [--recipes fp32,int8-dynamic,int8,int16x8]
                                         [--io-type int8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def embeddings(folder: Path, texts: list[str], length: int) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    runner = Interpreter(str(folder / "model.tflite")).get_signature_runner()
    scale, zero_point = runner.get_output_details()["embedding"]["quantization"]  # (0.0, 0) unless --io-type int8
    rows = []
    for text in texts:
        enc = tokenizer(text, padding="max_length", truncation=True, max_length=length, return_tensors="np")
        out = runner(**{k: v.astype(np.int32) for k, v in enc.items()})["embedding"][0]
        rows.append((out.astype(np.float32) - zero_point) * scale if scale else out)
    return np.stack(rows)


def reference(texts: list[str], length: int) -> np.ndarray:
    import torch
    from transformers import AutoTokenizer

    from edgellm.convert.encoder import load_reference
    from edgellm.convert.source import read_source

    source = read_source(None)
    model, tokenizer = load_reference(source, "sentence-embedding"), AutoTokenizer.from_pretrained(source.path)
    with torch.no_grad():
        return np.stack([model(**{k: torch.from_numpy(v.astype(np.int32)) for k, v in tokenizer(
            t, padding="max_length", truncation=True, max_length=length, return_tensors="np").items()})
            ["embedding"][0].numpy() for t in texts])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/recipes")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--recipes", default="fp32,int8-dynamic,int8,int16x8")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--io-type", default="float", help="int8: quantized outputs for the calibrated recipes")
    args = parser.parse_args()

    import edgellm
    from edgellm.calibrate import corpus_path

    texts = [t for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]
    ref = reference(texts, args.sequence_length)
    threads = tuple(int(t) for t in args.threads.split(","))
    rows = []
    for recipe in args.recipes.split(","):
        io_type = args.io_type if edgellm.RECIPES[recipe].needs_calibration else "float"
        label = recipe if io_type == "float" else f"{recipe} io {io_type}"
        folder = Path(args.out) / label.replace(" ", "-")
        if not (folder / "edgellm.json").exists():
            edgellm.export(None, folder, quantize=recipe, sequence_length=args.sequence_length, io_type=io_type,
                           allow_validation_failure=True)  # report the figures even when a recipe misses
        manifest = json.loads((folder / "edgellm.json").read_text())
        emb = embeddings(folder, texts, args.sequence_length)
        cos = np.sum(emb * ref, 1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
        runs = 5 if recipe == "int16x8" else 50  # int16x8 runs on reference kernels: ~1 s an invoke
        bench = edgellm.benchmark(folder, edgellm.BenchConfig(threads=threads, runs=runs, min_seconds=0.5,
                                                              warmup=2))
        p50 = {r["num_threads"]: r["latency_ms"]["p50"] for r in bench.to_dict()["results"]}
        rows.append((label, manifest["size_bytes"], float(cos.mean()), float(cos.min()), p50,
                     manifest["graph"]["xnnpack_partitions"]))
    fp32_size = next((r[1] for r in rows if r[0] == "fp32"), None)
    print(f"all-MiniLM-L6-v2, sequence length {args.sequence_length}, {len(texts)} held-out sentences")
    print(f"{'recipe':<14}{'MB':>7}{'x fp32':>8}{'cosine':>9}{'min cos':>9}"
          + "".join(f"{f'p50 {t}t ms':>12}" for t in threads) + f"{'partitions':>12}")
    for recipe, size, mean_cos, min_cos, p50, parts in rows:
        ratio = f"{size / fp32_size:.2f}" if fp32_size else "-"
        print(f"{recipe:<14}{size / 1e6:7.1f}{ratio:>8}{mean_cos:9.4f}{min_cos:9.4f}"
              + "".join(f"{p50[t]:12.2f}" for t in threads) + f"{parts:>12}")


if __name__ == "__main__":
    main()
