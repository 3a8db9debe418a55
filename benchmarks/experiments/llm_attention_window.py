"""What a decode step's attention costs per cache length, and what decode_<W> signatures save.
Experiment, see benchmarks/experiments/README.md; figures: docs/llm-export.md, "Decode windows".

    python benchmarks/experiments/llm_attention_window.py [--cache 1024] [--windows 128,256,512] [--threads 1,2] [--runs 100]

Attention only, with SmolLM2-135M's shapes (30 layers, 3 KV heads, 3 query heads per KV head, head dim 64) and
edgellm's cache layout (K [kvh, C, D], V [kvh, D, C], both batch matmuls reading the cache as the transposed
right-hand side): softmax(q K^T) V per layer, summed. One graph reads the whole cache; one per window slices the
first W positions first, as DecoderForExport(window=W) does. Converted with litert-torch, timed with the LiteRT
Interpreter and XNNPACK (best of 5 blocks of --runs invokes). XNNPACK packs a non-constant right-hand side on
every call, so the cost follows the positions read, not the positions filled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LAYERS, KV_HEADS, GROUP, HEAD_DIM = 30, 3, 3, 64


def attention_graph(cache: int, window: int, path: Path) -> Path:
    import litert_torch
    import torch

    class Attention(torch.nn.Module):
        def forward(self, q, kv):
            out = 0
            for i in range(LAYERS):
                k, v = kv[f"k{i}"], kv[f"v{i}"]
                if window < cache:
                    k, v = k[:, :window, :], v[:, :, :window]
                p = torch.softmax(torch.matmul(q, k.transpose(1, 2)), -1)
                out = out + torch.matmul(p, v.transpose(1, 2))
            return out

    kv = {f"k{i}": torch.randn(KV_HEADS, cache, HEAD_DIM) for i in range(LAYERS)}
    kv |= {f"v{i}": torch.randn(KV_HEADS, HEAD_DIM, cache) for i in range(LAYERS)}
    sample = {"q": torch.randn(KV_HEADS, GROUP, HEAD_DIM), "kv": kv}
    path.write_bytes(bytes(litert_torch.convert(Attention().eval(), sample_kwargs=sample).model_content()))
    return path


def time_graph(path: Path, threads: int, runs: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    runner = interpreter.get_signature_runner()
    rng = np.random.default_rng(0)
    runner(**{n: rng.standard_normal(d["shape"]).astype(np.float32) for n, d in runner.get_input_details().items()})
    invoke = interpreter._interpreter.Invoke  # noqa: SLF001  the inputs stay as set; only the invoke is timed
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(runs):
            invoke(0)
        best = min(best, (time.perf_counter() - t) / runs)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=int, default=1024)
    p.add_argument("--windows", default="128,256,512")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=100)
    args = p.parse_args(argv)
    windows = [int(w) for w in args.windows.split(",")]
    with tempfile.TemporaryDirectory(prefix="edgellm-attn-") as tmp:
        graphs = {w: attention_graph(args.cache, w, Path(tmp) / f"w{w}.tflite") for w in [args.cache, *windows]}
        for threads in (int(t) for t in args.threads.split(",")):
            full = time_graph(graphs[args.cache], threads, args.runs)
            print(f"threads {threads}: cache {args.cache}, whole cache: {full * 1e3:6.2f} ms per step "
                  f"(30 layers of attention)", flush=True)
            for w in windows:
                t = time_graph(graphs[w], threads, args.runs)
                print(f"threads {threads}: window {w:>5}: {t * 1e3:6.2f} ms per step ({t / full:.2f}x)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
