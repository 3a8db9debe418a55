"""Validate an LLM export against the float PyTorch model, for every recipe (quantized ones too).

Metrics (named as in ``edgellm.validate``):
  greedy_match     per prompt, the share of the first N greedy tokens (N = greedy_tokens) before the first
                   difference from PyTorch's greedy tokens; reported as the mean and the minimum over prompts
  greedy_chat      the same on CHAT_PROMPTS, each one user message through the tokenizer's chat template (as
                   `edgellm generate --chat` sends it), for a model with one; a reply that ends (an end-of-sequence
                   token) identically before N tokens matches to the end. Recorded, not gated: plain continuations
                   of a small model meet near ties (top-1 minus top-2 logit 0.001-0.1) within a few tokens, where
                   any rounding forks the text, while an instruct model's chat replies are what its users see
  top1             teacher-forced on held text: share of positions whose argmax equals PyTorch's
  perplexity       teacher-forced perplexity of the held text under the export; perplexity_ratio = export / PyTorch
The export is run through edgellm.generate's runner (the same path `edgellm generate` uses). A recipe passes
when it meets its row of TOLERANCES (report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from edgellm.errors import require
from edgellm.validate.report import LLM, Tolerance, ValidationReport, tolerance_for

GREEDY_PROMPTS = ("The quickest way to learn a new language is",
                  "Here is a short story about a robot who wants to be a gardener.",
                  "def fibonacci(n):")
CHAT_PROMPTS = ("What is the capital of France?", "What is the quickest way to learn a new language?",
                "Write a Python function that returns the n-th Fibonacci number.")
HELD_TEXT = Path(__file__).resolve().parents[1] / "calibrate" / "data" / "en_eval.txt"
# A chat reply whose first token differs from PyTorch's fails validation unless PyTorch's own top-1/top-2 logit margin
# there is below this: then the choice is a near tie that any rounding (and each CPU's int8 kernels round
# differently) may flip, and it is reported (chat_near_ties) instead of gated. On SmolLM2 int8-dynamic, one-ulp float
# noise on the layer inputs spreads the France reply's first-token margin by +-0.24 (std; docs/quantization-llms.md).
NEAR_TIE_MARGIN = 0.5
QUIZ_REPLY_TOKENS = 24  # each quiz answer: greedy, up to an end-of-sequence token or this many tokens
QUIZ_SLACK = 2  # the export passes with at most this many quiz answers fewer right than PyTorch's


def torch_greedy(model, prompt_ids: Sequence[int], n: int) -> list[int]:
    """n greedy tokens from the HF model with its own KV cache (no end-of-sequence handling)."""
    torch = require("torch", "convert")
    out: list[int] = []
    with torch.no_grad():
        step = model(torch.tensor([list(prompt_ids)]), use_cache=True)
        for _ in range(n):
            out.append(int(step.logits[0, -1].argmax()))
            step = model(torch.tensor([[out[-1]]]), past_key_values=step.past_key_values, use_cache=True)
    return out


def batched_greedy(model, prompts: Sequence[Sequence[int]], n: int, batch: int = 64) -> list[list[int]]:
    """n greedy tokens for each prompt, the prompts left-padded into batches (one forward per token for a whole
    batch: the 50-question quiz is 24 forwards instead of 50 x 24). Under simulate.py's int8 rounding, which is
    per token row, the padding rows change nothing in the others."""
    torch = require("torch", "convert")
    out: list[list[int]] = []
    with torch.no_grad():  # else every step's activations stay alive through the cache: 14 GB at 0.5B parameters
        for start in range(0, len(prompts), batch):
            out.extend(_greedy_batch(model, [list(p) for p in prompts[start:start + batch]], n))
    return out


def _greedy_batch(model, group: list[list[int]], n: int) -> list[list[int]]:
    """n greedy tokens for each prompt of one left-padded batch."""
    torch = require("torch", "convert")
    width = max(map(len, group))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in group])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in group])
    tokens: list[list[int]] = [[] for _ in group]
    past = None
    for _ in range(n):
        position = (mask.cumsum(-1) - 1).clamp_min(0)[:, -ids.shape[1]:]
        step = model(input_ids=ids, attention_mask=mask, position_ids=position, past_key_values=past,
                     use_cache=True)
        nxt = step.logits[:, -1].argmax(-1)
        for row, t in zip(tokens, nxt.tolist()):
            row.append(int(t))
        past, ids = step.past_key_values, nxt[:, None]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    return tokens


def runner_greedy(runner, prompt_ids: Sequence[int], n: int) -> list[int]:
    runner.prefill(prompt_ids[:-1], start=0)
    token, pos, out = prompt_ids[-1], len(prompt_ids) - 1, []
    for _ in range(n):
        token = int(np.argmax(runner.decode(token, position=pos)))
        out.append(token)
        pos += 1
    return out


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


@dataclass(frozen=True, kw_only=True)
class ReferenceOutputs:
    """What validation compares an export with, computed from the PyTorch model (``reference_outputs``): once these
    exist the PyTorch model can be freed before the export's runner loads (its weights and the runner's packed
    copies are then never in memory together)."""

    greedy_tokens: int
    prompt_ids: tuple[tuple[int, ...], ...]
    greedy: tuple[tuple[int, ...], ...]  # per prompt, PyTorch's greedy tokens
    held_ids: tuple[int, ...]
    logits: np.ndarray = field(repr=False)  # [N, V] teacher-forced logits on held_ids
    # CHAT_PROMPTS through the chat template and PyTorch's greedy tokens for them (empty: no chat template)
    chat_prompts: tuple[str, ...] = ()
    chat_prompt_ids: tuple[tuple[int, ...], ...] = ()
    chat_greedy: tuple[tuple[int, ...], ...] = ()
    stop_ids: tuple[int, ...] = ()  # end-of-sequence tokens: a chat reply ends there
    # per chat prompt, PyTorch's logits predicting each token of its own greedy reply (cut after its end-of-sequence
    # token), teacher-forced: what the export's logits are compared with, whatever its own greedy text does
    chat_logits: tuple[np.ndarray, ...] = field(default=(), repr=False)
    # the quiz (quiz.py) through the chat template, and PyTorch's greedy answers; quiz_skipped says why there is none
    quiz: tuple = ()
    quiz_prompt_ids: tuple[tuple[int, ...], ...] = ()
    quiz_answers: tuple[tuple[int, ...], ...] = ()
    quiz_skipped: str | None = None
    # int8-dynamic and int4: the prepared model under each int8 rounding path (simulate.simulation_metrics)
    simulated: dict | None = None


def chat_prompt_ids(tokenizer, prompts: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """Each prompt as one user message through the chat template, tokenized as `edgellm generate --chat` does;
    () when the tokenizer has no chat template or its template refuses a lone user message."""
    import jinja2

    if not getattr(tokenizer, "chat_template", None):
        return ()
    try:
        texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                               add_generation_prompt=True) for p in prompts]
    except (jinja2.exceptions.TemplateError, ValueError):
        return ()
    return tuple(tuple(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def eos_token_ids(reference, tokenizer) -> list[int]:
    """The tokens that end a reply: the generation config's end-of-sequence ids and the tokenizer's."""
    eos = reference.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(int(i) for i in ids)


def _until_stop(tokens: Sequence[int], stop: Sequence[int]) -> tuple[int, ...]:
    """``tokens`` up to and including the first one in ``stop``."""
    end = next((i + 1 for i, t in enumerate(tokens) if t in stop), len(tokens))
    return tuple(tokens[:end])


def runner_forced(runner, prompt_ids: Sequence[int], reply: Sequence[int]) -> np.ndarray:
    """The export's logits predicting each token of ``reply`` after ``prompt_ids``, teacher-forced: [len(reply), V]."""
    runner.prefill(prompt_ids[:-1], start=0)
    token, pos, rows = prompt_ids[-1], len(prompt_ids) - 1, []
    for t in reply:
        rows.append(np.array(runner.decode(token, position=pos), dtype=np.float64))
        token, pos = t, pos + 1
    return np.stack(rows)


