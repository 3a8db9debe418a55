"""Picking a recipe: the fastest (or smallest) whose fidelity is inside the budget, and why every other lost.

Pure data in, verdicts out, so it is tested on fabricated measurements. A ``Measurement`` is one recipe's export
and bench; ``select`` returns one ``Verdict`` per measurement, in the order given, and the winner's name.

Order of the checks, per recipe: it could not be built ("failed": the error's line); it failed its own validation
row ("failed validation": which gates); it is outside the budget ("over budget": the metric and the bound); then,
among the rest, the objective decides: latency = the lowest p50 latency (encoders) or the highest decode tokens/s
(LLMs) at the first thread count; size = the smallest model file. Ties go to the other figure (the smaller file
for latency, the faster for size), then to the order of the recipes asked for.

>>> fast = Measurement(recipe="int8", size_bytes=6, speed=2.0, validation={"passed": True})
>>> slow = Measurement(recipe="fp32", size_bytes=22, speed=4.0, validation={"passed": True})
>>> [v.status for v in select([slow, fast], None, "latency")[0]]
['slower', 'best']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgellm.errors import ConfigError
from edgellm.optimize.budget import Budget

OBJECTIVES = ("latency", "size")


@dataclass(frozen=True, kw_only=True)
class Measurement:
    recipe: str
    size_bytes: int | None = None
    # encoders: p50 latency in ms (lower is faster); LLMs: decode tokens/s (higher is faster); None: not timed
    speed: float | None = None
    llm: bool = False
    validation: dict[str, Any] | None = None  # the export's edgellm.json "validation" section
    error: str | None = None  # the one-line error of a recipe that could not be built

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "size_bytes": self.size_bytes, "speed": self.speed, "llm": self.llm,
                "validation": self.validation, "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Measurement":
        return cls(**d)

    def speed_text(self) -> str:
        if self.speed is None:
            return "not timed"
        return f"{self.speed:.1f} decode tok/s" if self.llm else f"p50 {self.speed:.3f} ms"


@dataclass(frozen=True, kw_only=True)
class Verdict:
    recipe: str
    status: str  # best | slower | larger | over budget | failed validation | failed
    reason: str


def select(measurements: list[Measurement], budget: Budget | None, objective: str
           ) -> tuple[list[Verdict], str | None]:
    """(one verdict per measurement, in order; the best recipe or None when none is inside the budget)."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective {objective!r} is unknown; choose {' or '.join(OBJECTIVES)}")
    verdicts: dict[str, Verdict] = {}
    eligible: list[tuple[int, Measurement]] = []
    for i, m in enumerate(measurements):
        validation = m.validation or {}
        if m.error is not None:
            verdicts[m.recipe] = Verdict(recipe=m.recipe, status="failed", reason=m.error)
        elif not validation.get("passed"):
            failures = "; ".join(validation.get("failures") or []) or "no validation recorded"
            verdicts[m.recipe] = Verdict(recipe=m.recipe, status="failed validation", reason=failures)
        elif budget is not None and not budget.admits(validation):
            verdicts[m.recipe] = Verdict(recipe=m.recipe, status="over budget",
                                         reason=budget.describe(budget.value(validation)))
        elif objective == "latency" and m.speed is None:
            verdicts[m.recipe] = Verdict(recipe=m.recipe, status="failed", reason="not timed")
        else:
            eligible.append((i, m))
    if not eligible:
        return [verdicts[m.recipe] for m in measurements], None
    ranked = sorted(eligible, key=lambda im: _rank(im[1], objective) + (im[0],))
    best = ranked[0][1]
    fidelity = f", {budget.describe(budget.value(best.validation))}" if budget is not None else ""
    if objective == "latency":
        verdicts[best.recipe] = Verdict(recipe=best.recipe, status="best",
                                        reason=f"fastest inside the budget: {best.speed_text()}, "
                                               f"{_mb(best.size_bytes)}{fidelity}")
    else:
        verdicts[best.recipe] = Verdict(recipe=best.recipe, status="best",
                                        reason=f"smallest inside the budget: {_mb(best.size_bytes)}, "
                                               f"{best.speed_text()}{fidelity}")
    for _, m in ranked[1:]:
        verdicts[m.recipe] = _loser(m, best, objective)
    return [verdicts[m.recipe] for m in measurements], best.recipe


def _rank(m: Measurement, objective: str) -> tuple:
    speed = float("inf") if m.speed is None else (-m.speed if m.llm else m.speed)  # lower ranks first
    size = float("inf") if m.size_bytes is None else m.size_bytes
    return (speed, size) if objective == "latency" else (size, speed)


def _loser(m: Measurement, best: Measurement, objective: str) -> Verdict:
    if objective == "latency":
        if _rank(m, objective)[0] == _rank(best, objective)[0]:
            return Verdict(recipe=m.recipe, status="slower",
                           reason=f"as fast as {best.recipe} ({m.speed_text()}), "
                                  + (f"larger ({_mb(m.size_bytes)} vs {_mb(best.size_bytes)})"
                                     if m.size_bytes != best.size_bytes else "same size; listed after it"))
        ratio = (m.speed / best.speed) if m.llm is False else (best.speed / m.speed)
        return Verdict(recipe=m.recipe, status="slower",
                       reason=f"{m.speed_text()} vs {best.recipe}'s {best.speed_text()} ({ratio:.2f}x slower)")
    if m.size_bytes == best.size_bytes:
        return Verdict(recipe=m.recipe, status="larger",
                       reason=f"as small as {best.recipe} ({_mb(m.size_bytes)}), "
                              + (f"slower ({m.speed_text()} vs {best.speed_text()})" if m.speed != best.speed
                                 else "as fast; listed after it"))
    return Verdict(recipe=m.recipe, status="larger",
                   reason=f"{_mb(m.size_bytes)} vs {best.recipe}'s {_mb(best.size_bytes)} "
                          f"({(m.size_bytes or 0) / max(best.size_bytes or 1, 1):.2f}x)")


def _mb(size: int | None) -> str:
    return "size unknown" if size is None else f"{size / 1e6:.2f} MB"
