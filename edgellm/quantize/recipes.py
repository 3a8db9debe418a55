"""Quantization recipes as data.

One table drives everything a recipe decides: the CLI name users know, the file-name suffix, whether
calibration data is needed, the ai-edge-quantizer recipe that implements it, and (in validate/) its tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from edgellm.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Recipe:
    name: str  # CLI / API name
    suffix: str  # file-name suffix, e.g. model_int8.tflite
    description: str
    needs_calibration: bool = False
    # ai-edge-quantizer recipe (a list of op configs, its JSON format); None = the float model as converted.
    aeq_recipe: tuple[Mapping[str, Any], ...] | None = None


def _all_ops(algorithm: str, weight: dict[str, Any], **op_config: Any) -> tuple[Mapping[str, Any], ...]:
    return ({"regex": ".*", "operation": "*", "algorithm_key": algorithm,
             "op_config": {"weight_tensor_config": weight, **op_config}},)


RECIPES: Mapping[str, Recipe] = MappingProxyType({r.name: r for r in (
    Recipe(name="fp32", suffix="fp32", description="float32 weights and activations, as converted"),
    Recipe(name="fp16", suffix="fp16",
           description="float16 weights, float32 activations (half the size; XNNPACK computes in fp32 on CPU)",
           aeq_recipe=_all_ops("float_casting", {"num_bits": 16, "dtype": "FLOAT"},
                               compute_precision="FLOAT", explicit_dequantize=True)),
    Recipe(name="int8-dynamic", suffix="int8_dynamic",
           description="int8 per-channel weights, activations quantized at run time (dynamic range)",
           aeq_recipe=_all_ops("min_max_uniform_quantize",
                               {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
                               compute_precision="INTEGER", explicit_dequantize=False)),
)})


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"quantization recipe {name!r} is unknown; available: {', '.join(RECIPES)}") from None
