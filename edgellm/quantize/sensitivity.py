"""Accuracy-budget fallback: keep the fewest linear layers at higher precision that meet a cosine budget.

A static recipe quantizes every linear layer. Some layers carry activation outliers (the residual projections
of BERT-style blocks) and cost most of the error. With a budget, edgellm measures instead of guessing:

  1. score the all-static graph: mean cosine of its outputs to the float flatbuffer's on calibration samples
     (the worst output when there are several; per position over real tokens for per-token tasks);
  2. sensitivity: for each linear layer alone, the score with that one layer at the fallback precision
     (dynamic-range int8 for `int8`, 16x8 for `int8-full`) minus the all-static score;
  3. fall back the most sensitive layers first, the fewest that reach the budget (binary search over that
     order, each candidate scored).

Quantization reuses one calibration (ranges do not depend on which layers fall back), so each candidate costs a
quantization and a few inferences, not a calibration. Example on all-MiniLM-L6-v2 (36 linear layers): see
benchmarks/full_integer.py for the figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np



@dataclass(frozen=True, kw_only=True)
class BudgetResult:
    budget: float
    met: bool
    score_static: float  # all linear layers static
    score: float  # with the chosen layers at the fallback precision
    fallback: str  # "dynamic" or "int16"
    kept: tuple[str, ...]  # tensor names of the linear layers kept at the fallback precision
    sensitivity: dict[str, float] = field(default_factory=dict)  # layer -> score gain when it alone falls back
    num_samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.budget, "met": self.met, "metric": "mean cosine to the float flatbuffer on "
                f"{self.num_samples} calibration samples", "score_all_static": round(self.score_static, 6),
                "score": round(self.score, 6), "fallback": self.fallback, "kept": list(self.kept),
                "sensitivity": {k: round(v, 6) for k, v in self.sensitivity.items()}}


def linear_layers(content: bytes) -> list[str]:
    """Output tensor names of the FULLY_CONNECTED ops, in graph order (first signature's names; buckets share
    them), e.g. '...BertLayer_0/.../BertOutput_output/torch.nn.modules.linear.Linear_dense;1'."""
    from edgellm.runtime import new_interpreter

    interpreter = new_interpreter(content=content)
    tensors = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    names = []
    for op in interpreter._get_ops_details():
        if op["op_name"] == "FULLY_CONNECTED" and tensors[op["outputs"][0]] not in names:
            names.append(tensors[op["outputs"][0]])
    return names


def layer_regex(names: Sequence[str]) -> str:
    """One ai-edge-quantizer regex for exactly these layers: it is matched (re.search) against the op's scope,
    its output names joined and ended with ';'."""
    return "^(" + "|".join(re.escape(n) for n in names) + ");$"


def fit_budget(quantize_rows: Callable[[Sequence[Mapping[str, Any]]], bytes], float_content: bytes,
               rows: dict[str, list[dict[str, np.ndarray]]], *, budget: float, layers: Sequence[str],
               fallback_row: Callable[[str], Mapping[str, Any]], fallback: str, per_position: bool,
               num_samples: int = 8) -> tuple[list[Mapping[str, Any]], BudgetResult]:
    """The extra recipe rows (fallback layers) that meet ``budget``, and what was measured.

    quantize_rows(extra_rows) -> flatbuffer bytes of the recipe plus those rows (calibration reused).
    rows: each signature's calibration samples (quantize.calibration.signature_samples); the first
    ``num_samples`` of them are scored.
    """
    samples = [(sig, s) for sig, ss in rows.items() for s in ss][:num_samples]
    reference = _run(float_content, samples)

    def score(kept: Sequence[str]) -> float:
        extra = [fallback_row(layer_regex(kept))] if kept else []
        return _score(reference, _run(quantize_rows(extra), samples), samples, per_position)

    static = score(())
    if static >= budget:
        return [], BudgetResult(budget=budget, met=True, score_static=static, score=static, fallback=fallback,
                                kept=(), num_samples=len(samples))
    gains = {layer: score((layer,)) - static for layer in layers}
    order = sorted(layers, key=lambda n: -gains[n])
    # Smallest prefix of `order` that meets the budget (binary search; each probe is scored for real).
    lo, hi, best = 1, len(order), None
    while lo <= hi:
        mid = (lo + hi) // 2
        s = score(order[:mid])
        if s >= budget:
            best, hi = (mid, s), mid - 1
        else:
            lo = mid + 1
    if best is None:
        kept, final = tuple(order), score(order)
    else:
        kept, final = tuple(order[:best[0]]), best[1]
    result = BudgetResult(budget=budget, met=final >= budget, score_static=static, score=final, fallback=fallback,
                          kept=kept, sensitivity=gains, num_samples=len(samples))
    return [fallback_row(layer_regex(kept))], result


def _run(content: bytes, samples) -> list[dict[str, np.ndarray]]:
    from edgellm.validate import _dequantize

    from edgellm.runtime import new_interpreter

    interpreter = new_interpreter(content=content)
    outputs = []
    for sig, sample in samples:
        runner = interpreter.get_signature_runner(sig)
        details = runner.get_output_details()
        outputs.append({k: _dequantize(v, details[k]) for k, v in runner(**sample).items()})
    return outputs


def _score(reference, candidate, samples, per_position: bool) -> float:
    """The worst output's mean cosine (validate.compare_outputs)."""
    from edgellm.validate import compare_outputs

    masks = [s["attention_mask"] if per_position else None for _, s in samples]
    metrics = compare_outputs(reference, candidate, masks)
    return min(m["mean_cosine"] for m in metrics.values())

