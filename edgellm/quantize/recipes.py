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
    # How those outlier rows run: "dynamic" (int8 weights, activations quantized per run: a float op) or "int16"
    # (static int16 activations x int8 weights, TFLite's 16x8 FC: stays integer, for integer-only graphs).
    outlier_precision: str = "dynamic"
    # ai-edge-quantizer recipe (a list of op configs, its JSON format); None = the float model as converted.
    aeq_recipe: tuple[Mapping[str, Any], ...] | None = None
    # 4-bit blockwise linear layers in blocks of this many inputs (text-generation only): before conversion the
    # decoder export splits a GGUF file's Q4_0/Q4_1 weights into `grid` + `block_offset` layers that keep the
    # file's own 4-bit numbers (edgellm/convert/decoder/int4.py); None = no 4-bit layers.
    int4_block: int | None = None
    # Convert with every LayerNorm traced as convert.encoder.BoundedLayerNorm (ConvertConfig.bounded_layer_norm):
    # with int16 activations, nn.LayerNorm's squared deviations span the outliers' range and one per-tensor
    # scale rounds the other tokens' variance away.
    bounded_layer_norm: bool = False
    # Convert with the linear layers whose output channels peak above this many times their median channel's
    # split into a linear layer and a per-channel scale (ConvertConfig.outlier_channel_ratio): their int8
    # outputs then need no int16 (16x8 FULLY_CONNECTED runs on TFLite's reference kernel), and the
    # architecture's outlier list is not applied. None = no scaling (every recipe today).
    outlier_channel_ratio: float | None = None
    # Convert with every linear layer's input range migrated into its weight at this alpha
    # (ConvertConfig.smooth_alpha, convert.encoder.smooth_linear_inputs); None = as loaded.
    smooth_alpha: float | None = None


_INT8_CHANNELWISE = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}


def _all_ops(algorithm: str, weight: dict[str, Any], **op_config: Any) -> tuple[Mapping[str, Any], ...]:
    return ({"regex": ".*", "operation": "*", "algorithm_key": algorithm,
             "op_config": {"weight_tensor_config": weight, **op_config}},)


def _static(operation: str, activation_bits: int, regex: str = ".*") -> Mapping[str, Any]:
    activation = {"num_bits": activation_bits, "symmetric": activation_bits == 16, "granularity": "TENSORWISE",
                  "dtype": "INT"}
    return {"regex": regex, "operation": operation, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"activation_tensor_config": activation, "weight_tensor_config": _INT8_CHANNELWISE,
                          "compute_precision": "INTEGER", "explicit_dequantize": False}}


def outlier_row(regex: str, precision: str) -> Mapping[str, Any]:
    """The row for a recipe's outlier linears (Recipe.outlier_precision): dynamic-range, or static int16 x int8."""
    return dynamic_row(regex) if precision == "dynamic" else _static("FULLY_CONNECTED", 16, regex)


def dynamic_row(regex: str, operation: str = "FULLY_CONNECTED") -> Mapping[str, Any]:
    """Dynamic-range int8 for the ops matching ``regex`` (appended after a recipe's rows, so it wins)."""
    return {"regex": regex, "operation": operation, "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"weight_tensor_config": _INT8_CHANNELWISE, "compute_precision": "INTEGER",
                          "explicit_dequantize": False}}


def _int4_row(regex: str, algorithm: str) -> Mapping[str, Any]:
    """4-bit blockwise (block 32) weights on FULLY_CONNECTED, activations int8 at run time: XNNPACK's qd8 x qb4w
    kernels, the way it runs blockwise int4 fastest (a float-activation int4 FC has no XNNPACK kernel)."""
    weight = {"num_bits": 4, "symmetric": True, "granularity": "BLOCKWISE_32", "dtype": "INT"}
    return {"regex": regex, "operation": "FULLY_CONNECTED", "algorithm_key": algorithm,
            "op_config": {"weight_tensor_config": weight, "compute_precision": "INTEGER",
                          "explicit_dequantize": False}}


# int4 rows, in order (a later row wins where regexes overlap):
_INT4 = (
    # 1. every weight int8 per channel, activations dynamic (the int8-dynamic recipe): the embedding table and
    #    whatever the rows below do not claim.
    *_all_ops("min_max_uniform_quantize", _INT8_CHANNELWISE, compute_precision="INTEGER", explicit_dequantize=False),
    # 2. linear layers: the export has already put their float weights on 4-bit block grids with GPTQ
    #    (convert/decoder/gptq.py: ai-edge-quantizer's GPTQ with Hessians from the PyTorch model on calibration text);
    #    dequantized_weight_recovery reads those scales and ints back exactly. SmolLM2 from float weights
    #    (benchmarks/experiments/llm_int4_float.py, perplexity ratio / top-1 vs PyTorch): GPTQ 1.135 / 79.7%; OCTAV's clip with
    #    round to nearest, this row before GPTQ, 1.269 / 74.2%.
    _int4_row(".*", "dequantized_weight_recovery"),
    # 3. the layers that hurt most at 4 bits stay int8, a budget of 25% of the decoder's linear weights: on
    #    SmolLM2-135M (PyTorch simulation, 512 held tokens, perplexity ratio / top-1 vs float) all 4-bit with a
    #    clip 1.31 / 71%; down_proj int8 1.19 / 75%; any other single kind 1.26-1.31. (down_proj + v_proj, 1.17 /
    #    81%, cannot be selected: the converter fuses q/k/v and gate/up into one layer each.) GPTQ leaves them float.
    dynamic_row(".*down_proj.*"),
    # 4. a GGUF file's own grid (convert/decoder/int4.py): dequantized_weight_recovery finds its scales and ints.
    _int4_row(".*Linear_grid;.*", "dequantized_weight_recovery"),
    # 5. the per-block offsets C [out, in / 32] of Q4_1 weights stay float (1/32 of the weight, exact).
    {"regex": ".*Linear_block_offset;.*", "operation": "FULLY_CONNECTED", "algorithm_key": "no_quantize",
     "op_config": {}},
    # 6. the LM head int8 per channel (it is the embedding table when tied; a GGUF file often stores it Q8_0).
    dynamic_row(".*(lm_head|logits).*"),
)


