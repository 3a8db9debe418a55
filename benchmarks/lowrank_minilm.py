"""Low-rank factorisation of all-MiniLM-L6-v2 (``edgellm prune --method lowrank``): parameters, weight bytes, the
fp32 .tflite's size and FULLY_CONNECTED count, and the embeddings' cosine to the unpruned model, before and after.
Prints the figures in benchmarks/README.md, "Low-rank MiniLM".

    python benchmarks/lowrank_minilm.py [--amount 0.9] [--out out/lowrank]

No recovery training: the cosine is what the SVD truncation alone costs. Cosine: mean over the held sentences
(60 lines) of calibrate/data/en_eval.txt (nothing here is fitted on them), PyTorch sentence embeddings
(mean pooling + normalise, the sentence-transformers head) of the factorised model against the original.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def embed(folder: Path, texts: list[str]):
    import torch

    from edgellm.convert.encoder import load_reference
    from edgellm.convert.source import load_tokenizer, read_source

    source = read_source(folder)
    model, tok = load_reference(source, "sentence-embedding"), load_tokenizer(source)
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt", truncation=True, max_length=128)
            out.append(model(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))["embedding"][0])
    return torch.stack(out)


def fc_count(export_dir: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(next(export_dir.glob("*.tflite"))))
    return sum(op["op_name"] == "FULLY_CONNECTED" for op in it._get_ops_details())


def main(argv=None) -> int:
    import torch

    import edgellm
    from edgellm.convert.source import default_model_path
    from edgellm.validate.decoder import HELD_TEXT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--amount", type=float, default=0.9, help="share of each linear's energy kept")
    p.add_argument("--out", type=Path, default=Path("out/lowrank"))
    args = p.parse_args(argv)
    src = default_model_path()
    shutil.rmtree(args.out, ignore_errors=True)
    pruned = edgellm.prune(src, args.out / "hf", method="lowrank", amount=args.amount)
    print(pruned.summary())
    texts = [t.strip() for t in HELD_TEXT.read_text("utf-8").splitlines() if t.strip()][:200]
    cos = torch.nn.functional.cosine_similarity(embed(src, texts), embed(args.out / "hf", texts), dim=-1)
    rows = []
    for name, folder in (("original", src), (f"lowrank {args.amount:g}", args.out / "hf")):
        exported = edgellm.export(folder, args.out / name.replace(" ", "_"), sequence_length=128)
        tfl = next((args.out / name.replace(" ", "_")).glob("*.tflite"))
        rows.append((name, tfl.stat().st_size, fc_count(tfl.parent), exported.validation.passed))
    print(f"parameters {pruned.params_before / 1e6:.2f} M -> {pruned.params_after / 1e6:.2f} M "
          f"({pruned.params_after / pruned.params_before:.3f}x); weight files {pruned.bytes_before / 1e6:.2f} MB -> "
          f"{pruned.bytes_after / 1e6:.2f} MB")
    factorised = sum(1 for r in __import__("json").loads((args.out / "hf" / "compress.json").read_text())
                     ["removed"].values() if r["factorised"])
    print(f"block linears factorised: {factorised} of 36")
    for name, size, fcs, passed in rows:
        print(f"{name:<14} fp32 .tflite {size / 1e6:.2f} MB, FULLY_CONNECTED {fcs}, validation "
              f"{'passed' if passed else 'FAILED'}")
    print(f"held-sentence cosine to the original (PyTorch, no recovery): mean {float(cos.mean()):.4f}, "
          f"min {float(cos.min()):.4f} over {len(texts)} sentences")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
