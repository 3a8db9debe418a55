"""Exact speculative decoding on an LLM export: cheap draft tokens, checked by the export in one ``verify_<T>`` call.

Runtime only (numpy, the LiteRT runner), like the rest of edgellm.generate.

One step, with the cache holding positions [0, p) and the pending token x (sampled, not yet run) at p:

    draft   d_1 .. d_k                            (lookup: copied from the text so far; draft:PATH: a smaller export)
    verify  [x, d_1, .., d_k] at p .. p + k       one call of verify_<T>, T >= k + 1: logits L_0 .. L_k  [k + 1, V]
    accept  greedy: d_i while d_i == argmax(L_{i-1}); sampling: the speculative sampling rule (below)
    emit    the accepted d_1 .. d_a, then the target's own token from L_a (the correction, or a bonus when a = k)

so a step yields a + 1 tokens for one pass over the weights. Greedy output is the target's own greedy output token
for token: every emitted token is the argmax of the target's logits for the same prefix (verify_<T> computes each
row bit for bit as decode does at that position, docs/speculative.md).

Sampling (Leviathan et al. 2023, Chen et al. 2023): d_i, drawn from the draft's distribution q_i, is accepted with
probability min(1, p_i(d_i) / q_i(d_i)) where p_i is the target's (temperature, top-k, top-p applied to L_{i-1});
at the first rejection the token is drawn from max(0, p_i - q_i) renormalized and the step ends. Each emitted
token then has the target's distribution exactly. Lookup drafts are deterministic: q_i is one-hot at d_i, so
d_i is accepted with probability p_i(d_i) and a rejection draws from p_i with d_i removed.

Rejected drafts need no rollback of their own: their K/V rows were written past the accepted length, and the next
call, which starts at the new pending position, reads cache rows before its own start only; a verify call adds its
new rows onto the cache rows they land on, which LlmRunner.verify zeroes first (docs/speculative.md).

How many tokens to draft is a cost model (``Policy``): with acceptance rate a per draft token (a running
estimate) a step of k drafts yields (1 - a^(k+1)) / (1 - a) tokens and costs verify_<T>'s time plus k draft
steps; plain decode yields 1 for decode's time. Times are measured as generation goes. The policy drafts the k
with the most tokens per second, 0 (plain decode) when drafts keep failing: it backs off, and the evidence decays
back toward the prior while it decodes plainly, so it probes again later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from edgellm.errors import ConfigError
from edgellm.generate.sampling import SamplingConfig, distribution

if TYPE_CHECKING:
    from edgellm.generate import GenerateConfig, Llm

LOOKUP = "lookup"
DRAFT_PREFIX = "draft:"
DEFAULT_MODEL_DRAFT_TOKENS = 4  # a draft model's tokens cost a decode step each: fewer than lookup's free ones


def parse_speculative(value: str | None) -> tuple[str, Path | None] | None:
    """``None`` | ``"lookup"`` | ``"draft:PATH"`` -> None | (kind, draft folder)."""
    if value is None:
        return None
    if isinstance(value, str) and value == LOOKUP:
        return LOOKUP, None
    if isinstance(value, str) and value.startswith(DRAFT_PREFIX) and value[len(DRAFT_PREFIX):].strip():
        return "draft", Path(value[len(DRAFT_PREFIX):])
    raise ConfigError(f"speculative must be 'lookup' or 'draft:PATH' (PATH: a smaller edgellm export with the same "
                      f"tokenizer); got {value!r}")


# ------------------------------------------------------------------------------------------------- drafters
class LookupDrafter:
    """Prompt-lookup decoding: the longest n-gram (``max_ngram`` down to ``min_ngram`` tokens) that ends the text
    so far and occurred before; its most recent earlier occurrence's continuation is the draft. One matching token
    is too weak a cue to draft on: on SmolLM2's grounded replies its drafts were accepted 19-38% of the time, and
    ``min_ngram`` 2 lifts lookup's speed-up from 1.33x to 1.38x (chat: 1.08x to 1.09x) in
    benchmarks/experiments/speculative_policy.py's replay with SmolLM2 int8-dynamic's per-call costs.

    >>> d = LookupDrafter(); d.propose([5, 6, 7, 8, 9, 5, 6], 3)
    ([7, 8, 9], None)
    """

    kind = LOOKUP

    def __init__(self, *, max_ngram: int = 3, min_ngram: int = 2):
        self.max_ngram, self.min_ngram = max_ngram, min_ngram
        self._index: list[dict[tuple[int, ...], int]] = [{} for _ in range(max_ngram + 1)]
        self._indexed = 0  # ids[:_indexed] are in the index
        self._ids: list[int] = []

    def start(self, prompt_ids: Sequence[int]) -> None:
        self._index = [{} for _ in range(self.max_ngram + 1)]
        self._indexed, self._ids = 0, []

    def propose(self, ids: Sequence[int], k: int) -> tuple[list[int], None]:
        self._ids = ids
        # index every n-gram that has a next token: ids[j - n:j] -> j (the latest j wins)
        for j in range(max(self._indexed, 1), len(ids)):
            for n in range(1, min(self.max_ngram, j) + 1):
                self._index[n][tuple(ids[j - n:j])] = j
        self._indexed = max(self._indexed, len(ids))
        for n in range(min(self.max_ngram, len(ids) - 1), self.min_ngram - 1, -1):
            j = self._index[n].get(tuple(ids[len(ids) - n:]))
            if j is not None and j < len(ids):
                return list(ids[j:j + k]), None
        return [], None

    def accepted(self, valid: int) -> None:
        pass


class ModelDrafter:
    """A smaller export proposes k tokens, greedy or sampled with the generation's own SamplingConfig (then each
    draft token's distribution q comes along, for the acceptance rule). Its KV cache follows the accepted text:
    ``_filled`` positions of it hold the text's first tokens."""

    kind = "draft"

    def __init__(self, llm: "Llm", sampling: SamplingConfig, rng: np.random.Generator):
        self.llm, self.sampling, self.rng = llm, sampling, rng
        self._filled = 0

    def start(self, prompt_ids: Sequence[int]) -> None:
        self.llm.runner.prefill(list(prompt_ids[:-1]), start=0)
        self._filled = len(prompt_ids) - 1

    def propose(self, ids: Sequence[int], k: int) -> tuple[list[int], list[np.ndarray] | None]:
        runner = self.llm.runner
        k = min(k, runner.layout.cache_length - len(ids) + 1)  # the draft's cache must hold what it reads
        if k < 1:
            return [], None
        logits = None
        for pos in range(self._filled, len(ids)):  # the accepted tokens it has not seen (1 or 2 after a step)
            logits = runner.decode(ids[pos], position=pos)
        self._filled = len(ids)
        drafts, qs = [], []
        for j in range(k):
            q = distribution(logits, self.sampling)
            token = int(np.argmax(q)) if self.sampling.greedy else int(self.rng.choice(q.size, p=q))
            drafts.append(token)
            qs.append(q)
            if j < k - 1:
                logits = runner.decode(token, position=len(ids) + j)
                self._filled += 1
        return drafts, (None if self.sampling.greedy else qs)

    def accepted(self, valid: int) -> None:
        """The text's first ``valid`` tokens are still what the draft's cache holds (rejected drafts are not)."""
        self._filled = min(self._filled, valid)


