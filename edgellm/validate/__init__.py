"""Float reference vs candidate flatbuffer on real tokenized sentences, for every recipe (quantized ones too).

Metrics per output, computed over valid (attended) positions only:
  max_abs      largest absolute difference
  mean_cosine  mean over rows of cos(reference_row, candidate_row); min_cosine the worst row
  snr_db       10 log10(sum ref^2 / sum (ref - cand)^2), null when infinite (identical outputs)
  top1         share of rows whose argmax agrees (outputs named *logits)
A recipe passes when every output meets its row of TOLERANCES (report.py). LLM exports: ``decoder.py``;
``validate`` takes either kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from edgellm.errors import ConfigError, require
from edgellm.validate.report import ENCODER, LLM, TOLERANCES, Tolerance, ValidationReport, recipes_for, \
    tolerance_for

__all__ = ["ENCODER", "LLM", "TOLERANCES", "Tolerance", "ValidationReport", "compare_outputs", "default_sentences",
           "recipes_for", "tolerance_for", "validate"]


PER_POSITION_TASKS = frozenset({"feature-extraction", "token-classification", "question-answering", "fill-mask"})


def default_sentences() -> list[str]:
    text = (Path(__file__).parent / "sentences.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def tokenize(tokenizer_path: Path, texts: Sequence[str], *, task: str, sequence_length: int,
             input_names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """One dict of int32 [1, L] arrays per sample; question-answering pairs each text with the next as context."""
    from edgellm.convert.source import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_path)
    samples = []
    for i, text in enumerate(texts):
        pair = (texts[(i + 1) % len(texts)],) if task == "question-answering" else ()
        enc = tokenizer(text, *pair, padding="max_length", truncation=True, max_length=sequence_length,
                        return_tensors="np")
        sample = {}
        for name in input_names:
            value = enc.get(name)
            sample[name] = (np.zeros((1, sequence_length), np.int32) if value is None
                            else np.asarray(value, dtype=np.int32))
        samples.append(sample)
    return samples


def run_reference(reference, samples: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    torch = require("torch", "convert")
    outputs = []
    with torch.no_grad():
        for sample in samples:
            out = reference(**{k: torch.from_numpy(v) for k, v in sample.items()})
            outputs.append({k: v.float().numpy() for k, v in out.items()})
    return outputs


def route(sample: dict[str, np.ndarray], signatures: Sequence[tuple[str, int]]) -> tuple[str, dict[str, np.ndarray]]:
    """The shortest signature that holds the sample's real tokens, and the sample cut to its length.

    Samples are right-padded [1, L_max] arrays (encoder tokenizers pad on the right).
    """
    real = int(sample["attention_mask"].sum())
    name, length = next((s for s in signatures if s[1] >= real), signatures[-1])
    return name, {k: v[:, :length] for k, v in sample.items()}


def run_flatbuffer(content: bytes, samples: Sequence[tuple[str, dict[str, np.ndarray]]],
                   output_names: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """Run every (signature, sample) through the LiteRT interpreter (XNNPACK on), dequantizing integer outputs."""
    from edgellm.runtime import new_interpreter

    interpreter = new_interpreter(content=content)
    runners = {}
    outputs = []
    for name, sample in samples:
        if name not in runners:
            runner = interpreter.get_signature_runner(name)
            runners[name] = (runner, runner.get_output_details())
        runner, details = runners[name]
        raw = runner(**sample)
        outputs.append({out: _dequantize(raw[out], details[out]) for out in output_names})
    return outputs


def _dequantize(value: np.ndarray, detail: Mapping[str, Any]) -> np.ndarray:
    if np.issubdtype(value.dtype, np.floating):
        return value.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return (value.astype(np.float32) - zero_point) * scale


def compare_outputs(reference: Sequence[dict[str, np.ndarray]], candidate: Sequence[dict[str, np.ndarray]],
                    masks: Sequence[np.ndarray | None]) -> dict[str, dict[str, float]]:
    """Metrics per output name.

    masks[i] is sample i's attention mask [1, L] when the outputs are per position (only valid positions are
    compared), None when they are per sequence (an embedding, sequence-classification logits).
    """
    metrics = {}
    for name in reference[0]:
        ref_rows, cand_rows = [], []
        for ref, cand, mask in zip(reference, candidate, masks):
            r, c = _rows(ref[name], mask), _rows(cand[name], mask)
            ref_rows.append(r)
            cand_rows.append(c)
        r, c = np.concatenate(ref_rows), np.concatenate(cand_rows)
        cos = _cosine_rows(r, c)
        m = {"max_abs": float(np.max(np.abs(r - c))), "mean_cosine": float(cos.mean()),
             "min_cosine": float(cos.min()), "snr_db": _snr_db(r, c)}
        if name.endswith("logits"):
            m["top1"] = float(np.mean(r.argmax(-1) == c.argmax(-1)))
        metrics[name] = m
    return metrics


def _snr_db(ref: np.ndarray, cand: np.ndarray) -> float | None:
    """Signal-to-noise ratio in dB; None (JSON null) when it is infinite: identical outputs or a zero signal."""
    signal, noise = float(np.sum(ref.astype(np.float64) ** 2)), float(np.sum((ref - cand).astype(np.float64) ** 2))
    return float(10 * np.log10(signal / noise)) if noise > 0 and signal > 0 else None


def _rows(value: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per position: [1, L, X] -> valid rows [n, X], [1, L] (a score per position) -> [1, n].
    Per sequence (mask None): [1, X] -> [1, X]."""
    if mask is None:
        return value.reshape(value.shape[0], -1)
    valid = mask[0].astype(bool)
    return value[0][valid] if value.ndim == 3 else value[:, valid]


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    num = np.sum(a * b, axis=-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    # Two all-zero rows are identical; one zero row against a non-zero one is orthogonal.
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.where(np.all(a == b, axis=-1), 1.0, 0.0))


