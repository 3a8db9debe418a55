"""Full-integer figures on all-MiniLM-L6-v2: --io-type int8, the integer-only int8-full recipe (also with
outlier channel scaling), int16x8 and the accuracy-budget fallback, against int8 and fp32.
Prints the figure in benchmarks/README.md, "Integer-only graphs, quantized outputs, accuracy budget".

Each variant is exported once into --out (an existing export is reused); fidelity is the mean / min cosine of the
sentence embedding to PyTorch fp32 on calibration/en_eval.txt (not in the calibration corpus), outputs dequantized
with their scale / zero point. Latency is `edgellm.benchmark` p50 at sequence length 128, taken in --rounds
interleaved rounds (variant A, B, C, A, B, C, ...) and reported as the median round with the median of the
per-round ratios to fp32 and to int8, so a machine shared with other jobs still gives comparable ratios.

    python benchmarks/full_integer.py [--out out/full_integer] [--variants int8,int8-io8,int8-full,...]
                                      [--threads 1,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from encoder_recipes import embeddings, reference  # noqa: E402

# name -> export options (edgellm.export keywords)
VARIANTS = {
    "fp32": dict(quantize="fp32"),
    "int8": dict(quantize="int8"),
    "int8-io8": dict(quantize="int8", io_type="int8"),
    "int8-nosmooth": dict(quantize="int8", smooth=False),  # the recipe before inputs were smoothed
    "int8-full-nosmooth": dict(quantize="int8-full", smooth=False),
    "int8-full": dict(quantize="int8-full"),
    "int8-full-io8": dict(quantize="int8-full", io_type="int8"),
    "int8-budget995": dict(quantize="int8", accuracy_budget=0.995),  # sensitivity search instead of the arch list
    "int16x8": dict(quantize="int16x8"),
}
# Built through the Python API (ExportConfig has no such option): int8-full with the outlier output channels of
# the linear layers (peak > 8x the median channel's) split into an int16 scale at conversion instead of the
# architecture's 16x8 outlier projections.
CONVERT_VARIANTS = {"int8-full-cs8": ("int8-full", 8.0)}


def export_channel_scaled(folder: Path, recipe: str, ratio: float, sequence_length: int) -> None:
    import edgellm
    from edgellm.convert import ConvertConfig, convert, read_source

    calibration = edgellm.load_samples(None, str(read_source(None).path), sequence_length=sequence_length)
    model = convert(None, ConvertConfig(sequence_length=sequence_length, bounded_layer_norm=True,
                                        outlier_channel_ratio=ratio), calibration=calibration)
    model = edgellm.quantize(model, recipe, calibration=calibration)
    edgellm.bundle(folder, model, validation=edgellm.validate(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/full_integer")
    parser.add_argument("--variants", default="fp32,int8,int8-io8,int8-full,int8-full-io8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequence-length", type=int, default=128)
    args = parser.parse_args()

    import edgellm
    from edgellm.calibrate import corpus_path

    texts = [t for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]
    names = args.variants.split(",")
    threads = tuple(int(t) for t in args.threads.split(","))
    folders, fidelity = {}, {}
    ref = reference(texts, args.sequence_length)
    for name in names:
        folder = folders[name] = Path(args.out) / name
        if (folder / "edgellm.json").exists():
            pass
        elif name in CONVERT_VARIANTS:
            export_channel_scaled(folder, *CONVERT_VARIANTS[name], args.sequence_length)
        else:
            edgellm.export(None, folder, sequence_length=args.sequence_length, allow_validation_failure=True,
                           **VARIANTS[name])
        emb = embeddings(folder, texts, args.sequence_length)
        cos = np.sum(emb * ref, 1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
        fidelity[name] = (float(cos.mean()), float(cos.min()))
    p50s: dict[str, dict[int, list[float]]] = {n: {t: [] for t in threads} for n in names}
    for _ in range(args.rounds):
        for name in names:
            manifest = json.loads((folders[name] / "edgellm.json").read_text())
            slow = manifest["graph"]["xnnpack_partitions"] != 1  # reference kernels: ~1 s an invoke
            bench = edgellm.benchmark(folders[name], edgellm.BenchConfig(
                threads=threads, runs=5 if slow else 30, min_seconds=0.3, warmup=1 if slow else 3))
            for r in bench.to_dict()["results"]:
                p50s[name][r["num_threads"]].append(r["latency_ms"]["p50"])
    print(f"all-MiniLM-L6-v2, sequence length {args.sequence_length}, {len(texts)} held-out sentences, "
          f"median of {args.rounds} interleaved rounds")
    bases = [b for b in ("fp32", "int8") if b in names]
    print(f"{'variant':<16}{'MB':>7}{'cosine':>9}{'min cos':>9}"
          + "".join(f"{f'p50 {t}t ms':>12}" + "".join(f"{f'x {b}':>8}" for b in bases) for t in threads)
          + f"{'partitions':>12}  float ops")
    for name in names:
        manifest = json.loads((folders[name] / "edgellm.json").read_text())
        graph = manifest["graph"]
        cells = ""
        for t in threads:
            cells += f"{statistics.median(p50s[name][t]):12.1f}"
            for b in bases:  # median of the per-round ratios: each round's variants ran back to back
                cells += f"{statistics.median(x / y for x, y in zip(p50s[name][t], p50s[b][t])):8.2f}"
        float_ops = ",".join(f"{k}:{v}" for k, v in sorted(graph.get("float_ops", {}).items())) or "-"
        print(f"{name:<16}{manifest['size_bytes'] / 1e6:7.1f}{fidelity[name][0]:9.4f}{fidelity[name][1]:9.4f}"
              + cells + f"{graph['xnnpack_partitions'] or '-':>12}  {float_ops}")  # None: inspect could not run it


if __name__ == "__main__":
    main()
