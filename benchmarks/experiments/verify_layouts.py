"""What a verify_<T> call costs per attention layout, on edgellm's own export module (``DecoderForExport``) with
SmolLM2-135M's attention (30 layers, 9 query heads on 3 KV heads, head dim 64, cache 512) and a shrunk MLP and
vocabulary (random weights, float32), so that attention's share shows; LiteRT with XNNPACK at 1 thread, the cache
filled to --position:

    decode_<W>, decode   decode over the first W cache positions, and over all 512 (the references)
    inexact_<T>          the first verify layout: the new rows after the cache, one softmax over [C + T]
    masked_<T>           the exact layout with the cache rows the new rows land on cleared in the graph (a 0/1 mask
                         multiply of both caches)
    exact_<T>            edgellm's layout: the runner zeroes those rows before the call (convert/decoder/layers.py)
    exact_w<W>_<T>       the same over the first W cache positions only (no such signature is exported)

    python benchmarks/experiments/verify_layouts.py [--verify 2,8] [--window 256] [--position 200] [--rounds 7]

Each variant is converted to its own .tflite (about 30 s each); rounds interleave the variants.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

CACHE = 512


def variants(verify: list[int], window: int) -> dict[str, tuple[str, int | None, int]]:
    """name -> (layout, window or None, tokens per call)"""
    out = {f"decode_{window}": ("decode", window, 1), "decode": ("decode", None, 1)}
    for t in verify:
        out |= {f"inexact_{t}": ("inexact", None, t), f"masked_{t}": ("masked", None, t),
                f"exact_{t}": ("exact", None, t), f"exact_w{window}_{t}": ("exact", window, t)}
    return out


def build(model, layout: str, window: int | None):
    from edgellm.convert.decoder.layers import DecoderForExport

    class Masked(DecoderForExport):
        """The exact layout with the landing rows cleared in the graph instead of by the runner."""

        def _verify_attention(self, i, qg, k3, v3, k_cache, v_cache, mask, scatter, g):
            onehot = scatter[0]
            keep = 1.0 - onehot[0].sum(0)  # [C]: 0 where a new row lands
            return super()._verify_attention(i, qg, k3, v3, k_cache * keep[:, None], v_cache * keep, mask,
                                             scatter, g)

    spec = types.SimpleNamespace(fused_qkv=False, qk_norm=False)
    cls = Masked if layout == "masked" else DecoderForExport
    m = cls(model, spec, cache_length=CACHE, with_logits=True, all_logits=layout != "decode", window=window).eval()
    if layout == "inexact":  # the generic attention with the causal mask over the new rows
        m._verify_mask = lambda input_pos, sliding=None: m._mask(input_pos, input_pos.shape[0], sliding)
        m._scatter = lambda input_pos: None
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--verify", default="2,8", help="verify lengths T (comma-separated)")
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--position", type=int, default=200)
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    import litert_torch
    import torch
    import transformers
    from ai_edge_litert.interpreter import Interpreter

    from edgellm.convert.decoder import _sample

    config = transformers.LlamaConfig(hidden_size=576, intermediate_size=64, num_attention_heads=9,
                                      num_key_value_heads=3, head_dim=64, num_hidden_layers=30, vocab_size=512,
                                      max_position_embeddings=2048)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).eval()
    runners = {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (layout, window, t) in variants([int(x) for x in args.verify.split(",")], args.window).items():
            module = build(model, layout, window)
            path = Path(tmp) / f"{name}.tflite"
            with torch.no_grad():
                litert_torch.convert(module, sample_kwargs=_sample(module, t)).export(str(path))
            runner = Interpreter(model_path=str(path), num_threads=1).get_signature_runner()
            feed = {"tokens": np.full((1, t), 5, np.int32),
                    "input_pos": np.arange(args.position, args.position + t, dtype=np.int32)}
            for key, d in runner.get_input_details().items():
                if key not in feed:
                    feed[key] = rng.standard_normal(d["shape"]).astype(np.float32)
            runner(**feed)
            runners[name] = (runner, feed)
    ms = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, (runner, feed) in runners.items():
            start = time.perf_counter()
            for _ in range(20):
                runner(**feed)
            ms[name].append((time.perf_counter() - start) / 20 * 1e3)
    for name, values in ms.items():
        print(f"{name:<16} median {np.median(values):6.2f} ms  min {min(values):6.2f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
