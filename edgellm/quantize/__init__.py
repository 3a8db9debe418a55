"""Apply a recipe (recipes.RECIPES) to a float EdgeModel with ai-edge-quantizer."""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace

from edgellm.convert.model import EdgeModel
from edgellm.errors import ConfigError, UnsupportedOpError, require
from edgellm.quantize.io import IO_TYPES, output_ranges, quantize_outputs
from edgellm.quantize.recipes import RECIPES, Recipe, get_recipe, outlier_row

__all__ = ["IO_TYPES", "RECIPES", "QuantizationWarning", "Recipe", "get_recipe", "quantize"]


class QuantizationWarning(UserWarning):
    """Quantization goes on, but the float model was not converted the way the recipe is meant for."""


def quantize(model: EdgeModel, recipe: str, *, calibration=None, ranges=None, io_type: str = "float",
             accuracy_budget: float | None = None) -> EdgeModel:
    """A new EdgeModel with the recipe applied; the float model is left as it is.

    calibration: a CalibrationSet (edgellm.load_samples) for the static recipes (int8, int16x8); None uses the
                 default corpus calibration/en.txt tokenized with the model's own tokenizer.
    ranges: a RangeConfig (minmax by default; percentile or mse clip outliers).
    io_type: "float" (outputs dequantized for the caller) or "int8" (static recipes only: int8 outputs whose
             scale and zero point the manifest records; token-id inputs stay int32). See quantize/io.py.
    accuracy_budget: a mean cosine (to the float model, on calibration samples) the static graph must reach:
             instead of the architecture's outlier list, the fewest, most sensitive linear layers are kept at the
             recipe's fallback precision to meet it (quantize/sensitivity.py). Static recipes only.

    >>> q = quantize(convert("all-MiniLM-L6-v2"), "int8-dynamic")  # doctest: +SKIP
    >>> q.size_bytes / convert(...).size_bytes  # about 0.26  # doctest: +SKIP
    """
    spec = get_recipe(recipe)
    if model.recipe != "fp32":
        raise ConfigError(f"quantize expects a float32 model; this one is already {model.recipe!r}. "
                          "Quantize the output of convert()")
    if io_type not in IO_TYPES:
        raise ConfigError(f"io_type {io_type!r} is unknown; allowed: {', '.join(IO_TYPES)}")
    if io_type != "float" and not spec.needs_calibration:
        raise ConfigError(f"io_type {io_type!r} needs a calibrated recipe for the output ranges "
                          f"({', '.join(r.name for r in RECIPES.values() if r.needs_calibration)}); "
                          f"{recipe!r} is not one. Pick one of those or keep io_type 'float'")
    if accuracy_budget is not None and not spec.keeps_outliers_dynamic:
        raise ConfigError(f"accuracy_budget needs a static recipe with a fallback precision "
                          f"({', '.join(r.name for r in RECIPES.values() if r.keeps_outliers_dynamic)}); "
                          f"{recipe!r} is not one")
    if spec.aeq_recipe is None:
        return model
    if spec.bounded_layer_norm and "bounded_layer_norms" not in model.rewrites:
        warnings.warn(f"recipe {spec.name!r} is meant for a model converted with its LayerNorms bounded "
                      "(convert(..., ConvertConfig(bounded_layer_norm=True)), what `edgellm export` does for it); "
                      "this one was converted without, so int16 rounds some tokens' variance away (MiniLM int16x8: "
                      "mean cosine 0.998 instead of 0.999)", QuantizationWarning, stacklevel=2)
    quantizer = require("ai_edge_quantizer.quantizer", "convert")
    recipe_manager = require("ai_edge_quantizer.recipe_manager", "convert").RecipeManager
    rows = list(spec.aeq_recipe)
    # The architecture's outlier list, unless a budget measures instead or convert already scaled the outlier
    # channels (ConvertConfig.outlier_channel_ratio: those linear layers' outputs fit int8).
    if (spec.keeps_outliers_dynamic and model.source.arch.outlier_linears and accuracy_budget is None
            and "scaled_channels" not in model.rewrites):
        rows.append(outlier_row(model.source.arch.outlier_linears, spec.outlier_precision))
    details = {"recipe": spec.name, "description": spec.description, "tool": "ai-edge-quantizer",
               "aeq_recipe": rows}
    if model.rewrites:
        details["convert_rewrites"] = model.rewrites
    qsvs = None
    if spec.needs_calibration:
        from edgellm.calibrate import RangeConfig, load_samples
        from edgellm.quantize.calibration import calibrate, signature_samples

        # The range search targets the recipe's activation type: int8 asymmetric, int16 symmetric.
        ranges = replace(ranges or RangeConfig(), bits=spec.activation_bits, symmetric=spec.activation_bits == 16)
        if calibration is None:
            calibration = load_samples(None, str(model.source.path), sequence_length=model.sequence_length)
        if calibration.input_ids.shape[1] != model.sequence_length:
            raise ConfigError(f"calibration samples have sequence length {calibration.input_ids.shape[1]}, the "
                              f"model {model.sequence_length}; load them with sequence_length="
                              f"{model.sequence_length}")
        manager = recipe_manager()
        manager.load_quantization_recipe(copy.deepcopy(rows))
        routed = signature_samples(calibration, model.input_names, model.signatures)
        qsvs = calibrate(model.content, manager, routed, ranges=ranges)
        details["calibration"] = {**calibration.report.to_dict(), "ranges": ranges.to_dict()}

    def apply(extra_rows=()) -> bytes:
        # the float bytes themselves (read-only: the quantizer's arrays are views on them), not a bytearray copy
        q = quantizer.Quantizer(model.content)
        q.load_quantization_recipe(copy.deepcopy([*rows, *extra_rows]))
        try:
            result = q.quantize(calibration_result=qsvs, enable_progress_bar=False, enable_progress_report=False)
        except (RuntimeError, ValueError, KeyError) as e:
            raise UnsupportedOpError(f"ai-edge-quantizer could not apply {recipe!r}: "
                                     f"{str(e).strip().splitlines()[0]}; try another --quantize recipe, or --debug "
                                     "for the trace") from e
        return bytes(result.quantized_model)

    if accuracy_budget is not None:
        from edgellm.quantize.sensitivity import fit_budget, linear_layers
        from edgellm.validate import PER_POSITION_TASKS

        extra, fitted = fit_budget(apply, model.content, routed, budget=accuracy_budget,
                                   layers=linear_layers(model.content),
                                   fallback_row=lambda regex: outlier_row(regex, spec.outlier_precision),
                                   fallback=spec.outlier_precision, per_position=model.task in PER_POSITION_TASKS)
        rows.extend(extra)
        details["accuracy_budget"] = fitted.to_dict()
    content = apply()
    details["io_type"] = io_type
    if io_type == "int8":
        content = quantize_outputs(content, output_ranges(model.content, routed), "int8")
    else:
        content = quantize_outputs(content, {}, "float")
    return model.with_content(content, recipe=spec.name, quantization=details)


from edgellm._verbs import make_callable  # noqa: E402  (edgellm.quantize(...) calls quantize(); see _verbs.py)

make_callable(__name__)