# ------------------------------------------------------------------------------------------------- policy
@dataclass
class Policy:
    """How many tokens to draft next (module docstring). ``cost``: running seconds per call of "decode" and of
    each verify length T; ``draft_cost``: seconds per draft token (0 for lookup)."""

    max_draft: int
    verify_lengths: tuple[int, ...]
    decay: float = 0.8  # weight of the past per drafting step (about the last 5 steps count)
    idle_decay: float = 0.9  # per plain step: failures are forgotten, so drafting is tried again
    prior: float = 0.5  # acceptance rate before any evidence
    prior_weight: float = 0.5  # in draft tokens: a few failures outweigh it

    def __post_init__(self):
        self.hits = 0.0  # decayed counts of accepted and rejected draft tokens
        self.misses = 0.0
        self.cost: dict[str | int, float] = {}
        self.draft_cost = 0.0

    @property
    def acceptance(self) -> float:
        w = self.prior_weight
        return (self.hits + self.prior * w) / (self.hits + self.misses + w)

    def _verify_cost(self, k: int) -> float:
        t = next(t for t in self.verify_lengths if t >= k + 1)
        # unmeasured: a guess that grows with T (the weights are read once; each row adds compute)
        return self.cost.get(t, self.cost["decode"] * (1 + 0.1 * (t - 1))) + k * self.draft_cost

    def choose(self) -> int:
        if "decode" not in self.cost:
            return 0  # decode is timed first: every cost is relative to it
        a = min(self.acceptance, 0.999)
        best, best_rate = 0, 1.0 / self.cost["decode"]
        for k in range(1, self.max_draft + 1):
            rate = (1 - a ** (k + 1)) / (1 - a) / self._verify_cost(k)
            if rate > best_rate:
                best, best_rate = k, rate
        return best

    def observe(self, drafted: int, accepted: int) -> None:
        if drafted:
            self.hits = self.decay * self.hits + accepted
            self.misses = self.decay * self.misses + (accepted < drafted)
        else:
            self.hits *= self.idle_decay
            self.misses *= self.idle_decay

    def time(self, key: str | int, seconds: float, weight: float = 0.3) -> None:
        old = self.cost.get(key)
        self.cost[key] = seconds if old is None else (1 - weight) * old + weight * seconds


