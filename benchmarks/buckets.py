"""Per-sentence latency over a realistic text file: length buckets vs the anchor.
Prints the figure in benchmarks/README.md, "Length buckets".

The anchor is all-MiniLM-L6-v2 at int8-dynamic padded to 128 tokens, the best single-length recipe. The
candidates are exported with --sequence-lengths 16,32,64,128 and each sentence runs on the shortest signature
that fits (`edgellm bench --text-file`, the same routing apps use). Fidelity is the mean cosine to PyTorch fp32
on the same sentences, each through the signature it was routed to.

    python benchmarks/buckets.py [--out out/buckets] [--threads 1,2] [--text-file calibration/en_eval.txt]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

VARIANTS = (  # name, recipe, sequence lengths
    ("anchor int8-dynamic @128", "int8-dynamic", (128,)),
    ("int8-dynamic buckets", "int8-dynamic", (16, 32, 64, 128)),
    ("int8 buckets", "int8", (16, 32, 64, 128)),
)


def fidelity(folder: Path, texts: list[str]) -> float:
    """Mean cosine to the PyTorch fp32 reference, every sentence through the signature it is routed to."""
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from transformers import AutoTokenizer

    from edgellm.convert.encoder import load_reference
    from edgellm.convert.source import read_source
    from edgellm.validate import route

    manifest = json.loads((folder / "edgellm.json").read_text())
    signatures = [(s["name"], s["sequence_length"]) for s in manifest["signatures"]]
    source = read_source(None)
    reference = load_reference(source, "sentence-embedding")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    interpreter = Interpreter(str(folder / "model.tflite"))
    cosines = []
    for text in texts:
        enc = tokenizer(text, padding="max_length", truncation=True, max_length=signatures[-1][1], return_tensors="np")
        name, sample = route({k: v.astype(np.int32) for k, v in enc.items()}, signatures)
        got = interpreter.get_signature_runner(name)(**sample)["embedding"][0]
        with torch.no_grad():
            want = reference(**{k: torch.from_numpy(v) for k, v in sample.items()})["embedding"][0].numpy()
        cosines.append(float(np.dot(got, want) / (np.linalg.norm(got) * np.linalg.norm(want))))
    return float(np.mean(cosines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/buckets")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--text-file", default=None, help="default: calibration/en_eval.txt (not calibration data)")
    args = parser.parse_args()

    import edgellm
    from edgellm.calibrate import corpus_path

    text_file = Path(args.text_file) if args.text_file else corpus_path("en_eval")
    texts = [t for t in text_file.read_text("utf-8").splitlines() if t.strip()]
    threads = tuple(int(t) for t in args.threads.split(","))
    rows = []
    for name, recipe, lengths in VARIANTS:
        folder = Path(args.out) / name.replace(" ", "_").replace("@", "")
        if not (folder / "edgellm.json").exists():
            edgellm.export(None, folder, quantize=recipe, sequence_lengths=lengths, allow_validation_failure=True)
        bench = edgellm.benchmark(folder, edgellm.BenchConfig(threads=threads, text_file=str(text_file), warmup=3))
        results = {r["num_threads"]: r["latency_ms"] for r in bench.to_dict()["results"]}
        rows.append((name, results, fidelity(folder, texts)))
    anchor = rows[0][1]
    print(f"all-MiniLM-L6-v2, per-sentence latency over {len(texts)} sentences of {text_file.name}")
    print(f"{'variant':<28}" + "".join(f"{f'mean {t}t ms':>12}{'x anchor':>9}" for t in threads) + f"{'cosine':>9}")
    for name, results, cos in rows:
        print(f"{name:<28}" + "".join(f"{results[t]['mean']:12.2f}{results[t]['mean'] / anchor[t]['mean']:9.2f}"
                                      for t in threads) + f"{cos:9.4f}")


if __name__ == "__main__":
    main()
