"""How much memory an LLM export needs, estimated from the config before any weight loads, and the check that
refuses an export the machine cannot hold (a one-line error naming the size, instead of the kernel's OOM killer).

The estimate is a fixed part plus a multiple of the model's fp32 weight bytes, by recipe, fitted to the peaks
`benchmarks/llm_scale.py` and `benchmarks/llm_export_time.py` measured (int8-dynamic: 3.08 GB for SmolLM2-135M's
0.538 GB of fp32 weights, 6.46 GB for a 0.48B llama's 1.905 GB: 1.75 GB + 2.47x), with a margin (2.0 GB + 2.8x).
The fixed part is the imports (torch, transformers, litert-torch, ai-edge-quantizer: 0.6 GB) and what does not grow
with the weights (the quiz's batched logits, the validation runner). fp32 keeps float weights through quantizing
and validation (SmolLM2: 1.3x int8-dynamic's share above the imports). See docs/llm-export.md, "Memory phases of
the export".
"""

from __future__ import annotations

from pathlib import Path

from edgellm.errors import InsufficientMemoryError

FIXED_BYTES = 2_000_000_000  # the imports and what does not grow with the model
# peak above FIXED_BYTES, per fp32 weight byte
PER_WEIGHT_BYTE = {"fp32": 3.8, "fp16": 3.8, "int8-dynamic": 2.8, "int4": 2.8}
_DEFAULT_PER_WEIGHT_BYTE = 3.8


def parameter_count(config: dict) -> int:
    """Parameters of the causal LM ``config`` describes (a config.json dict), counted on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {k: v for k, v in config.items() if k not in ("model_type", "transformers_version")}
    hf_config = AutoConfig.for_model(config["model_type"], **fields)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


def estimate_peak_bytes(parameters: int, recipe: str) -> int:
    """The export's peak RSS, about, for a model of ``parameters`` exported with ``recipe``."""
    return int(FIXED_BYTES + PER_WEIGHT_BYTE.get(recipe, _DEFAULT_PER_WEIGHT_BYTE) * 4 * parameters)


def available_bytes() -> int | None:
    """Memory this process can still take: MemAvailable, capped by a cgroup (container) limit; None if unknown."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    available = next((int(line.split()[1]) * 1024 for line in meminfo.splitlines()
                      if line.startswith("MemAvailable:")), None)
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max" and available is not None:
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def check_memory(config: dict, recipe: str, *, name: str, refuse: bool = True,
                 available: int | None = None) -> int | None:
    """The estimated peak in bytes (None when transformers cannot build the config on the meta device: loading
    reports that itself); with ``refuse``, InsufficientMemoryError when it exceeds ``available`` (default: the
    memory available now)."""
    try:
        parameters = parameter_count(config)
    except Exception:  # noqa: BLE001 -- the estimate must never stop an export that would run
        return None
    needed = estimate_peak_bytes(parameters, recipe)
    if not refuse:
        return needed
    available = available_bytes() if available is None else available
    if available is not None and needed > available:
        raise InsufficientMemoryError(
            f"exporting {name} ({parameters / 1e9:.2f}B parameters, {recipe}) needs about {needed / 1e9:.1f} GB of "
            f"memory at its peak; {available / 1e9:.1f} GB is available. Free memory or export on a machine with "
            f"more (pass --no-memory-check to try anyway)")
    return needed
