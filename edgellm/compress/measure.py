"""Before and after figures of a compressed model, measured in PyTorch on held text: what ``compress.json``'s
``fidelity`` and ``latency_ms`` record and ``edgellm prune`` and ``edgellm distill`` print (distill: the teacher is
"before", the student "after").

    probe = measure.before(model, tokenizer, decoder=True)   # the unpruned model's held-text outputs
    ... prune ...
    record = measure.after(model, probe, reference=original)  # {"fidelity": {...}, "latency_ms": {...}}

Held text: the built-in calibration/en_eval.txt, which no edgellm default trains or calibrates on.
- Causal LMs: its first ``HELD_TOKENS`` tokens in windows of ``WINDOW``; before: perplexity; after: perplexity,
  its ratio to before and top-1 agreement (the share of positions whose argmax is the unpruned model's).
  SmolLM2-135M, 6 of its 30 layers removed, no recovery: perplexity 47.73 -> 77.71 (x1.628), top-1 agreement 0.569.
- Encoders: its first ``HELD_TEXTS`` lines; after: mean and min cosine of each text's mean-pooled last hidden state
  to the unpruned model's (before: 1 by definition).
Latency: the PyTorch forward on this CPU at the process's torch threads, best of ``RUNS`` after one warm-up
(encoders: one ``LATENCY_TOKENS``-token text; causal LMs: one decode step after ``LATENCY_TOKENS`` tokens). It is
a before/after ratio on the workstation, not the device figure: ``edgellm bench`` on the export gives that. The
original model (``after(..., reference=)``) is timed in turn with the compressed one, call by call, so load from
other work on the machine falls on both alike (SmolLM2 layer pruning beside other jobs, timed once before and once
after: 41.6 -> 102.9 ms in one run, 79.7 -> 34.9 ms in the next).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgellm.errors import require

HELD_TOKENS = 1024  # causal LMs: held tokens scored, at most (SmolLM2 reads all 921 of en_eval.txt)
WINDOW = 256  # causal LMs: tokens per scored window
HELD_TEXTS = 60  # encoders: held lines embedded (all of en_eval.txt)
LATENCY_TOKENS = 128  # tokens of the timed input (encoders) or of the cache before the timed step (causal LMs)
RUNS = 10  # timed forwards, after one warm-up; the best is kept (other work on the machine only adds time)


@dataclass(frozen=True)
class Probe:
    """The unpruned model's held-text outputs, kept to compare the pruned one against."""
    decoder: bool
    windows: tuple[tuple[int, ...], ...] | None  # causal LMs: held token windows
    top1: np.ndarray | None  # causal LMs: argmax at every scored position
    perplexity: float | None
    batches: tuple[dict, ...] | None  # encoders: tokenized held texts
    timed: dict | None  # encoders: the timed input, LATENCY_TOKENS tokens of the held text
    embeddings: np.ndarray | None  # encoders: [texts, hidden] mean-pooled last hidden states


def before(model, tokenizer, *, decoder: bool) -> Probe:
    """Held-text outputs of ``model`` (an HF causal LM if ``decoder``, else an encoder) before it is compressed."""
    model.eval()
    if decoder:
        windows = _held_windows(model, tokenizer)
        nll, count, top1 = _score(model, windows)
        return Probe(decoder=True, windows=windows, top1=top1, perplexity=math.exp(nll / count), batches=None,
                     timed=None, embeddings=None)
    batches, timed = _held_batches(model, tokenizer)
    return Probe(decoder=False, windows=None, top1=None, perplexity=None, batches=batches, timed=timed,
                 embeddings=_embed(model, batches))


def after(model, probe: Probe, *, reference, project=None) -> dict[str, Any]:
    """``{"fidelity": ..., "latency_ms": ...}`` of the compressed ``model`` against ``probe``; ``reference``: the
    original model, timed in turn with ``model``. ``project``: a torch module mapping a narrower encoder's hidden
    states to the probe's width (distillation's learned projection; being linear, it commutes with mean pooling)."""
    from edgellm.validate import _cosine_rows

    model.eval()
    held = {"text": "calibration/en_eval.txt"}
    if probe.decoder:
        nll, count, top1 = _score(model, probe.windows)
        ppl = math.exp(nll / count)
        held["tokens"] = count + len(probe.windows)
        fidelity = {"held": held, "before": {"perplexity": round(probe.perplexity, 4)},
                    "after": {"perplexity": round(ppl, 4), "perplexity_ratio": round(ppl / probe.perplexity, 4),
                              "top1_agreement": round(float(np.mean(top1 == probe.top1)), 4)}}
    else:
        a, b = probe.embeddings, _embed(model, probe.batches)
        if project is not None:
            torch = require("torch", "convert")
            with torch.no_grad():
                b = project(torch.from_numpy(b)).numpy()
        held["texts"] = len(a)
        if a.shape != b.shape:  # another width and no projection to compare through
            return {"fidelity": None, "latency_ms": _latency_record(probe, model, reference)}
        cos = _cosine_rows(a, b)
        fidelity = {"held": held, "before": {"cosine_mean": 1.0, "cosine_min": 1.0},
                    "after": {"cosine_mean": round(float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4)}}
    return {"fidelity": fidelity, "latency_ms": _latency_record(probe, model, reference)}