# ------------------------------------------------------------------------------------------------- the loop
@dataclass
class SpeculativeCounts:
    target_steps: int = 0  # target calls after the first token (decode or verify)
    verify_steps: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0


def accept(logits: np.ndarray, drafts: Sequence[int], qs: Sequence[np.ndarray] | None, sampling: SamplingConfig,
           rng: np.random.Generator) -> tuple[int, int]:
    """(accepted draft tokens a, the target's token after them) from verify's logits [k + 1, V] for k drafts.

    Greedy: drafts equal to the target's argmax are accepted, then the argmax. Sampling: the speculative sampling
    rule (module docstring); ``qs`` None means deterministic (one-hot) drafts.
    """
    k = len(drafts)
    if sampling.greedy:
        best = np.argmax(logits[:k + 1], axis=-1)
        a = 0
        while a < k and drafts[a] == best[a]:
            a += 1
        return a, int(best[a])
    for i, d in enumerate(drafts):
        p = distribution(logits[i], sampling)
        q_d = 1.0 if qs is None else qs[i][d]
        if rng.random() < min(1.0, p[d] / q_d):
            continue
        residual = p.copy()
        if qs is None:
            residual[d] = 0.0
        else:
            residual = np.maximum(residual - qs[i], 0.0)
        total = residual.sum()
        # total is 0 only when p = q exactly, where a rejection cannot happen; guard against rounding
        residual = p if total <= 0 else residual / total
        return i, int(rng.choice(residual.size, p=residual))
    p = distribution(logits[k], sampling)
    return k, int(rng.choice(p.size, p=p))


