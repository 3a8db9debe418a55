"""Activation range estimation for full-integer quantization, and the linear quantization formula it feeds.

Lifecycle: ``est = RangeEstimator(RangeConfig(kind=...))``; ``est.update(name, activations)`` once per tensor per
calibration batch; ``stats = est.finalize()`` -> ``{name: TensorStats}``; ``save_stats(path, stats)`` to reuse them
for another recipe (``estimate_range(stats[name], other_config)`` recomputes the clip range from the stored
histogram without running the model again).

Across batches the observed range is the plain running [min, max] of every value seen: no moving average, so
a rare large activation in one batch is never averaged away (ai-edge-quantizer's default moving-average update
clipped such ranges badly). ``percentile`` and ``mse`` clip that range using a histogram of all values seen.

Kinds, on ``x = np.random.default_rng(0).standard_normal(1_000_000); x[0] = 100.0`` in 10 batches, 8 bits
(error = mean (x - dequantize(linear_quantize(x)))^2; tests/calibrate/test_ranges.py checks these numbers):

=========== ================== ========= =====================================================
kind        range              error     idea
=========== ================== ========= =====================================================
minmax      [-4.68, 100.00]    0.0140    everything fits; step 0.41, so typical values are coarse
percentile  [-3.72, 3.74]      0.0094    keep values between the (100-p)-th and p-th percentiles
mse         [-3.48, 41.87]     0.0060    minimize the expected squared error over clip ranges
=========== ================== ========= =====================================================

Only numpy is needed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgellm.errors import CalibrationError, ConfigError
from edgellm.files import write_atomically

KINDS = ("minmax", "percentile", "mse")
STATS_FORMAT = "edgellm-calibration-stats"
STATS_VERSION = 1
MIN_SCALE = 1e-9  # scale used for a tensor that was constant 0 during calibration (any scale represents 0 exactly)
_SEARCH_POINTS = 96  # candidates per range end in each pass of the MSE search
_SEARCH_PASSES = 3  # each pass narrows the grid around the best candidate of the previous one


# ---------------------------------------------------------------------------------------------------------------------
# the quantization formula


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ConfigError(f"bits must be an integer from 2 to 16, got {bits!r}")


def _check_range(x_min: float, x_max: float) -> None:
    if not (math.isfinite(x_min) and math.isfinite(x_max)) or not x_max > x_min:
        raise ConfigError(f"need finite x_min < x_max, got x_min={x_min!r}, x_max={x_max!r}")


def linear_quantize(x: Any, x_min: float, x_max: float, bits: int = 8) -> np.ndarray:
    """Unsigned codes ``q = round((x - x_min) / (x_max - x_min) * (2^bits - 1))`` as int64.

    Values outside [x_min, x_max] saturate to 0 or 2^bits - 1; ties round up (as C's round() does for the
    non-negative values here), not to even.

    Worked example, x in [-1, 3], bits=8 (255 steps of 4/255 = 0.015686):
      x = -1  -> round(0.00 * 255) = 0
      x =  0  -> round(0.25 * 255) = round(63.75) = 64
      x =  1  -> round(0.50 * 255) = round(127.5) = 128
      x =  3  -> round(1.00 * 255) = 255
      x =  5  -> outside the range, saturates to 255
    """
    _check_bits(bits)
    _check_range(x_min, x_max)
    levels = 2**bits - 1
    v = (np.asarray(x, dtype=np.float64) - x_min) / (x_max - x_min) * levels
    return np.floor(np.clip(v, 0.0, levels) + 0.5).astype(np.int64)


def dequantize(q: Any, x_min: float, x_max: float, bits: int = 8) -> np.ndarray:
    """Inverse of ``linear_quantize``: ``x_min + q * (x_max - x_min) / (2^bits - 1)`` as float64.

    Worked example, [-1, 3], bits=8: q = 128 -> -1 + 128 * 4/255 = 1.00784 (error 0.00784, under half a step).
    """
    _check_bits(bits)
    _check_range(x_min, x_max)
    return x_min + np.asarray(q, dtype=np.float64) * ((x_max - x_min) / (2**bits - 1))


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.floor(np.abs(v) + 0.5)  # C round(): what TFLite kernels use


@dataclass(frozen=True, kw_only=True)
class QuantParams:
    """TFLite-style affine parameters: ``real = scale * (q - zero_point)``, q in [qmin, qmax]."""

    scale: float
    zero_point: int
    dtype: str  # "int8" or "int16"
    qmin: int
    qmax: int

    def quantize(self, x: Any) -> np.ndarray:
        """``clip(round(x / scale) + zero_point, qmin, qmax)`` as int64 (ties away from zero, as in TFLite)."""
        q = _round_half_away(np.asarray(x, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, self.qmin, self.qmax).astype(np.int64)

    def dequantize(self, q: Any) -> np.ndarray:
        return self.scale * (np.asarray(q, dtype=np.float64) - self.zero_point)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def quant_params(x_min: float, x_max: float, dtype: str = "int8", *, symmetric: bool | None = None) -> QuantParams:
    """(scale, zero_point) for a calibrated range, as TFLite stores them.

    The range is first widened to contain 0 (TFLite needs 0.0 to be exactly representable).

    * ``int8`` (default asymmetric, activations): q in [-128, 127],
      ``scale = (hi - lo) / 255``, ``zero_point = round(-128 - lo / scale)``.
      Example [-1, 3]: scale = 4/255 = 0.015686, zero_point = round(-128 + 63.75) = -64;
      x = 1 -> round(63.75) - 64 = 0, which is ``linear_quantize(1, -1, 3, 8) - 128`` = 128 - 128.
      (Because the zero point is rounded, codes can differ from ``linear_quantize(...) - 128`` by 1.)
    * ``int8`` with ``symmetric=True`` (weights): q in [-127, 127], ``scale = max(|lo|, |hi|) / 127``, zero_point 0.
    * ``int16`` (always symmetric, as int16x8 activations are): q in [-32767, 32767],
      ``scale = max(|lo|, |hi|) / 32767``, zero_point 0.
      Example [-1, 3]: scale = 3/32767 = 9.1556e-05; x = 1 -> round(10922.33) = 10922.
    """
    if dtype not in ("int8", "int16"):
        raise ConfigError(f"dtype '{dtype}' is not supported; use 'int8' or 'int16'")
    if not (math.isfinite(x_min) and math.isfinite(x_max)) or x_max < x_min:
        raise ConfigError(f"need finite x_min <= x_max, got x_min={x_min!r}, x_max={x_max!r}")
    if symmetric is None:
        symmetric = dtype == "int16"
    if dtype == "int16" and not symmetric:
        raise ConfigError("int16 quantization is symmetric in TFLite (zero_point 0); leave symmetric unset or True")
    lo, hi = min(float(x_min), 0.0), max(float(x_max), 0.0)
    if symmetric:
        qmax = 127 if dtype == "int8" else 32767
        scale = max(abs(lo), abs(hi)) / qmax
        return QuantParams(scale=max(scale, MIN_SCALE), zero_point=0, dtype=dtype, qmin=-qmax, qmax=qmax)
    scale = max((hi - lo) / 255.0, MIN_SCALE)
    zero_point = int(np.clip(_round_half_away(np.float64(-128.0 - lo / scale)), -128, 127))
    return QuantParams(scale=scale, zero_point=zero_point, dtype=dtype, qmin=-128, qmax=127)


# ---------------------------------------------------------------------------------------------------------------------
# config and results


@dataclass(frozen=True, kw_only=True)
class RangeConfig:
    """How a tensor's clip range is chosen from what calibration observed."""

    kind: str = "minmax"  # minmax | percentile | mse (see the module docstring)
    percentile: float = 99.99  # percentile: keep [P(100 - p), P(p)]; 99.99 clips 0.01% of values at each end
    bits: int = 8  # mse: bit width whose error is minimized (8 for int8, 16 for int16 activations)
    symmetric: bool = False  # mse: search [-t, t] (int16, zero_point 0) instead of [lo, hi] containing 0 (int8)
    num_bins: int = 2048  # percentile/mse: histogram bins per tensor (memory: num_bins float64 each)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"range kind '{self.kind}' is not supported; supported: {', '.join(KINDS)}")
        if not 50.0 < float(self.percentile) <= 100.0:
            raise ConfigError(f"percentile must be in (50, 100], e.g. 99.99; got {self.percentile!r}")
        _check_bits(self.bits)
        if isinstance(self.num_bins, bool) or not isinstance(self.num_bins, int) or not 16 <= self.num_bins <= 1 << 20:
            raise ConfigError(f"num_bins must be an integer from 16 to 1048576, got {self.num_bins!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RangeConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown RangeConfig fields: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass(frozen=True, kw_only=True)
class Histogram:
    """Counts of observed values in ``len(counts)`` equal bins over [lo, hi] (fractional after re-binning)."""

    lo: float
    hi: float
    counts: tuple[float, ...]

    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)