def _latency_record(probe: Probe, model, reference) -> dict[str, Any]:
    was, now, what = _latency(reference, model, probe.windows if probe.decoder else probe.timed,
                              decoder=probe.decoder)
    return {"before": round(was, 3), "after": round(now, 3), "what": what}


def summary(record: dict[str, Any], against: str = "the unpruned") -> str:
    """One line: the held-text figures and the latency, before -> after (``against``: whose outputs "before" are)."""
    f, t = record["fidelity"], record["latency_ms"]
    if f is None:
        held = "held-text cosine not measured (another width, no projection)"
    elif "perplexity" in f["before"]:
        a = f["after"]
        held = (f"held-text perplexity {f['before']['perplexity']:.2f} -> {a['perplexity']:.2f} "
                f"(x{a['perplexity_ratio']:.3f}), top-1 agreement {a['top1_agreement']:.3f}")
    else:
        held = (f"held-text cosine to {against} embeddings {f['after']['cosine_mean']:.4f} "
                f"(min {f['after']['cosine_min']:.4f})")
    return f"{held}; {t['what']}: {t['before']:.2f} -> {t['after']:.2f} ms"


# ------------------------------------------------------------------------------------------------ held text
def _held_lines() -> list[str]:
    from edgellm.calibrate import corpus_path

    return [t.strip() for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]


def _max_positions(model) -> int:
    return int(getattr(model.config, "max_position_embeddings", None) or 512)


def _held_windows(model, tokenizer) -> tuple[tuple[int, ...], ...]:
    ids = tokenizer(" ".join(_held_lines()))["input_ids"][:HELD_TOKENS]
    size = min(WINDOW, _max_positions(model))
    return tuple(tuple(ids[i:i + size]) for i in range(0, len(ids), size) if len(ids[i:i + size]) > 1)


def _held_batches(model, tokenizer, batch: int = 16) -> tuple[tuple[dict, ...], dict]:
    """(the held texts in padded batches, one input of LATENCY_TOKENS tokens of the held text to time)."""
    lines = _held_lines()[:HELD_TEXTS]
    length = min(LATENCY_TOKENS, _max_positions(model) - 2)  # RoBERTa's positions start after padding_idx (1)
    batch = batch if tokenizer.pad_token is not None else 1
    batches = tuple(dict(tokenizer(lines[i:i + batch], return_tensors="pt", padding=True, truncation=True,
                                   max_length=length)) for i in range(0, len(lines), batch))
    return batches, dict(tokenizer(" ".join(lines), return_tensors="pt", truncation=True, max_length=length))


# ----------------------------------------------------------------------------------------------- the model
def _score(model, windows) -> tuple[float, int, np.ndarray]:
    """(summed next-token NLL, positions, argmax per position) over the held windows."""
    torch = require("torch", "convert")
    nll, count, top1 = 0.0, 0, []
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([w])
            logits = model(ids).logits[0, :-1].double()
            nll += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
            count += len(w) - 1
            top1.append(logits.argmax(-1).numpy())
    return nll, count, np.concatenate(top1)


def _embed(model, batches) -> np.ndarray:
    """Mean-pooled last hidden state of each held text, [texts, hidden]."""
    torch = require("torch", "convert")
    out = []
    with torch.no_grad():
        for enc in batches:
            hidden = model(**enc, output_hidden_states=True).hidden_states[-1]
            mask = enc["attention_mask"][..., None].to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp_min(1)).numpy())
    return np.concatenate(out)


def _latency(reference, model, held, *, decoder: bool) -> tuple[float, float, str]:
    """(ms of ``reference``, ms of ``model``, what was timed): best of RUNS forwards each after a warm-up, the two
    timed in turn, call by call, so load from other work falls on both alike."""
    torch = require("torch", "convert")
    threads = torch.get_num_threads()
    models = [reference, model]
    with torch.no_grad():
        if decoder:
            ids = [t for w in held for t in w][:min(LATENCY_TOKENS, _max_positions(model) - RUNS - 1)]
            step = torch.tensor([[ids[-1]]])
            what = f"PyTorch decode step after {len(ids)} tokens, {threads} thread(s), best of {RUNS}"

            def caller(m):
                past = m(torch.tensor([ids]), use_cache=True).past_key_values
                return lambda: m(step, past_key_values=past, use_cache=True)  # the cache grows a row a call
        else:
            what = f"PyTorch forward of one {held['input_ids'].shape[1]}-token input, {threads} thread(s), best of {RUNS}"

            def caller(m):
                return lambda: m(**held)
        calls = [caller(m) for m in models]
        times: list[list[float]] = [[] for _ in models]
        for _ in range(RUNS + 1):
            for call, spent in zip(calls, times):
                start = time.perf_counter()
                call()
                spent.append((time.perf_counter() - start) * 1e3)
    best = [min(t[1:]) for t in times]
    return best[0], best[1], what + ", in turn with the original"
