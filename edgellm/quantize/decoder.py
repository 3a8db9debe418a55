"""An LLM recipe's PyTorch-side weight transforms, applied to the float HF model before it is converted.

    smooth.py   SmoothQuant: activation outliers migrated into the weights (int8-dynamic; int4 by powers of two)
    int4.py     4-bit grids: a GGUF file's own Q4_0/Q4_1 blocks, read back exactly by ai-edge-quantizer
    gptq.py     GPTQ grids for float weights (int4 from a HF folder)

``prepare_weights`` decides which apply (``smooth`` None: where it was measured to help) and returns the module to
trace and what the manifest records. ``edgellm.quantize.quantize`` then applies the recipe to the flatbuffer.
"""

from __future__ import annotations

from typing import Any

from edgellm.errors import ConfigError
from edgellm.quantize.recipes import get_recipe
from edgellm.quantize.smooth import INT4_ALPHA, SMOOTH_MODEL_TYPES, SMOOTH_RECIPES, SmoothConfig, smooth_decoder, \
    smoothing_calibration


def check_smoothing(recipe: str, smooth: bool | None, smooth_alpha: float | None) -> None:
    """The smoothing options against the recipe (ConfigError), before any work."""
    if smooth_alpha is not None:
        SmoothConfig(alpha=smooth_alpha)  # ConfigError unless a number in [0, 1]
        if smooth is False:
            raise ConfigError("--smooth-alpha sets the alpha of smoothing, which --no-smooth turns off: drop one")
    if (smooth or smooth_alpha is not None) and recipe not in SMOOTH_RECIPES:
        raise ConfigError(f"smooth migrates activation scale for {' and '.join(SMOOTH_RECIPES)}; this export is "
                          f"{recipe!r}: drop --smooth / --smooth-alpha or pass --quantize int8-dynamic")


def prepare_weights(reference, source, tokenizer, *, recipe: str, smooth: bool | None = None,
                    smooth_alpha: float | None = None) -> tuple[Any, dict[str, Any]]:
    """Transform ``reference`` (the float HF causal LM, in place) for ``recipe``.

    Returns (the module to trace instead of ``reference``, or None; the manifest's extra ``quantization`` keys:
    ``int4`` and ``smoothing`` where they apply).
    """
    int4_block = get_recipe(recipe).int4_block
    asked = smooth if smooth is not None else (True if smooth_alpha is not None else None)
    if asked and source.model_type not in SMOOTH_MODEL_TYPES:
        raise ConfigError(f"--smooth supports {', '.join(SMOOTH_MODEL_TYPES)}, not {source.model_type!r}; "
                          "export without --smooth")
    grids, float_layers = {}, []
    if int4_block:
        from edgellm.quantize.gptq import GptqConfig, gptq_layers
        from edgellm.quantize.int4 import check_int4_blocks, gguf_module_grids, recovered_module_grids

        check_int4_blocks(reference)
        # a GGUF file's own 4-bit grids (raw blocks); a HF folder's weights where they are dequantized Q4_1
        grids = gguf_module_grids(reference, source.path) if source.gguf else recovered_module_grids(reference)
        float_layers = gptq_layers(reference, GptqConfig(), exclude=list(grids))
    if asked is None:  # the default: where it applies and was measured (int4: every linear on a file's grid)
        asked = source.model_type in SMOOTH_MODEL_TYPES and (
            recipe == "int8-dynamic" or (recipe == "int4" and not float_layers))
    calibration = chunks = None
    if asked or float_layers:
        # the calibration text of smoothing and GPTQ (plain text and chat), never the held text; int4 smooths with
        # powers of two per block of 32 inputs, which leave 4-bit grids exact
        alpha = smooth_alpha if smooth_alpha is not None else INT4_ALPHA if int4_block else SmoothConfig.alpha
        calibration, chunks = smoothing_calibration(tokenizer, SmoothConfig(alpha=alpha, block=int4_block or 1),
                                                    reference)
    extra: dict[str, Any] = {}
    if asked:
        # in place: validation compares with the model loaded again from the source, not this one
        factors: dict[str, dict[str, Any]] = {}
        smoothing = smooth_decoder(reference, chunks, calibration, factors)
        if smoothing:
            extra["smoothing"] = smoothing
        # the same factors on the grids: their ints stay the file's own
        grids = {name: grid.scaled(**factors.get(name, {})) for name, grid in grids.items()}
    module = None
    if int4_block:
        from edgellm.quantize.gptq import gptq_decoder
        from edgellm.quantize.int4 import prepare_int4

        gptq = None
        if float_layers:  # float weights left: GPTQ puts them on grids (on the smoothed model's activations)
            gptq = {**gptq_decoder(reference, chunks, exclude=list(grids)), "calibration": calibration.calibration}
        module, int4 = prepare_int4(reference, grids)
        if gptq is not None:
            int4["gptq"] = gptq
        extra = {"int4": int4, **extra}
    return module, extra
