"""What exact verify attention costs, per layout, on SmolLM2-135M's attention shapes (3 KV heads x 3 query heads,
head dim 64, cache 256, verify_8, 30 layers with distinct caches), in LiteRT with XNNPACK at 1 thread:

    inexact  the earlier verify: the new rows after the cache, attention in one softmax over [C + T]
    scatter  edgellm's verify (convert/decoder/layers.py): new V rows put into a copy of the cache by a multiply, a
             product with a one-hot [T, C] and an add; the own key in a last column
    dus      the same, the V copy made by one DYNAMIC_UPDATE_SLICE (exact too; it clamps its start, so a runner
             would have to keep verify_<T> inside the cache: T <= C - position)

    python benchmarks/experiments/verify_scatter.py [--rounds 15]

Attention only (no projections, norms or MLP): the medians say what each layout adds per call, not a call's time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

KVH, G, T, D, C, LAYERS = 3, 3, 8, 64, 256, 30
NEG = -1e30


def module(layout: str):
    import torch
    from litert_torch.generative.custom_ops.dynamic_update_slice import dynamic_update_slice

    class Attention(torch.nn.Module):
        def forward(self, qg, k3, v3, k_cache, v_cache, input_pos):
            key = torch.arange(C, dtype=torch.int32)
            t = torch.arange(T, dtype=torch.int32)
            onehot = torch.stack([(input_pos[:, None] == key[None, :]).float()] * KVH)  # [kvh, T, C]
            keep = ((key < input_pos[:1]) | (key > input_pos[-1:])).float()
            own = torch.cat([(t[:, None] == t[None, :]).float()] * G)
            mask = torch.cat([torch.where(key[None, :] < input_pos[:, None], 0.0, NEG), torch.zeros(T, 1)], -1)
            causal = torch.triu(torch.full((T, T), NEG), diagonal=1)
            mask_inexact = torch.cat([torch.where(key[None, :] < input_pos[:1, None], 0.0, NEG).expand(T, C),
                                      causal], -1)
            caches = [(k_cache * (1 + 0.01 * i), v_cache * (1 + 0.01 * i)) for i in range(LAYERS)]
            out = qg
            for kc, vc in caches:
                q, k, v = out, k3 + out[:, :T] * 1e-3, v3 + out[:, :T] * 1e-3
                if layout == "inexact":
                    s = torch.cat([q @ kc.transpose(1, 2), q @ k.transpose(1, 2)], -1)
                    p = torch.softmax(s + torch.cat([mask_inexact] * G), -1)
                    o = torch.matmul(p[..., :C], vc.transpose(1, 2)) + torch.matmul(p[..., C:], v)
                else:
                    s_new = q @ k.transpose(1, 2)
                    s_cache = (q @ kc.transpose(1, 2)) * keep + s_new @ onehot
                    s = torch.cat([s_cache, (s_new * own).sum(-1, keepdim=True)], -1)
                    p = torch.softmax(s + torch.cat([mask] * G), -1)
                    if layout == "dus":
                        zero = torch.tensor(0, dtype=torch.int32)
                        v_all = dynamic_update_slice(vc, v.transpose(1, 2), [zero, zero, input_pos[0]])
                    else:
                        v_all = vc * keep + v.transpose(1, 2) @ onehot
                    o = torch.matmul(p[..., :C], v_all.transpose(1, 2)) + p[..., C:] * torch.cat([v] * G, 1)
                out = q + o * 1e-3
            return out

    return Attention().eval()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=15)
    args = p.parse_args(argv)
    import litert_torch
    import torch
    from ai_edge_litert.interpreter import Interpreter

    inputs = (torch.randn(KVH, G * T, D), torch.randn(KVH, T, D), torch.randn(KVH, T, D), torch.randn(KVH, C, D),
              torch.randn(KVH, D, C), torch.arange(60, 60 + T, dtype=torch.int32))
    runners = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("inexact", "scatter", "dus"):
            path = Path(tmp) / f"{layout}.tflite"
            litert_torch.convert(module(layout), inputs).export(str(path))
            runner = Interpreter(model_path=str(path), num_threads=1).get_signature_runner()
            feed = {name: (np.arange(60, 60 + T, dtype=np.int32) if d["dtype"] == np.int32
                           else np.random.default_rng(0).standard_normal(d["shape"]).astype(np.float32))
                    for name, d in runner.get_input_details().items()}
            runner(**feed)
            runners[layout] = (runner, feed)
    ms = {layout: [] for layout in runners}
    for _ in range(args.rounds):
        for layout, (runner, feed) in runners.items():
            start = time.perf_counter()
            for _ in range(10):
                runner(**feed)
            ms[layout].append((time.perf_counter() - start) / 10 * 1e3)
    for layout, values in ms.items():
        print(f"{layout:<8} median {np.median(values):5.2f} ms  min {min(values):5.2f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
