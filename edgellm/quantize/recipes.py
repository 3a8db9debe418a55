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
    activation_bits: int = 32  # 8 or 16 for the static recipes: the calibrated range's target bit width
    # Append a dynamic-range row for the architecture's `outlier_linears` (archs/): they ruin static ranges.
    keeps_outliers_dynamic: bool = False
    # ai-edge-quantizer recipe (a list of op configs, its JSON format); None = the float model as converted.
    aeq_recipe: tuple[Mapping[str, Any], ...] | None = None


_INT8_CHANNELWISE = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}


def _all_ops(algorithm: str, weight: dict[str, Any], **op_config: Any) -> tuple[Mapping[str, Any], ...]:
    return ({"regex": ".*", "operation": "*", "algorithm_key": algorithm,
             "op_config": {"weight_tensor_config": weight, **op_config}},)


def _static(operation: str, activation_bits: int) -> Mapping[str, Any]:
    activation = {"num_bits": activation_bits, "symmetric": activation_bits == 16, "granularity": "TENSORWISE",
                  "dtype": "INT"}
    return {"regex": ".*", "operation": operation, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"activation_tensor_config": activation, "weight_tensor_config": _INT8_CHANNELWISE,
                          "compute_precision": "INTEGER", "explicit_dequantize": False}}


def dynamic_row(regex: str, operation: str = "FULLY_CONNECTED") -> Mapping[str, Any]:
    """Dynamic-range int8 for the ops matching ``regex`` (appended after a recipe's rows, so it wins)."""
    return {"regex": regex, "operation": operation, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"weight_tensor_config": _INT8_CHANNELWISE, "compute_precision": "INTEGER",
                          "explicit_dequantize": False}}


# Embedding tables: int8 weights (the 30522 x 384 word table is half of MiniLM's float bytes).
_EMBEDDINGS_INT8 = {"regex": ".*", "operation": "EMBEDDING_LOOKUP", "algorithm_key": "min_max_uniform_quantize",
                    "op_config": {"weight_tensor_config": _INT8_CHANNELWISE, "compute_precision": "FLOAT",
                                  "explicit_dequantize": True}}


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
    Recipe(name="int8", suffix="int8", needs_calibration=True, activation_bits=8, keeps_outliers_dynamic=True,
           description="static int8: int8 weights and calibrated int8 activations for every linear layer "
                       "(the architecture's outlier-prone residual projections stay dynamic-range int8), int8 "
                       "embedding tables; element-wise ops (LayerNorm, softmax, GELU) stay float because "
                       "XNNPACK has no int8 kernels for them and each one would split the graph",
           aeq_recipe=(_static("FULLY_CONNECTED", 8), _EMBEDDINGS_INT8)),
    Recipe(name="int16x8", suffix="int16x8", needs_calibration=True, activation_bits=16, keeps_outliers_dynamic=True,
           description="int16 activations, int8 weights on every supported op (the TFLite 16x8 scheme; the "
                       "architecture's outlier-prone residual projections stay dynamic-range int8), int8 embedding "
                       "tables; accurate, but XNNPACK runs no int16 kernels, so it runs on the reference kernels",
           aeq_recipe=(*_all_ops("min_max_uniform_quantize", _INT8_CHANNELWISE,
                                 activation_tensor_config={"num_bits": 16, "symmetric": True,
                                                           "granularity": "TENSORWISE", "dtype": "INT"},
                                 compute_precision="INTEGER", explicit_dequantize=False), _EMBEDDINGS_INT8)),
)})


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"quantization recipe {name!r} is unknown; available: {', '.join(RECIPES)}") from None
