"""Calibration: text samples -> tokenized representative inputs -> activation range statistics."""

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
    "CalibrationReport",
    "CalibrationSet",
    "CalibrationWarning",
    "TextSamples",
    "corpus_path",
    "load_samples",
    "load_texts",
]
