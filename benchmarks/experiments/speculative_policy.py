"""How far lookup decoding's draft policy is from the best possible, and what cheaper verify calls would give,
without timing a generation: greedy lookup text is plain greedy text, so a step's outcome (how many drafts the
target accepts) follows from the plain text alone, and a policy's speed from a table of per-call costs.

    python benchmarks/experiments/speculative_policy.py EXPORT [--max-new-tokens 96] [--position 200]
        [--costs decode=8.7,2=11.4,4=12.9,8=19.2 ...] [--min-ngram 1,2]

It generates the plain greedy replies of benchmarks/speculative_lookup.py's prompts once (chat template), measures
milliseconds per call of decode and of every verify_<T> at --position (benchmarks/verify_cost.py's loop; or takes
each --costs table as given), then replays lookup decoding under each policy, cost table and lookup drafter
(shortest n-gram it drafts on: --min-ngram) and prints the speed-up over plain decoding (tokens x decode cost / the
steps' summed costs):

    policy   edgellm's Policy (one running acceptance rate)
    keyed    the same with one rate per lookup match length (1, 2 or more tokens)
    oracle   knows each step's outcome: the draft length with the most tokens per millisecond (an upper bound)

The replay's figures track measured ones: with the costs of the exports they were measured on, it gives 1.61
(measured 1.60) and 1.22 (measured 1.18) on the grounded prompts (docs/speculative.md, "Figures").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from speculative_lookup import CHAT, GROUNDED  # noqa: E402
from verify_cost import call_ms  # noqa: E402


def measured_costs(llm, position: int, rounds: int = 5, calls: int = 10) -> dict:
    runner = llm.runner
    runner.prefill(list(range(1, position + 1)))
    ms: dict = {}
    for _ in range(rounds):
        for t in (1, *runner.layout.verify_lengths):
            ms.setdefault("decode" if t == 1 else t, []).append(call_ms(runner, t, position, calls))
    return {key: float(np.median(v)) for key, v in ms.items()}


def match_length(drafter, ids) -> int:
    """The n of the n-gram LookupDrafter.propose matched (after a propose on the same ids)."""
    for n in range(min(drafter.max_ngram, len(ids) - 1), drafter.min_ngram - 1, -1):
        j = drafter._index[n].get(tuple(ids[len(ids) - n:]))
        if j is not None and j < len(ids):
            return n
    return 0


def replay(prompt: list[int], truth: list[int], costs: dict, policy_name: str, verify: tuple[int, ...],
           min_ngram: int = 2) -> float:
    """Milliseconds lookup decoding spends on ``truth`` (the plain greedy reply) under one policy."""
    from edgellm.generate.speculative import LookupDrafter, Policy

    keyed: dict = {}  # match length -> (hits, misses) for the keyed policy
    policy = Policy(max_draft=max(verify) - 1, verify_lengths=verify)
    policy.cost = dict(costs)
    drafter = LookupDrafter(min_ngram=min_ngram)
    ids, n, ms = list(prompt) + truth[:1], 1, costs["decode"]  # the first token: a plain decode step
    while n < len(truth):
        room = len(truth) - n - 1
        drafts, _ = drafter.propose(ids, policy.max_draft)
        if policy_name == "oracle":
            best, k = 1 / costs["decode"], 0
            for kk in range(1, min(len(drafts), room) + 1):
                a = next((i for i in range(kk) if drafts[i] != truth[n + i]), kk)
                rate = (a + 1) / costs[next(v for v in verify if v >= kk + 1)]
                if rate > best:
                    best, k = rate, kk
        else:
            key = min(match_length(drafter, ids), 2) if drafts else 0
            if policy_name == "keyed":
                policy.hits, policy.misses = keyed.get(key, (0.0, 0.0))
            k = min(policy.choose(), room) if drafts else 0
        drafts = drafts[:k]
        if not drafts:
            ms += costs["decode"]
            ids.append(truth[n])
            n += 1
            if policy_name == "keyed":
                keyed = {key: (h * policy.idle_decay, m * policy.idle_decay) for key, (h, m) in keyed.items()}
            else:
                policy.observe(0, 0)
            continue
        a = next((i for i in range(len(drafts)) if drafts[i] != truth[n + i]), len(drafts))
        ms += costs[next(v for v in verify if v >= len(drafts) + 1)]
        policy.observe(len(drafts), a)
        if policy_name == "keyed":
            keyed[key] = (policy.hits, policy.misses)
        ids += truth[n:n + a + 1]
        n += a + 1
    return ms


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path)
    p.add_argument("--max-new-tokens", type=int, default=96)
    p.add_argument("--position", type=int, default=200)
    p.add_argument("--costs", action="append", default=[],
                   help="a cost table in ms, e.g. decode=8.7,2=11.4,4=12.9,8=19.2 (repeatable)")
    p.add_argument("--min-ngram", default="2", help="lookup drafters to replay: their shortest n-gram (e.g. 1,2)")
    args = p.parse_args(argv)
    from edgellm.generate import GenerateConfig, load_llm

    llm = load_llm(args.export)
    verify = tuple(llm.runner.layout.verify_lengths)
    texts = {}
    for name, prompts in (("grounded", GROUNDED), ("chat", CHAT)):
        texts[name] = []
        for prompt in prompts:
            ids = llm.encode_prompt(prompt, chat=True)
            texts[name].append((ids, list(llm.tokens(ids, GenerateConfig(max_new_tokens=args.max_new_tokens)))))
    tables = {"measured": measured_costs(llm, args.position)}
    for i, spec in enumerate(args.costs):
        tables[f"given {i + 1}"] = {(k if k == "decode" else int(k)): float(v)
                                    for k, v in (item.split("=") for item in spec.split(","))}
    for label, costs in tables.items():
        print(f"{label}: " + ", ".join(f"{k if k == 'decode' else f'verify_{k}'} {v:.2f} ms" for k, v in costs.items()))
        for min_ngram in (int(x) for x in args.min_ngram.split(",")):
            for policy_name in ("policy", "keyed", "oracle"):
                cells = []
                for name, pairs in texts.items():
                    tokens = sum(len(truth) for _, truth in pairs)
                    ms = sum(replay(ids, truth, costs, policy_name, verify, min_ngram)
                             for ids, truth in pairs if truth)
                    cells.append(f"{name} x{tokens * costs['decode'] / ms:.3f}")
                print(f"  min n-gram {min_ngram}  {policy_name:<7} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
