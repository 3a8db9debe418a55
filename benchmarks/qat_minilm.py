"""all-MiniLM-L6-v2 static int8, post-training against quantization-aware fine-tuning (`edgellm qat
--quantization-aware int8`). Prints the figure in benchmarks/README.md, "Quantization-aware int8 (MiniLM)".

Both exports are `edgellm export --quantize int8` (smoothed inputs, calibrated on the packaged calibration/en.txt);
the fine-tuned one starts from the `qat` folder, trained on the same calibration/en.txt. Fidelity is the mean and
worst cosine of each export's sentence embedding to the ORIGINAL model's PyTorch fp32 embedding, on the 60 held-out
sentences of calibration/en_eval.txt (not trained or calibrated on), padded to 128 tokens.

    python benchmarks/qat_minilm.py WORK [--max-steps 300] [--lr 5e-6] [--no-smooth]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_recipes import embeddings, reference  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--no-smooth", action="store_true", help="export both without smoothing")
    args = parser.parse_args()

    from edgellm.calibrate import corpus_path
    from edgellm.convert.source import default_model_path

    edgellm = [sys.executable, "-m", "edgellm"]
    model = default_model_path()
    qat_dir = args.work / "qat"
    if not (qat_dir / "compress.json").exists():
        cmd = [*edgellm, "qat", "--model", str(model), "--quantization-aware", "int8", str(qat_dir)]
        cmd += ["--max-steps", str(args.max_steps)] if args.max_steps else []
        cmd += ["--lr", str(args.lr)] if args.lr else []
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"qat: {time.perf_counter() - start:.0f} s")
    smooth = ["--no-smooth"] if args.no_smooth else []
    rows = []
    texts = [t for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]
    ref = reference(texts, 128)
    for label, src in (("post-training", model), ("quantization-aware", qat_dir)):
        out = args.work / (label + ("-nosmooth" if args.no_smooth else ""))
        if not (out / "edgellm.json").exists():
            subprocess.run([*edgellm, "export", "--model", str(src), "--quantize", "int8", *smooth,
                            "--allow-validation-failure", str(out)], check=False)
        emb = embeddings(out, texts, 128)
        cos = np.sum(emb * ref, 1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
        manifest = json.loads((out / "edgellm.json").read_text())
        rows.append((label, manifest["size_bytes"], float(cos.mean()), float(cos.min()),
                     manifest["validation"]["passed"]))
    doc = json.loads((qat_dir / "compress.json").read_text())
    print(f"all-MiniLM-L6-v2 int8{' (no smoothing)' if args.no_smooth else ''}, {len(texts)} held-out sentences; "
          f"qat: {doc['training']['steps']} steps, lr {doc['config']['lr']:g}, {doc['training']['seconds']:.0f} s "
          "of training")
    print(f"{'export':<22}{'MB':>7}{'mean cosine':>13}{'min cosine':>12}{'validation':>12}")
    for label, size, mean, low, passed in rows:
        print(f"{label:<22}{size / 1e6:7.1f}{mean:13.5f}{low:12.5f}{'passed' if passed else 'FAILED':>12}")


if __name__ == "__main__":
    main()
