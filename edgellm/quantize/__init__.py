"""Apply a recipe (recipes.RECIPES) to a float EdgeModel with ai-edge-quantizer."""

from __future__ import annotations

import copy

from edgellm.convert.model import EdgeModel
from edgellm.errors import ConfigError, UnsupportedOpError, require
from edgellm.quantize.recipes import RECIPES, Recipe, get_recipe

__all__ = ["RECIPES", "Recipe", "get_recipe", "quantize"]


def quantize(model: EdgeModel, recipe: str) -> EdgeModel:
    """A new EdgeModel with the recipe applied; the float model is left as it is.

    >>> q = quantize(convert("all-MiniLM-L6-v2"), "int8-dynamic")  # doctest: +SKIP
    >>> q.size_bytes / convert(...).size_bytes  # about 0.26  # doctest: +SKIP
    """
    spec = get_recipe(recipe)
    if model.recipe != "fp32":
        raise ConfigError(f"quantize expects a float32 model; this one is already {model.recipe!r}. "
                          "Quantize the output of convert()")
    if spec.aeq_recipe is None:
        return model
    quantizer = require("ai_edge_quantizer.quantizer", "convert")
    q = quantizer.Quantizer(bytearray(model.content))
    q.load_quantization_recipe(copy.deepcopy(list(spec.aeq_recipe)))
    try:
        result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    except (RuntimeError, ValueError, KeyError) as e:
        raise UnsupportedOpError(f"ai-edge-quantizer could not apply {recipe!r}: {str(e).strip().splitlines()[0]}; "
                                 "try another --quantize recipe, or --debug for the trace") from e
    return model.with_content(bytes(result.quantized_model), recipe=spec.name,
                              quantization={"recipe": spec.name, "description": spec.description,
                                            "tool": "ai-edge-quantizer", "aeq_recipe": list(spec.aeq_recipe)})
