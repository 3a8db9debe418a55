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


def signature_samples(samples: CalibrationSet, input_names: tuple[str, ...],
                      signatures: tuple[tuple[str, int], ...]) -> dict[str, list[dict[str, np.ndarray]]]:
    """{signature: [{input name: int32 [1, L]}, ...]}: each sample goes to the shortest signature that holds its
    real tokens, as at run time (zeros where the tokenizer produced no token_type_ids). A signature no sample
    fits gets every sample cut to its length, so each has calibrated ranges."""
    arrays = samples.inputs()
    lengths = samples.attention_mask.sum(axis=1)
    routed: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name, _ in signatures}

    def row(i: int, length: int) -> dict[str, np.ndarray]:
        return {name: (arrays[name][i:i + 1, :length] if name in arrays
                       else np.zeros_like(samples.input_ids[i:i + 1, :length])).astype(np.int32)
                for name in input_names}

    for i, real in enumerate(lengths):
        name, length = next((s for s in signatures if s[1] >= real), signatures[-1])
        routed[name].append(row(i, length))
    for name, length in signatures:
        if not routed[name]:
            routed[name] = [row(i, length) for i in range(len(samples))]
    return routed


def calibrate(content: bytes, recipe_manager: Any, rows: dict[str, list[dict[str, np.ndarray]]], *,
              ranges: RangeConfig = RangeConfig()) -> dict[str, dict[str, np.ndarray]]:
    """ai-edge-quantizer calibration result {tensor name: {"min": array, "max": array}} for ``content``;
    ``rows`` are each signature's samples (signature_samples)."""
    calibrator = require("ai_edge_quantizer.calibrator", "convert")
    qsv_utils = require("ai_edge_quantizer.utils.qsv_utils", "convert")
    calib = calibrator.Calibrator(content, num_threads=os.cpu_count() or 1,
                                  qsv_update_func=qsv_utils.min_max_update)
    calib.calibrate(rows, recipe_manager)
    qsvs = dict(calib.get_model_qsvs())
    if ranges.kind != "minmax":
        qsvs.update(_histogram_ranges(content, rows, set(qsvs), ranges))
    for name, qsv in qsvs.items():
        if not (np.all(np.isfinite(qsv["min"])) and np.all(np.isfinite(qsv["max"]))):
            raise CalibrationError(f"tensor {name!r} saw NaN or inf during calibration; check the calibration "
                                   "samples and the float model (run the fp32 export's validation first)")
    return qsvs


def _histogram_ranges(content: bytes, rows, names: set[str], ranges: RangeConfig):
    """Percentile / MSE ranges from every value of every calibrated tensor (a second pass over the samples)."""
    from edgellm.runtime import new_interpreter

    # Without delegates: tensors inside an XNNPACK partition are not preserved.
    interpreter = new_interpreter(content=content, experimental_preserve_all_tensors=True, xnnpack=False,
                                  threads=os.cpu_count() or 1)
    estimator = RangeEstimator(ranges)
    for signature, samples in rows.items():
        runner = interpreter.get_signature_runner(signature)
        subgraph = runner._subgraph_index  # each signature is its own subgraph; tensors are read from it
        tensors = [(d["name"], d["index"]) for d in interpreter.get_tensor_details(subgraph) if d["name"] in names]
        for sample in samples:
            runner(**sample)
            for name, index in tensors:
                value = interpreter.get_tensor(index, subgraph)
                if np.issubdtype(value.dtype, np.floating):
                    estimator.update(name, value)
    return to_qsvs(estimator.finalize())
