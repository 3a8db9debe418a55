"""The fidelity budget of ``edgellm optimize``: ``cosine:0.99``, ``top1:0.9``, ``ppl:1.05`` or ``kl:0.03``.

A budget names one validation metric and its bound; a recipe is inside it when the export's validation (its
edgellm.json ``validation.metrics``) measured that metric on the right side of the bound. Every recipe must also
pass its own validation row (edgellm/validate/), budget or not.

    metric  reads                                                      inside when   model kind
    cosine  the lowest ``mean_cosine`` over the encoder's outputs      >= bound      encoders
    top1    the lowest ``top1`` (logits outputs; LLMs: held text)      >= bound      encoders with logits, LLMs
    ppl     ``perplexity_ratio`` (export / PyTorch on held text)       <= bound      LLMs
    kl      ``kl`` (mean KL(PyTorch || export) on held text)           <= bound      LLMs

>>> parse_budget("cosine:0.99").admits({"passed": True, "metrics": {"embedding": {"mean_cosine": 0.995}}})
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgellm.errors import ConfigError

# metric -> (validation key, higher is better, kinds it applies to)
METRICS = {
    "cosine": ("mean_cosine", True, ("encoder",)),
    "top1": ("top1", True, ("encoder", "llm")),
    "ppl": ("perplexity_ratio", False, ("llm",)),
    "kl": ("kl", False, ("llm",)),
}


@dataclass(frozen=True, kw_only=True)
class Budget:
    metric: str  # a key of METRICS
    bound: float

    def __post_init__(self):
        if self.metric not in METRICS:
            raise ConfigError(f"budget metric {self.metric!r} is unknown; known: {', '.join(METRICS)} "
                              "(e.g. cosine:0.99, top1:0.9, ppl:1.05)")
        if isinstance(self.bound, bool) or not isinstance(self.bound, (int, float)) or not self.bound > 0 \
                or (self.higher_is_better and self.bound > 1):
            raise ConfigError(f"budget {self.metric}:{self.bound!r} is out of range; {self.metric} takes a bound "
                              + ("in (0, 1], e.g. 0.99" if self.higher_is_better else "above 0, e.g. 1.05"))

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.metric][1]

    def applies_to(self, kind: str) -> bool:
        return kind in METRICS[self.metric][2]

    def value(self, validation: dict[str, Any] | None) -> float | None:
        """The budget's metric as the export's validation measured it; None where it was not measured."""
        metrics = (validation or {}).get("metrics") or {}
        key = METRICS[self.metric][0]
        if key in metrics and isinstance(metrics[key], (int, float)):  # LLMs: metric -> value
            return float(metrics[key])
        values = [m[key] for m in metrics.values() if isinstance(m, dict) and isinstance(m.get(key), (int, float))]
        if not values:
            return None
        return float(min(values) if self.higher_is_better else max(values))  # the worst output

    def admits(self, validation: dict[str, Any] | None) -> bool:
        v = self.value(validation)
        return v is not None and (v >= self.bound if self.higher_is_better else v <= self.bound)

    def describe(self, value: float | None) -> str:
        """'cosine 0.9850 < 0.99' or 'ppl 1.02 <= 1.05'."""
        if value is None:
            return f"{self.metric} not measured"
        inside = value >= self.bound if self.higher_is_better else value <= self.bound
        op = (">=" if inside else "<") if self.higher_is_better else ("<=" if inside else ">")
        return f"{self.metric} {value:.4f} {op} {self.bound:g}"

    def __str__(self) -> str:
        return f"{self.metric}:{self.bound:g}"


def parse_budget(text: str | None) -> Budget | None:
    """``"cosine:0.99"`` -> Budget; None -> None (each recipe's own validation row is the only gate)."""
    if text is None:
        return None
    if not isinstance(text, str) or text.count(":") != 1:
        raise ConfigError(f"budget {text!r} is malformed; write METRIC:BOUND, e.g. cosine:0.99, top1:0.9 or "
                          f"ppl:1.05 (metrics: {', '.join(METRICS)})")
    metric, bound = (part.strip() for part in text.split(":"))
    try:
        value = float(bound)
    except ValueError:
        raise ConfigError(f"budget {text!r} is malformed: {bound!r} is not a number; write METRIC:BOUND, e.g. "
                          "cosine:0.99") from None
    return Budget(metric=metric.lower(), bound=value)