def judge(metrics: Mapping[str, Mapping[str, float]], tolerance: Tolerance) -> tuple[str, ...]:
    failures = []
    for name, m in metrics.items():
        if m["mean_cosine"] < tolerance.min_cosine:
            failures.append(f"{name} mean cosine {m['mean_cosine']:.6f} < {tolerance.min_cosine}")
        if "top1" in m and m["top1"] < tolerance.min_top1:
            failures.append(f"{name} top-1 agreement {m['top1']:.3f} < {tolerance.min_top1}")
    return tuple(failures)


def validate(candidate, *, texts: Sequence[str] | None = None, reference=None, tolerance: Tolerance | None = None,
             model_file: str | Path | None = None, tokenizer=None, expected=None) -> ValidationReport:
    """Compare ``candidate`` (an EdgeModel from convert/quantize) with its float PyTorch reference.

    Encoders: on tokenized ``texts`` (default: validate/sentences.txt). LLMs (``candidate.task`` text-generation):
    the flatbuffer at ``model_file`` run by edgellm.generate's runner, with ``tokenizer`` (the HF tokenizer the
    export ships), against ``expected`` (decoder.reference_outputs) or the reference's own outputs; see decoder.py.
    ``reference`` defaults to ``candidate.reference``; ``tolerance`` to the recipe's row of TOLERANCES.
    """
    if candidate.task == LLM:
        from edgellm.validate.decoder import validate_decoder

        if model_file is None or tokenizer is None:
            raise ConfigError("validating an LLM runs its flatbuffer file: pass model_file= and tokenizer=")
        return validate_decoder(candidate, model_file, tokenizer, tolerance=tolerance, expected=expected)
    reference = reference if reference is not None else candidate.reference
    if reference is None:
        raise ConfigError("validate needs the float reference: pass reference= or an EdgeModel from convert()")
    tolerance = tolerance or tolerance_for(ENCODER, candidate.recipe)
    samples = tokenize(candidate.source.path, texts or default_sentences(), task=candidate.task,
                       sequence_length=candidate.sequence_length, input_names=candidate.input_names)
    routed = [route(s, candidate.signatures) for s in samples]
    cut = [s for _, s in routed]
    per_position = candidate.task in PER_POSITION_TASKS
    metrics = compare_outputs(run_reference(reference, cut),
                              run_flatbuffer(candidate.content, routed, candidate.output_names),
                              [s["attention_mask"] if per_position else None for s in cut])
    failures = judge(metrics, tolerance)
    return ValidationReport(passed=not failures, recipe=candidate.recipe, tolerance=tolerance, metrics=metrics,
                            num_samples=len(samples), failures=failures)


from edgellm._verbs import make_callable  # noqa: E402  (edgellm.validate(...) calls validate(); see _verbs.py)

make_callable(__name__)
