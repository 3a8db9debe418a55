"""Activation ranges for the static recipes (int8, int16x8), measured on the float flatbuffer.

ai-edge-quantizer's calibrator runs every sample through the float model and records each activation tensor's
range. Its default update is a moving average of per-sample ranges, which clipped MiniLM's ranges badly
(15% error measured); edgellm uses the plain running min/max instead (``qsv_utils.min_max_update``), and, when
``RangeConfig.kind`` is percentile or mse, re-estimates each range from a histogram of every value seen.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgellm.calibrate import CalibrationSet, RangeConfig, RangeEstimator, to_qsvs
from edgellm.errors import CalibrationError, require


def signature_samples(samples: CalibrationSet, input_names: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
    """One {input name: int32 [1, L]} dict per sample, for the model's own inputs (zeros where the tokenizer
    produced no token_type_ids)."""
    arrays = samples.inputs()
    rows = []
    for i in range(len(samples)):
        rows.append({name: (arrays[name][i:i + 1] if name in arrays
                            else np.zeros_like(samples.input_ids[i:i + 1])).astype(np.int32)
                     for name in input_names})
    return rows


def calibrate(content: bytes, recipe_manager: Any, rows: list[dict[str, np.ndarray]], *,
              signature: str, ranges: RangeConfig = RangeConfig()) -> dict[str, dict[str, np.ndarray]]:
    """ai-edge-quantizer calibration result {tensor name: {"min": array, "max": array}} for ``content``."""
    calibrator = require("ai_edge_quantizer.calibrator", "convert")
    qsv_utils = require("ai_edge_quantizer.utils.qsv_utils", "convert")
    calib = calibrator.Calibrator(content, num_threads=os.cpu_count() or 1,
                                  qsv_update_func=qsv_utils.min_max_update)
    calib.calibrate({signature: rows}, recipe_manager)
    qsvs = dict(calib.get_model_qsvs())
    if ranges.kind != "minmax":
        qsvs.update(_histogram_ranges(content, rows, signature, set(qsvs), ranges))
    for name, qsv in qsvs.items():
        if not (np.all(np.isfinite(qsv["min"])) and np.all(np.isfinite(qsv["max"]))):
            raise CalibrationError(f"tensor {name!r} saw NaN or inf during calibration; check the calibration "
                                   "samples and the float model (run the fp32 export's validation first)")
    return qsvs


def _histogram_ranges(content: bytes, rows, signature: str, names: set[str], ranges: RangeConfig):
    """Percentile / MSE ranges from every value of every calibrated tensor (a second pass over the samples)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without delegates: tensors inside an XNNPACK partition are not preserved.
    interpreter = Interpreter(model_content=content, experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                              num_threads=os.cpu_count() or 1)
    runner = interpreter.get_signature_runner(signature)
    tensors = [(d["name"], d["index"]) for d in interpreter.get_tensor_details() if d["name"] in names]
    estimator = RangeEstimator(ranges)
    for row in rows:
        runner(**row)
        for name, index in tensors:
            value = interpreter.get_tensor(index)
            if np.issubdtype(value.dtype, np.floating):
                estimator.update(name, value)
    return to_qsvs(estimator.finalize())