@dataclass(frozen=True, kw_only=True)
class TensorStats:
    """What calibration saw for one tensor, and the clip range chosen from it."""

    name: str
    min: float  # smallest value seen over all batches
    max: float  # largest value seen over all batches
    count: int  # number of values seen
    num_batches: int
    ndim: int  # rank of the tensor (for ai-edge-quantizer QSVs of shape (1,) * ndim)
    kind: str  # RangeConfig.kind that chose range_min/range_max
    range_min: float  # clip range to quantize with
    range_max: float
    histogram: Histogram | None = None  # kept for percentile/mse so another config can be applied later

    def quant_params(self, dtype: str = "int8", *, symmetric: bool | None = None) -> QuantParams:
        return quant_params(self.range_min, self.range_max, dtype, symmetric=symmetric)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.histogram is not None:
            d["histogram"] = {"lo": self.histogram.lo, "hi": self.histogram.hi, "counts": list(self.histogram.counts)}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "stats") -> TensorStats:
        name = d.get("name", "?")
        required = ("name", "min", "max", "count", "num_batches", "ndim", "kind", "range_min", "range_max")
        missing = [k for k in required if k not in d]
        if missing:
            raise CalibrationError(f"{source}: tensor '{name}' lacks {', '.join(missing)}; recollect the statistics")
        floats = [d[k] for k in ("min", "max", "range_min", "range_max")]
        hist = d.get("histogram")
        if hist is not None:
            if not isinstance(hist, Mapping) or not {"lo", "hi", "counts"} <= set(hist):
                raise CalibrationError(
                    f"{source}: tensor '{name}' has a histogram without lo, hi and counts; recollect the statistics"
                )
            floats += [hist["lo"], hist["hi"], *hist["counts"]]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in floats):
            raise CalibrationError(
                f"{source}: tensor '{name}' has a NaN, inf or non-number statistic; recollect the statistics"
            )
        if not d["min"] <= d["max"] or not d["range_min"] <= d["range_max"]:
            raise CalibrationError(f"{source}: tensor '{name}' has min > max; recollect the statistics")
        return cls(
            name=str(d["name"]),
            min=float(d["min"]),
            max=float(d["max"]),
            count=int(d["count"]),
            num_batches=int(d["num_batches"]),
            ndim=int(d["ndim"]),
            kind=str(d["kind"]),
            range_min=float(d["range_min"]),
            range_max=float(d["range_max"]),
            histogram=None
            if hist is None
            else Histogram(lo=float(hist["lo"]), hi=float(hist["hi"]), counts=tuple(float(c) for c in hist["counts"])),
        )


