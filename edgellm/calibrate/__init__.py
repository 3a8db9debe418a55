"""Calibration: text samples -> tokenized representative inputs -> activation range statistics.

Imports only numpy; transformers and datasets are imported by the functions that need them.
"""

from edgellm.calibrate.ranges import (
    Histogram,
    QuantParams,
    RangeConfig,
    RangeEstimator,
    TensorStats,
    dequantize,
    estimate_range,
    linear_quantize,
    load_stats,
    quant_params,
    save_stats,
    to_qsvs,
)
from edgellm.calibrate.samples import (
    CalibrationReport,
    CalibrationSet,
    CalibrationWarning,
    TextSamples,
    corpus_path,
    load_samples,
    load_texts,
)

__all__ = [
    # samples
    "CalibrationReport",
    "CalibrationSet",
    "CalibrationWarning",
    "TextSamples",
    "corpus_path",
    "load_samples",
    "load_texts",
    # ranges
    "Histogram",
    "QuantParams",
    "RangeConfig",
    "RangeEstimator",
    "TensorStats",
    "dequantize",
    "estimate_range",
    "linear_quantize",
    "load_stats",
    "quant_params",
    "save_stats",
    "to_qsvs",
]