def speculative_tokens(llm: "Llm", prompt_ids: list[int], config: "GenerateConfig",
                       counts: SpeculativeCounts, marks: dict[str, float]) -> Iterator[int]:
    """Yield new token ids as ``Llm.tokens`` does, speculatively; fills ``counts`` and the times in ``marks``
    (prefill, first). The first new token comes from a plain decode step (time to first token as without)."""
    kind, _ = parse_speculative(config.speculative)
    runner = llm.runner
    lay = runner.layout
    sampling = config.sampling
    rng = np.random.default_rng(sampling.seed)
    max_draft = max(lay.verify_lengths) - 1
    if kind == LOOKUP:
        drafter = LookupDrafter()
        k_max = config.draft_tokens or max_draft
    else:
        drafter = ModelDrafter(llm.draft(config.speculative), sampling, rng)
        k_max = config.draft_tokens or min(DEFAULT_MODEL_DRAFT_TOKENS, max_draft)
    policy = Policy(max_draft=k_max, verify_lengths=lay.verify_lengths)
    for key, seconds in llm._speculative_costs.items():  # what earlier generations measured on this export
        policy.cost[key] = seconds
    cache, eos = lay.cache_length, llm.eos_token_ids

    def pick(logits: np.ndarray) -> int:
        if sampling.greedy:
            return int(np.argmax(logits))
        p = distribution(logits, sampling)
        return int(rng.choice(p.size, p=p))

    t0 = time.perf_counter()
    runner.prefill(prompt_ids[:-1], start=0)
    drafter.start(prompt_ids)
    marks["prefill"] = time.perf_counter()
    ids = list(prompt_ids)
    pos = len(prompt_ids) - 1  # the pending token's position
    pending = [pick(runner.decode(prompt_ids[-1], position=pos))]
    marks["first"] = time.perf_counter()
    policy.time("decode", marks["first"] - marks["prefill"], weight=0.0 if "decode" in policy.cost else 1.0)
    n = 0
    try:
        while True:
            for token in pending:  # the tokens of the last step, in order
                if config.stop_at_eos and token in eos:
                    marks["reason"] = "eos"
                    return
                n += 1
                ids.append(token)
                yield token
                if n >= config.max_new_tokens:
                    return
            pos = len(ids) - 1  # the last emitted token is the new pending one
            if pos >= cache:
                marks["reason"] = "cache_full"
                return
            token = ids[-1]
            # at most the tokens still wanted after this step's own, and what the cache holds
            k = min(policy.choose(), config.max_new_tokens - n - 1, cache - pos - 1)
            t_draft = time.perf_counter()
            drafts, qs = drafter.propose(ids, k) if k > 0 else ([], None)
            counts.target_steps += 1
            t = time.perf_counter()
            t_draft = t - t_draft
            if not drafts:
                pending = [pick(runner.decode(token, position=pos))]
                policy.time("decode", time.perf_counter() - t)
                policy.observe(0, 0)
                continue
            logits = runner.verify([token, *drafts], position=pos)
            a, nxt = accept(logits, drafts, qs, sampling, rng)
            size = next(v for v in lay.verify_lengths if v >= len(drafts) + 1)
            policy.time(size, time.perf_counter() - t)
            if drafter.kind != LOOKUP:
                policy.draft_cost = t_draft / len(drafts) if policy.draft_cost == 0 else \
                    0.7 * policy.draft_cost + 0.3 * t_draft / len(drafts)
            policy.observe(len(drafts), a)
            drafter.accepted(len(ids) + a)
            counts.verify_steps += 1
            counts.drafted_tokens += len(drafts)
            counts.accepted_tokens += a
            pending = [*drafts[:a], nxt]
    finally:
        llm._speculative_costs.update(policy.cost)


def check_speculative(llm: "Llm", config: "GenerateConfig") -> None:
    """One-line errors before any work: an export without verify signatures, too many draft tokens, a draft export
    that does not fit the target (tokenizer, vocabulary, cache)."""
    parsed = parse_speculative(config.speculative)
    if parsed is None:
        return
    lay = llm.layout
    if not lay.verify_lengths:
        raise ConfigError(f"{str(llm.folder)!r} has no verify_<T> signatures (exported before speculative "
                          "decoding, or with --verify-lengths none); re-export it with `edgellm export` to use "
                          "--speculative")
    most = max(lay.verify_lengths) - 1
    if config.draft_tokens is not None and config.draft_tokens > most:
        raise ConfigError(f"--draft-tokens {config.draft_tokens} is more than the export verifies in one call "
                          f"({most}: its largest signature is verify_{most + 1}); pass --draft-tokens {most} or "
                          "less, or re-export with larger --verify-lengths")
    if parsed[0] == "draft":
        llm.draft(config.speculative)
