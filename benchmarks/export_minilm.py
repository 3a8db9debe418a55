"""Export wall time and peak RSS for the real all-MiniLM-L6-v2 at each recipe (issue 3's figure).

Each export runs in its own process (`python -m edgellm export`), so its peak RSS is its own; a bare
`litert_torch.convert` of the same model is the reference point. Prints one table.

    python benchmarks/export_minilm.py [--recipes fp32,fp16,int8-dynamic] [--sequence-length 128]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_CONVERT = """
import torch, litert_torch
from transformers import AutoModel
from edgellm.convert.source import default_model_path
model = AutoModel.from_pretrained(default_model_path()).eval()
ids = torch.ones((1, {n}), dtype=torch.int32)
litert_torch.config.show_progress = False
litert_torch.convert(model, (), {{"input_ids": ids, "attention_mask": ids, "token_type_ids": ids * 0}})
"""


def run(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="fp32,fp16,int8-dynamic")
    parser.add_argument("--sequence-length", type=int, default=128)
    args = parser.parse_args()
    rows = [("bare litert_torch.convert", *run([sys.executable, "-c", BARE_CONVERT.format(n=args.sequence_length)]),
             None)]
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            out = Path(tmp) / recipe
            wall, rss, code = run([sys.executable, "-m", "edgellm", "export", "--quantize", recipe,
                                   "--sequence-length", str(args.sequence_length), str(out)])
            size = (out / "model.tflite").stat().st_size / 1e6 if code == 0 else None
            rows.append((f"edgellm export --quantize {recipe}", wall, rss, code, size))
    print(f"all-MiniLM-L6-v2, sequence length {args.sequence_length}, {os.cpu_count()} cores")
    print(f"{'command':<40} {'wall s':>7} {'peak RSS MB':>12} {'exit':>5} {'size MB':>8}")
    for name, wall, rss, code, size in rows:
        size_text = "-" if size is None else f"{size:.1f}"
        print(f"{name:<40} {wall:7.1f} {rss:12.0f} {code:5d} {size_text:>8}")


if __name__ == "__main__":
    main()