def _kl(ref_logits: np.ndarray, got_logits: np.ndarray) -> np.ndarray:
    """KL(softmax(ref) || softmax(got)) per row, in nats."""
    p = _log_softmax(ref_logits)
    return np.sum(np.exp(p) * (p - _log_softmax(got_logits)), axis=-1)


def _margin(logits: np.ndarray) -> float:
    """Top-1 minus top-2 logit: how near a tie the choice of the first token is."""
    top2 = np.partition(np.asarray(logits, dtype=np.float64), -2)[-2:]
    return float(top2[1] - top2[0])


def _matched(want: Sequence[int], got: Sequence[int], stop: Sequence[int] = ()) -> int:
    """Tokens before the first difference; a reply that ends (a token in ``stop``) identically matches to the end."""
    same = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), len(want))
    return len(want) if any(t in stop for t in want[:same]) else same


def reference_outputs(reference, tokenizer, cache_length: int, *, greedy_tokens: int = 32, held_tokens: int = 128,
                      prompts: Sequence[str] = GREEDY_PROMPTS, chat_prompts: Sequence[str] = CHAT_PROMPTS,
                      quiz: str | Path | None = None) -> ReferenceOutputs:
    """What an export is compared with, from the PyTorch model. ``quiz``: a quiz file (quiz.py's format); None
    takes the packaged one, skipped (and said so) when the model has no chat template or the KV cache is too short
    for it, where a given file is an error."""
    torch = require("torch", "convert")
    greedy_tokens = min(greedy_tokens, cache_length // 2)
    prompt_ids = tuple(tuple(tokenizer(p)["input_ids"])[: cache_length - greedy_tokens] for p in prompts)
    greedy = tuple(tuple(torch_greedy(reference, ids, greedy_tokens)) for ids in prompt_ids)
    chat_ids = tuple(ids[: cache_length - greedy_tokens] for ids in chat_prompt_ids(tokenizer, chat_prompts))
    chat_greedy = tuple(tuple(torch_greedy(reference, ids, greedy_tokens)) for ids in chat_ids)
    stop_ids = tuple(eos_token_ids(reference, tokenizer))
    chat_logits = []
    with torch.no_grad():
        for ids, reply in zip(chat_ids, chat_greedy):
            reply = _until_stop(reply, stop_ids)
            out = reference(torch.tensor([list(ids) + list(reply[:-1])])).logits[0, len(ids) - 1:]
            chat_logits.append(out.float().numpy())  # [len(reply), V]
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = tuple(tokenizer(text)["input_ids"])[: min(held_tokens, cache_length)]
    with torch.no_grad():
        logits = reference(torch.tensor([ids])).logits[0].float().numpy()  # [N, V]
    items, quiz_ids, quiz_answers, quiz_skipped = _quiz_reference(reference, tokenizer, cache_length, quiz, stop_ids)
    return ReferenceOutputs(greedy_tokens=greedy_tokens, prompt_ids=prompt_ids, greedy=greedy, held_ids=ids,
                            logits=logits, chat_prompts=tuple(chat_prompts) if chat_ids else (),
                            chat_prompt_ids=chat_ids, chat_greedy=chat_greedy, stop_ids=stop_ids,
                            chat_logits=tuple(chat_logits), quiz=items, quiz_prompt_ids=quiz_ids,
                            quiz_answers=quiz_answers, quiz_skipped=quiz_skipped)


def _quiz_reference(reference, tokenizer, cache_length: int, quiz, stop_ids):
    """(items, prompt ids, PyTorch's greedy answers, why skipped or None)."""
    from edgellm.errors import ConfigError
    from edgellm.validate.quiz import check_fits, load_quiz

    items = load_quiz(quiz)
    ids = chat_prompt_ids(tokenizer, [item.question for item in items])
    if not ids:
        if quiz is not None:
            raise ConfigError(f"the quiz {str(quiz)!r} is asked through the chat template, which this model lacks; "
                              "drop --quiz")
        return (), (), (), "the model has no chat template"
    try:
        check_fits(items, [len(i) for i in ids], QUIZ_REPLY_TOKENS, cache_length)
    except ConfigError as e:
        if quiz is not None:
            raise
        return (), (), (), f"the KV cache is too short for the packaged quiz ({e})"
    answers = tuple(_until_stop(a, stop_ids) for a in batched_greedy(reference, ids, QUIZ_REPLY_TOKENS))
    return items, ids, answers, None


def validate_decoder(candidate, model_path: str | Path, tokenizer, *, greedy_tokens: int = 32,
                     held_tokens: int = 128, prompts: Sequence[str] = GREEDY_PROMPTS,
                     tolerance: Tolerance | None = None,
                     expected: ReferenceOutputs | None = None) -> ValidationReport:
    """Compare the flatbuffer at ``model_path`` (``candidate``: its DecoderModel) with ``candidate.reference``,
    or with ``expected`` (``reference_outputs`` for the same prompts) when given.

    ``tokenizer`` is the HF tokenizer the export ships.
    """
    from edgellm.generate.runner import LlmRunner

    tolerance = tolerance or tolerance_for(LLM, candidate.recipe, candidate.quantization)
    if expected is None:
        expected = reference_outputs(candidate.reference, tokenizer, candidate.config.cache_length,
                                     greedy_tokens=greedy_tokens, held_tokens=held_tokens, prompts=prompts)
    runner = LlmRunner(model_path, num_threads=1)
    greedy_tokens = expected.greedy_tokens
    greedy = []
    for prompt, ids, want in zip(prompts, expected.prompt_ids, expected.greedy):
        want, got = list(want), runner_greedy(runner, list(ids), greedy_tokens)
        greedy.append({"prompt": prompt, "match": _matched(want, got) / greedy_tokens, "reference": want,
                       "export": got})
    greedy_chat, chat_rows = [], []
    for prompt, ids, want, ref in zip(expected.chat_prompts, expected.chat_prompt_ids, expected.chat_greedy,
                                      expected.chat_logits):
        want, got = list(want), runner_greedy(runner, list(ids), greedy_tokens)
        reply = _until_stop(want, expected.stop_ids)
        forced = runner_forced(runner, list(ids), reply)  # [len(reply), V]
        same = ref.argmax(-1) == forced.argmax(-1)
        kl = _kl(ref, forced)
        chat_rows.append((same, kl))
        greedy_chat.append({"prompt": prompt, "match": _matched(want, got, expected.stop_ids) / greedy_tokens,
                            "top1": float(same.mean()), "kl": float(kl.mean()),
                            "first_token_same": bool(same[0]), "first_token_margin": _margin(ref[0]),
                            "reference": want, "export": got})
    quiz = _quiz(runner, tokenizer, expected)
    ids, ref_logits = list(expected.held_ids), expected.logits
    runner.reset()
    got_logits = np.stack([runner.decode(t, position=i).copy() for i, t in enumerate(ids)])  # [N, V]
    target = np.asarray(ids[1:])
    nll_ref = -_log_softmax(ref_logits[:-1])[np.arange(len(target)), target].mean()
    nll_got = -_log_softmax(got_logits[:-1])[np.arange(len(target)), target].mean()
    matches = [g["match"] for g in greedy]
    metrics = {
        "greedy_tokens": greedy_tokens, "greedy_match_mean": float(np.mean(matches)),
        "greedy_match_min": float(np.min(matches)), "greedy": greedy,
        "held_tokens": len(ids), "top1": float(np.mean(ref_logits.argmax(-1) == got_logits.argmax(-1))),
        "perplexity": float(np.exp(nll_got)), "reference_perplexity": float(np.exp(nll_ref)),
        "perplexity_ratio": float(np.exp(nll_got - nll_ref)),
        "kl": float(_kl(ref_logits, got_logits).mean()),
        "max_abs_logit_diff": float(np.max(np.abs(ref_logits - got_logits))),
    }
    if greedy_chat:
        chat_matches = [g["match"] for g in greedy_chat]
        metrics.update({"greedy_chat_match_mean": float(np.mean(chat_matches)),
                        "greedy_chat_match_min": float(np.min(chat_matches)), "greedy_chat": greedy_chat,
                        "chat_top1": float(np.mean(np.concatenate([same for same, _ in chat_rows]))),
                        "chat_kl": float(np.mean(np.concatenate([kl for _, kl in chat_rows]))),
                        "chat_worst": min(greedy_chat, key=lambda g: (g["top1"], -g["kl"]))["prompt"],
                        "near_tie_margin": NEAR_TIE_MARGIN,
                        "chat_near_ties": [g["prompt"] for g in greedy_chat if not g["first_token_same"]
                                           and g["first_token_margin"] < NEAR_TIE_MARGIN]})
    metrics["quiz"] = quiz
    if expected.simulated is not None:
        metrics["simulated"] = expected.simulated
    failures = judge(metrics, tolerance)
    return ValidationReport(passed=not failures, recipe=candidate.recipe, tolerance=tolerance, metrics=metrics,
                            failures=failures, kind=LLM)


def _quiz(runner, tokenizer, expected: ReferenceOutputs) -> dict:
    """The export's greedy answers to the quiz, scored beside PyTorch's."""
    from edgellm.validate.quiz import score

    if expected.quiz_skipped is not None:
        return {"skipped": expected.quiz_skipped}
    ours = [_until_stop(runner_greedy(runner, list(q), QUIZ_REPLY_TOKENS), expected.stop_ids)
            for q in expected.quiz_prompt_ids]
    text = [tokenizer.decode(list(a), skip_special_tokens=True) for a in ours]
    reference_text = [tokenizer.decode(list(a), skip_special_tokens=True) for a in expected.quiz_answers]
    got, want = score(text, expected.quiz), score(reference_text, expected.quiz)
    return {"correct": got["correct"], "reference_correct": want["correct"], "total": got["total"],
            "slack": QUIZ_SLACK, "reply_tokens": QUIZ_REPLY_TOKENS,
            "differs": [{"question": item.question, "reference": r, "export": t, "export_correct": g}
                        for item, r, t, g, w in zip(expected.quiz, reference_text, text, got["per_item"],
                                                    want["per_item"]) if g != w]}


def judge(metrics: dict, tolerance: Tolerance) -> tuple[str, ...]:
    """Why ``metrics`` (as validate_decoder computes them) fail ``tolerance``; () when they pass. A chat reply that
    leaves PyTorch's from its first token fails unless PyTorch's own margin there is a near tie (NEAR_TIE_MARGIN)."""
    failures = []
    quiz = metrics.get("quiz") or {}
    if "correct" in quiz and quiz["correct"] < quiz["reference_correct"] - quiz["slack"]:
        failures.append(f"quiz {quiz['correct']}/{quiz['total']} right, more than {quiz['slack']} below PyTorch's "
                        f"{quiz['reference_correct']}")
    greedy_chat = metrics.get("greedy_chat") or []
    for g in greedy_chat:
        if not g["first_token_same"] and g["first_token_margin"] >= NEAR_TIE_MARGIN:
            failures.append(f"the chat reply to {g['prompt']!r} differs from PyTorch's from its first token (PyTorch's "
                            f"top-1/top-2 margin there is {g['first_token_margin']:.2f} >= {NEAR_TIE_MARGIN})")
    if greedy_chat and tolerance.min_chat_top1 is not None and metrics["chat_top1"] < tolerance.min_chat_top1:
        failures.append(f"chat top-1 agreement {metrics['chat_top1']:.3f} < {tolerance.min_chat_top1}")
    if greedy_chat and tolerance.max_chat_kl is not None and metrics["chat_kl"] > tolerance.max_chat_kl:
        failures.append(f"chat KL {metrics['chat_kl']:.4f} > {tolerance.max_chat_kl}")
    failures.extend(_judge_simulated(metrics.get("simulated"), quiz, tolerance))
    if metrics["greedy_match_min"] < tolerance.min_greedy_match:
        failures.append(f"greedy tokens differ from PyTorch's (match {metrics['greedy_match_min']:.3f} < "
                        f"{tolerance.min_greedy_match})")
    if metrics["top1"] < tolerance.min_top1:
        failures.append(f"top-1 agreement {metrics['top1']:.3f} < {tolerance.min_top1}")
    if metrics["perplexity_ratio"] > tolerance.max_perplexity_ratio:
        failures.append(f"perplexity ratio {metrics['perplexity_ratio']:.4f} > {tolerance.max_perplexity_ratio}")
    return tuple(failures)


def _judge_simulated(simulated: dict | None, quiz: dict, tolerance: Tolerance) -> list[str]:
    """The same gates under every simulated rounding path (simulate.py): the worst path must pass them too."""
    if not simulated:
        return []
    failures = [f"under the simulated {f['path']} int8 rounding, the chat reply to {f['prompt']!r} differs from "
                f"PyTorch's from its first token (not a near tie)" for f in simulated["first_token_forks"]]
    paths = simulated["paths"]
    worst = min(paths, key=lambda p: p["chat_top1"])
    if tolerance.min_chat_top1 is not None and worst["chat_top1"] < tolerance.min_chat_top1:
        failures.append(f"chat top-1 agreement {worst['chat_top1']:.3f} < {tolerance.min_chat_top1} under the "
                        f"simulated {worst['name']} int8 rounding")
    worst = max(paths, key=lambda p: p["chat_kl"])
    if tolerance.max_chat_kl is not None and worst["chat_kl"] > tolerance.max_chat_kl:
        failures.append(f"chat KL {worst['chat_kl']:.4f} > {tolerance.max_chat_kl} under the simulated "
                        f"{worst['name']} int8 rounding")
    scored = [p for p in paths if p["quiz_correct"] is not None]
    if scored and "reference_correct" in quiz:
        worst = min(scored, key=lambda p: p["quiz_correct"])
        if worst["quiz_correct"] < quiz["reference_correct"] - quiz["slack"]:
            failures.append(f"quiz {worst['quiz_correct']}/{quiz['total']} right under the simulated "
                            f"{worst['name']} int8 rounding, more than {quiz['slack']} below PyTorch's "
                            f"{quiz['reference_correct']}")
    return failures
