"""Latency statistics over a list of timings. Pure Python, so it is the same on every host.

Percentiles interpolate linearly between the two nearest ranks, as ``numpy.percentile`` does by default
(and as litert-benchmark's median does); ``std`` is the sample standard deviation (n - 1).

Worked example, timings in ms ``[4.0, 1.0, 3.0, 2.0]``: sorted ``[1, 2, 3, 4]``; p50 sits at rank
0.5 * 3 = 1.5, halfway between 2 and 3 -> 2.5; p90 at rank 2.7 -> 3 + 0.7 * (4 - 3) = 3.7;
mean 2.5; std = sqrt(((1.5)^2 + (0.5)^2 + (0.5)^2 + (1.5)^2) / 3) = 1.291.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds. Keys of ``to_dict`` are the stable JSON ``latency_ms`` keys."""

    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float
    count: int

    def to_dict(self, digits: int = 4) -> dict[str, float]:
        d = asdict(self)
        d.pop("count")
        return {k: round(v, digits) for k, v in d.items()}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linear interpolation between ranks."""
    if not sorted_values:
        raise ValueError("percentile of an empty list")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100; got {q}")
    rank = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (rank - lo) * (sorted_values[hi] - sorted_values[lo])


def summarize(times_ms: Sequence[float]) -> LatencyStats:
    """Summary statistics of timings in milliseconds (at least one)."""
    if not times_ms:
        raise ValueError("no timings to summarize")
    values = sorted(float(t) for t in times_ms)
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    p50, p90, p99 = (percentile(values, q) for q in PERCENTILES)
    return LatencyStats(p50=p50, p90=p90, p99=p99, mean=mean, std=std, min=values[0], max=values[-1], count=n)