# ---------------------------------------------------------------------------------------------------------------------
# range estimation from a histogram


def _hist_quantile(counts: np.ndarray, edges: np.ndarray, q: float) -> float:
    """Value below which a fraction q of the mass lies, values spread uniformly inside each bin."""
    cdf = np.concatenate([[0.0], np.cumsum(counts)])
    target = q * cdf[-1]
    i = int(np.clip(np.searchsorted(cdf, target, side="left"), 1, len(counts)))
    c0, c1 = cdf[i - 1], cdf[i]
    frac = (target - c0) / (c1 - c0) if c1 > c0 else 0.0
    return float(edges[i - 1] + frac * (edges[i] - edges[i - 1]))


def _mse_search(counts: np.ndarray, edges: np.ndarray, lo: float, hi: float, bits: int, symmetric: bool):
    """Clip range minimizing the expected squared quantization error of the histogram.

    Model: a value inside [l, h] gets uniform rounding noise step^2 / 12; a value outside is clipped, costing
    (x - l)^2 or (x - h)^2 plus its in-bin variance width^2 / 12. Ranges contain 0, as deployed. Candidates are
    a grid over each end, refined ``_SEARCH_PASSES`` times around the best; the full [lo, hi] is a candidate,
    so the result never has a larger modelled error than minmax.
    """
    width = edges[1] - edges[0]
    centers = (edges[:-1] + edges[1:]) / 2
    s0 = np.concatenate([[0.0], np.cumsum(counts)])
    s1 = np.concatenate([[0.0], np.cumsum(counts * centers)])
    s2 = np.concatenate([[0.0], np.cumsum(counts * centers * centers)])
    within = width * width / 12.0

    def error(l: np.ndarray, h: np.ndarray) -> np.ndarray:
        step = (h - l) / (2**bits - 1) if not symmetric else h / (2 ** (bits - 1) - 1)
        il = np.searchsorted(centers, l, side="left")  # bins [0, il) lie below l
        ih = np.searchsorted(centers, h, side="right")  # bins [ih, B) lie above h
        n_below, n_above = s0[il], s0[-1] - s0[ih]
        below = s2[il] - 2 * l * s1[il] + l * l * n_below
        above = (s2[-1] - s2[ih]) - 2 * h * (s1[-1] - s1[ih]) + h * h * n_above
        inside = (s0[ih] - s0[il]) * step * step / 12.0
        return np.maximum(below, 0) + np.maximum(above, 0) + (n_below + n_above) * within + inside

    if symmetric:
        top = max(abs(lo), abs(hi))
        if top == 0.0:
            return 0.0, 0.0
        a, b = 0.0, top
        best = top
        for _ in range(_SEARCH_PASSES):
            t = np.linspace(a, b, _SEARCH_POINTS)
            t = t[t > 0]
            errs = error(-t, t)
            k = int(np.argmin(errs))
            best = float(t[k])
            span = (b - a) / (_SEARCH_POINTS - 1)
            a, b = max(best - span, 0.0), min(best + span, top)
        return -best, best

    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    if hi0 - lo0 == 0.0:
        return 0.0, 0.0
    la, lb, ha, hb = lo0, 0.0, 0.0, hi0
    best_l, best_h = lo0, hi0
    for _ in range(_SEARCH_PASSES):
        ls = np.linspace(la, lb, _SEARCH_POINTS)
        hs = np.linspace(ha, hb, _SEARCH_POINTS)
        L, H = np.meshgrid(ls, hs, indexing="ij")
        errs = np.where(H - L > 0, error(L, H), np.inf)
        i, j = np.unravel_index(int(np.argmin(errs)), errs.shape)
        best_l, best_h = float(ls[i]), float(hs[j])
        lspan, hspan = (lb - la) / (_SEARCH_POINTS - 1), (hb - ha) / (_SEARCH_POINTS - 1)
        la, lb = max(best_l - lspan, lo0), min(best_l + lspan, 0.0)
        ha, hb = max(best_h - hspan, 0.0), min(best_h + hspan, hi0)
    return best_l, best_h


