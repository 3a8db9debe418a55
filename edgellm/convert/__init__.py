"""HF model folder -> float LiteRT flatbuffer (one signature with named int32 inputs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgellm.archs import TASKS, check_task, task_from_architectures
from edgellm.convert.model import EdgeModel
from edgellm.convert.source import ModelSource, read_source
from edgellm.errors import ConfigError, UnsupportedOpError, config_fields, require

__all__ = ["ConvertConfig", "EdgeModel", "convert", "read_source", "resolve_task"]


@dataclass(frozen=True, kw_only=True)
class ConvertConfig:
    """How to convert.

    task: a name from archs.TASKS, or "auto" (sentence-transformers folder -> sentence-embedding, else the head
          named by config.architectures).
    sequence_length: the static input length L; inputs are [1, L] int32, padded by the caller. One signature,
                     `serving_default`.
    sequence_lengths: length buckets, e.g. (16, 32, 64, 128): one signature `seq_<L>` per length sharing the
                      weights; callers run each input with the smallest that fits (real sentences are short, and
                      padding every one to 128 wastes most of the work). Overrides sequence_length when given.
    bounded_layer_norm: trace every LayerNorm as encoder.BoundedLayerNorm (the same function, intermediate ranges
                        that outliers do not blow up): what the int16-activation recipes (int16x8, int8-full)
                        are calibrated on; `export` sets it from the recipe (Recipe.bounded_layer_norm).
    outlier_channel_ratio: wrap every linear layer whose output channels peak above this many times its median
                           channel peak (on calibration samples) as encoder.ChannelScaledLinear, so an int8
                           output holds the rest; None = no scaling. `export` sets it from the recipe.
    smooth_alpha: migrate each linear layer's input range into its weight (encoder.smooth_linear_inputs, with
                  this alpha in (0, 1]) on calibration samples, so a static int8 input loses less to its few
                  large channels; None = as loaded. `export` sets it from the recipe (Recipe.smooth_alpha).
    """

    task: str = "auto"
    sequence_length: int = 128
    sequence_lengths: tuple[int, ...] = ()
    bounded_layer_norm: bool = False
    outlier_channel_ratio: float | None = None
    smooth_alpha: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "sequence_lengths", tuple(self.sequence_lengths))
        for n in (self.sequence_length, *self.sequence_lengths):
            if isinstance(n, bool) or not isinstance(n, int) or n < 2:
                raise ConfigError(f"sequence lengths must be integers >= 2 (room for [CLS] and [SEP]); got {n!r}")
        ratio = self.outlier_channel_ratio
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 1):
            raise ConfigError(f"outlier_channel_ratio is a peak / median ratio above 1, e.g. 8, or None; got {ratio!r}")
        alpha = self.smooth_alpha
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or
                                  not 0 < alpha <= 1):
            raise ConfigError(f"smooth_alpha is a migration strength in (0, 1], e.g. 0.75, or None; got {alpha!r}")
        if self.task != "auto" and self.task not in TASKS:
            raise ConfigError(f"task {self.task!r} is unknown; known tasks: auto, {', '.join(TASKS)}")

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.sequence_lengths))) or (self.sequence_length,)

    def signatures(self) -> tuple[tuple[str, int], ...]:
        """(signature name, length) pairs, shortest first."""
        if not self.sequence_lengths:
            return (("serving_default", self.sequence_length),)
        return tuple((f"seq_{n}", n) for n in self.lengths)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConvertConfig":
        return cls(**config_fields(cls, data))


def resolve_task(source: ModelSource, task: str) -> str:
    if task == "auto":
        task = task_from_architectures(source.config.get("architectures"),
                                       sentence_transformers=source.sentence_transformers is not None)
    check_task(source.arch, task)
    return task


def convert(model: str | Path | ModelSource | None, config: ConvertConfig = ConvertConfig(), *,
            calibration=None) -> EdgeModel:
    """Convert a local HF model folder into a float32 EdgeModel (in memory; nothing is written).

    calibration: a CalibrationSet (edgellm.load_samples) for config.outlier_channel_ratio, which needs one.
    Unused otherwise.

    >>> m = convert("path/to/all-MiniLM-L6-v2", ConvertConfig(sequence_length=128))  # doctest: +SKIP
    >>> m.input_names, m.output_names  # doctest: +SKIP
    (('input_ids', 'attention_mask', 'token_type_ids'), ('embedding',))
    """
    source = model if isinstance(model, ModelSource) else read_source(model)
    task = resolve_task(source, config.task)
    longest = max(config.lengths)
    if longest > source.max_sequence_length:
        raise ConfigError(f"sequence length {longest} is above what the model's position "
                          f"embeddings allow ({source.max_sequence_length}); pass --sequence-length "
                          f"{source.max_sequence_length} or less")
    from edgellm.convert.encoder import load_reference, torch

    reference = load_reference(source, task, bounded_layer_norm=config.bounded_layer_norm)
    signatures = config.signatures()
    sample = _sample_inputs(source, longest)
    rewrites: dict[str, Any] = {}
    if config.bounded_layer_norm:
        from edgellm.convert.encoder import BoundedLayerNorm

        rewrites["bounded_layer_norms"] = sum(isinstance(m, BoundedLayerNorm) for m in reference.modules())
    if config.outlier_channel_ratio is not None or config.smooth_alpha is not None:
        from edgellm.convert.encoder import scale_outlier_channels, smooth_linear_inputs

        inputs = _calibration_inputs(source, calibration, sample, longest)
        if config.smooth_alpha is not None:
            rewrites["smoothed_inputs"] = smooth_linear_inputs(reference, inputs, config.smooth_alpha)
        if config.outlier_channel_ratio is not None:
            rewrites["scaled_channels"] = scale_outlier_channels(reference, inputs, config.outlier_channel_ratio)
    litert_torch = require("litert_torch", "convert")
    litert_torch.config.show_progress = False
    try:
        with torch.no_grad():
            if signatures == (("serving_default", longest),):
                converted = litert_torch.convert(reference, (), sample)
            else:
                converter = None
                for name, length in signatures:
                    args = (name, reference, (), _sample_inputs(source, length))
                    converter = converter.signature(*args) if converter else litert_torch.signature(*args)
                converted = converter.convert()
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as e:
        raise UnsupportedOpError(
            f"litert-torch could not convert {source.model_type} for {task}: {str(e).strip().splitlines()[0]}; "
            "run with --debug for the trace and report it with the model's config.json") from e
    return EdgeModel(content=bytes(converted.model_content()), source=source, task=task,
                     signatures=signatures, input_names=tuple(sample),
                     output_names=reference.output_names, reference=reference,
                     rewrites=rewrites)


def _calibration_inputs(source: ModelSource, calibration, sample: dict[str, Any], longest: int) -> dict[str, Any]:
    """The calibration samples as the wrapper's forward keywords (torch tensors [N, L]), for the rewrites that
    measure activation peaks (outlier_channel_ratio, smooth_alpha)."""
    import numpy as np

    from edgellm.convert.encoder import torch

    if calibration is None:
        raise ConfigError("outlier_channel_ratio and smooth_alpha measure activations on calibration samples: pass "
                          f"calibration=edgellm.load_samples(None, {str(source.path)!r}, sequence_length={longest})")
    if calibration.input_ids.shape[1] != longest:
        raise ConfigError(f"calibration samples have sequence length {calibration.input_ids.shape[1]}, the "
                          f"conversion {longest}; load them with sequence_length={longest}")
    arrays = calibration.inputs()
    return {name: torch.from_numpy(arrays[name] if name in arrays else np.zeros_like(calibration.input_ids))
            for name in sample}


def _sample_inputs(source: ModelSource, length: int) -> dict[str, Any]:
    """Named int32 [1, L] inputs; their names become the signature's input names."""
    from edgellm.convert.encoder import torch

    ids = torch.ones((1, length), dtype=torch.int32)
    sample = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if source.arch.token_type_ids:
        sample["token_type_ids"] = torch.zeros_like(ids)
    return sample


from edgellm._verbs import make_callable  # noqa: E402  (edgellm.convert(...) calls convert(); see _verbs.py)

make_callable(__name__)