# Embedding tables: int8 weights (the 30522 x 384 word table is half of MiniLM's float bytes).
_EMBEDDINGS_INT8 = {"regex": ".*", "operation": "EMBEDDING_LOOKUP", "algorithm_key": "min_max_uniform_quantize",
                    "op_config": {"weight_tensor_config": _INT8_CHANNELWISE, "compute_precision": "FLOAT",
                                  "explicit_dequantize": True}}
# The same tables read by a hybrid lookup (int8 table in, float rows out): no DEQUANTIZE op in the graph.
_EMBEDDINGS_INT8_LOOKUP = {**_EMBEDDINGS_INT8, "op_config": {**_EMBEDDINGS_INT8["op_config"],
                                                             "compute_precision": "INTEGER",
                                                             "explicit_dequantize": False}}


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
           smooth_alpha=0.75,
           description="static int8: int8 weights and calibrated int8 activations for every linear layer "
                       "(the architecture's outlier-prone residual projections stay dynamic-range int8), each "
                       "linear layer's input range smoothed into its weight, int8 embedding tables; element-wise "
                       "ops (LayerNorm, softmax, GELU) stay float because XNNPACK has no int8 kernels for them and "
                       "each one would split the graph",
           aeq_recipe=(_static("FULLY_CONNECTED", 8), _EMBEDDINGS_INT8)),
    # Measured on all-MiniLM-L6-v2 (benchmarks/full_integer.py, 60 held-out sentences): 0.9984 with nn.LayerNorm,
    # whose variance input (squared deviations up to 196^2) rounds the other tokens' variance on one int16 scale;
    # 0.9992 with only LayerNorm's MEAN left float; BoundedLayerNorm: see the README.
    Recipe(name="int16x8", suffix="int16x8", needs_calibration=True, activation_bits=16, keeps_outliers_dynamic=True,
           bounded_layer_norm=True,
           description="int16 activations, int8 weights on every supported op (the TFLite 16x8 scheme; the "
                       "architecture's outlier-prone residual projections stay dynamic-range int8), int8 embedding "
                       "tables, LayerNorm traced in a bounded-range form; accurate, but XNNPACK runs no int16 "
                       "kernels, so it runs on the reference kernels",
           aeq_recipe=(*_all_ops("min_max_uniform_quantize", _INT8_CHANNELWISE,
                                 activation_tensor_config={"num_bits": 16, "symmetric": True,
                                                           "granularity": "TENSORWISE", "dtype": "INT"},
                                 compute_precision="INTEGER", explicit_dequantize=False), _EMBEDDINGS_INT8)),
    # Measured on all-MiniLM-L6-v2 (benchmarks/full_integer.py): every op int8 gives cosine 0.74; int8 matmuls
    # with int16 element-wise ops 0.944; the outlier projections at 16x8 on top 0.993. Softmax and GELU in int8
    # (LayerNorm and residual int16) drop it to 0.989 and split XNNPACK into 55 partitions. The 16x8
    # FULLY_CONNECTEDs are 60% of its CPU time (TFLite's reference kernel); outlier_channel_ratio=8 makes them
    # int8 at half the time but below the 0.99 target (README), so it is not set here.
    # Smoothed inputs (smooth_alpha; the MULs by 1/s run int16): held-out cosine 0.9946 -> 0.9972
    # (benchmarks/full_integer.py).
    Recipe(name="int8-full", suffix="int8_full", needs_calibration=True, activation_bits=8,
           keeps_outliers_dynamic=True, outlier_precision="int16", bounded_layer_norm=True, smooth_alpha=0.75,
           description="integer-only graph for NPUs, DSPs and micro runtimes: int8 activations x int8 weights for "
                       "every linear layer and attention matmul, int16 activations for the element-wise ops "
                       "(LayerNorm, traced in a bounded-range form, softmax, GELU, residual adds) and the "
                       "architecture's outlier projections (16x8), int8 embedding tables; ops without an integer "
                       "kernel (the mask CAST, the hybrid embedding lookups, a Normalize ABS) stay float and are "
                       "listed in edgellm.json (graph.float_ops). Slower than int8 on CPU: XNNPACK runs no int16 "
                       "kernels",
           aeq_recipe=(_static("*", 16), _static("FULLY_CONNECTED", 8), _static("BATCH_MATMUL", 8),
                       _EMBEDDINGS_INT8_LOOKUP)),
    Recipe(name="int4", suffix="int4", int4_block=32,
           description="text-generation: 4-bit blockwise (block 32) weights for the decoder's linear layers, "
                       "activations int8 at run time; a GGUF file's own Q4_0/Q4_1 numbers are kept exactly (Q4_1's "
                       "per-block minimum as a float offset on block sums), float weights get GPTQ grids calibrated "
                       "on the built-in corpus, with down_proj int8; embedding table and LM head int8 per channel",
           aeq_recipe=_INT4),
)})


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"quantization recipe {name!r} is unknown; available: {', '.join(RECIPES)}") from None