def estimate_range(stats: TensorStats, config: RangeConfig) -> tuple[float, float]:
    """Clip range (range_min, range_max) for ``stats`` under ``config``, from its min/max and histogram.

    minmax returns the observed [min, max]; percentile and mse need the histogram (collected when the
    estimator's kind was percentile or mse).
    """
    if config.kind == "minmax":
        return stats.min, stats.max
    if stats.histogram is None:
        raise CalibrationError(
            f"statistics for tensor '{stats.name}' have no histogram (collected with kind='{stats.kind}'); "
            f"recollect them with RangeConfig(kind='{config.kind}')"
        )
    counts = np.asarray(stats.histogram.counts, dtype=np.float64)
    edges = stats.histogram.edges()
    if config.kind == "percentile":
        tail = (100.0 - float(config.percentile)) / 100.0
        r_min = _hist_quantile(counts, edges, tail)
        r_max = _hist_quantile(counts, edges, 1.0 - tail)
        return float(np.clip(r_min, stats.min, stats.max)), float(np.clip(r_max, stats.min, stats.max))
    return _mse_search(counts, edges, stats.min, stats.max, config.bits, config.symmetric)


# ---------------------------------------------------------------------------------------------------------------------
# the estimator


@dataclass
class _Running:
    min: float
    max: float
    count: int
    num_batches: int
    ndim: int
    hist_lo: float = 0.0
    hist_hi: float = 0.0
    counts: np.ndarray | None = field(default=None, repr=False)


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().cpu().float().numpy()
    x = np.asarray(values)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ConfigError(f"activations must be numeric arrays, got dtype {x.dtype}")
    return x


class RangeEstimator:
    """Accumulate per-tensor statistics over calibration batches, then choose clip ranges.

    >>> est = RangeEstimator()                       # minmax
    >>> est.update("h", np.array([0.0, 1.0]))
    >>> est.update("h", np.array([-2.0, 0.5]))
    >>> s = est.finalize()["h"]; (s.range_min, s.range_max)   # plain min/max across batches
    (-2.0, 1.0)
    """

    def __init__(self, config: RangeConfig | None = None):
        self.config = config if config is not None else RangeConfig()
        self._tensors: dict[str, _Running] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tensors)

    def update(self, name: str, values: Any) -> None:
        """Add one batch of values of tensor ``name`` (any shape; numpy array or torch tensor)."""
        x = _as_numpy(values)
        if x.size == 0:
            return
        running = self._tensors.get(name)
        batch = (running.num_batches if running else 0) + 1
        finite = np.isfinite(x)
        if not finite.all():
            bad = int(x.size - np.count_nonzero(finite))
            raise CalibrationError(
                f"tensor '{name}' has {bad} NaN/inf values in calibration batch {batch}; the float model "
                "overflows on these inputs: check it in float32 on the same samples or exclude this tensor"
            )
        bmin, bmax = float(x.min()), float(x.max())
        if running is None:
            running = self._tensors[name] = _Running(min=bmin, max=bmax, count=0, num_batches=0, ndim=x.ndim)
        running.min, running.max = min(running.min, bmin), max(running.max, bmax)
        running.count += int(x.size)
        running.num_batches += 1
        if self.config.kind != "minmax":
            self._add_to_histogram(running, x, bmin, bmax)

    def update_all(self, activations: Mapping[str, Any]) -> None:
        """``update`` for every (name, values) of one batch."""
        for name, values in activations.items():
            self.update(name, values)

    def _add_to_histogram(self, r: _Running, x: np.ndarray, bmin: float, bmax: float) -> None:
        bins = self.config.num_bins
        if r.counts is None:
            lo, hi = bmin, bmax
            # A constant (or nearly constant) batch: give the histogram a small width, else numpy cannot make
            # `bins` finite-sized bins at float precision; min/max stay exact.
            width = max(abs(lo), abs(hi), 1.0) * 1e-4
            if hi - lo < width:
                hi = lo + width
            r.hist_lo, r.hist_hi, r.counts = lo, hi, np.zeros(bins)
        elif bmin < r.hist_lo or bmax > r.hist_hi:
            # Re-bin onto the wider range: interpolate the cumulative counts at the new edges
            # (values assumed uniform inside each old bin).
            lo, hi = min(bmin, r.hist_lo), max(bmax, r.hist_hi)
            old_edges = np.linspace(r.hist_lo, r.hist_hi, bins + 1)
            cdf = np.concatenate([[0.0], np.cumsum(r.counts)])
            r.counts = np.diff(np.interp(np.linspace(lo, hi, bins + 1), old_edges, cdf))
            r.hist_lo, r.hist_hi = lo, hi
        r.counts += np.histogram(x.ravel().astype(np.float64), bins=bins, range=(r.hist_lo, r.hist_hi))[0]

    def finalize(self) -> dict[str, TensorStats]:
        """Statistics and clip range per tensor, in first-seen order."""
        if not self._tensors:
            raise CalibrationError("no activations were recorded; call update(name, values) for each batch first")
        out = {}
        for name, r in self._tensors.items():
            hist = None
            if r.counts is not None:
                hist = Histogram(lo=r.hist_lo, hi=r.hist_hi, counts=tuple(float(c) for c in r.counts))
            stats = TensorStats(
                name=name,
                min=r.min,
                max=r.max,
                count=r.count,
                num_batches=r.num_batches,
                ndim=r.ndim,
                kind=self.config.kind,
                range_min=r.min,
                range_max=r.max,
                histogram=hist,
            )
            r_min, r_max = estimate_range(stats, self.config)
            out[name] = TensorStats(**{**stats.__dict__, "range_min": r_min, "range_max": r_max})
        return out


def to_qsvs(stats: Mapping[str, TensorStats]) -> dict[str, dict[str, np.ndarray]]:
    """ai-edge-quantizer calibration result: ``{name: {"min": array, "max": array}}``, arrays of shape (1,) * ndim,
    holding each tensor's clip range (pass to ``Quantizer.quantize(calibration_result=...)``)."""
    return {
        name: {
            "min": np.full((1,) * s.ndim, s.range_min, dtype=np.float32),
            "max": np.full((1,) * s.ndim, s.range_max, dtype=np.float32),
        }
        for name, s in stats.items()
    }


# ---------------------------------------------------------------------------------------------------------------------
# JSON


def save_stats(path: str | os.PathLike, stats: Mapping[str, TensorStats], *, overwrite: bool = False) -> Path:
    """Write statistics to a JSON file (atomically: temp file + rename). Returns the path.

    Layout: ``{"format": "edgellm-calibration-stats", "version": 1, "tensors": {name: TensorStats.to_dict()}}``.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise CalibrationError(f"stats file {path} already exists; pass overwrite=True or choose another path")
    for name, s in stats.items():
        if name != s.name:
            raise ConfigError(f"stats key '{name}' does not match its TensorStats.name '{s.name}'")
    doc = {
        "format": STATS_FORMAT,
        "version": STATS_VERSION,
        "tensors": {name: s.to_dict() for name, s in stats.items()},
    }
    text = json.dumps(doc, allow_nan=False, indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, text)


def load_stats(path: str | os.PathLike) -> dict[str, TensorStats]:
    """Read statistics written by ``save_stats``; every value is checked (finite, min <= max)."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"stats file {path} does not exist; run calibration and save_stats first")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise CalibrationError(f"stats file {path} is not UTF-8 text; it is not a stats file") from e
    except json.JSONDecodeError as e:
        raise CalibrationError(f"stats file {path} is not valid JSON ({e.msg} at line {e.lineno})") from e
    if not isinstance(doc, dict) or doc.get("format") != STATS_FORMAT:
        raise CalibrationError(f"{path} is not an edgellm calibration stats file (no \"format\": \"{STATS_FORMAT}\")")
    if doc.get("version") != STATS_VERSION:
        raise CalibrationError(
            f"{path} has stats version {doc.get('version')!r}; this edgellm reads version {STATS_VERSION}"
        )
    tensors = doc.get("tensors")
    if not isinstance(tensors, dict):
        raise CalibrationError(f"{path} has no \"tensors\" object; recollect the statistics")
    out = {}
    for name, d in tensors.items():
        if not isinstance(d, dict):
            raise CalibrationError(f"{path}: tensor '{name}' is not a JSON object; recollect the statistics")
        out[name] = TensorStats.from_dict({**d, "name": d.get("name", name)}, source=str(path))
    return out
