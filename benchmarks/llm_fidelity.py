"""How closely LLM exports follow a reference export (the fp32 one), through edgellm's runner.
Prints the figure in benchmarks/README.md, "Fidelity to the fp32 export (int4 smoothing)".

    python benchmarks/llm_fidelity.py REFERENCE_EXPORT EXPORT [EXPORT ...] [--held-tokens 256] [--reply-tokens 32]

Three views, each against REFERENCE_EXPORT's logits and tokens:
  held     teacher-forced on the validation's held text (calibrate/data/en_eval.txt, at most the cache length):
           perplexity ratio, top-1 agreement, mean KL(reference || export)
  chat     teacher-forced on the reference's own greedy replies (reply-tokens each) to CHAT_PROMPTS, each one user
           message through the chat template (20 x 32 = 640 positions): top-1 agreement, mean KL
  greedy   each export's own greedy reply to the same prompts: the share of the reference's reply before the first
           different token (a reply that ends identically counts as 1), and the reply to "What is the capital of
           France?"
Teacher-forced top-1 on a few hundred tokens moves by whole tokens at near ties; KL over every position is the
steadier figure. Runs on 2 threads; exports must share the tokenizer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "experiments"))
from llm_int8_smooth import CHAT_PROMPTS, FRANCE  # noqa: E402


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def forced(llm, sequences: list[tuple[list[int], int]]) -> np.ndarray:
    """Logits predicting each sequence's last ``n`` tokens, teacher-forced one decode step at a time."""
    rows = []
    for ids, n in sequences:
        llm.runner.reset()
        out = [llm.runner.decode(t, position=i).copy() for i, t in enumerate(ids[:-1])]
        rows.extend(out[len(ids) - 1 - n:])
    return np.stack(rows)


def compare(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    lr, lq = log_softmax(ref), log_softmax(got)
    return float(np.mean(ref.argmax(-1) == got.argmax(-1))), float((np.exp(lr) * (lr - lq)).sum(-1).mean())


def main(argv=None) -> int:
    from edgellm.validate.decoder import HELD_TEXT
    from edgellm.generate import GenerateConfig, load_llm

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reference", type=Path)
    p.add_argument("exports", type=Path, nargs="+")
    p.add_argument("--held-tokens", type=int, default=256)
    p.add_argument("--reply-tokens", type=int, default=32)
    args = p.parse_args(argv)
    ref = load_llm(args.reference, num_threads=2)
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    held = ref.tokenizer.encode(text)[: min(args.held_tokens, ref.layout.cache_length)]
    prompts = [ref.encode_prompt(q, chat=True) for q in CHAT_PROMPTS]
    forced_reply = GenerateConfig(max_new_tokens=args.reply_tokens, stop_at_eos=False)
    replies = [list(ref.tokens(pr, forced_reply)) for pr in prompts]
    chat = [(pr + rep, len(rep)) for pr, rep in zip(prompts, replies)]
    greedy = GenerateConfig(max_new_tokens=args.reply_tokens)

    def own_replies(llm) -> list[list[int]]:
        return [list(llm.tokens(pr, greedy)) for pr in prompts]

    ref_held, ref_chat, ref_greedy = forced(ref, [(held, len(held) - 1)]), forced(ref, chat), own_replies(ref)
    ref_nll = -log_softmax(ref_held)[np.arange(len(held) - 1), held[1:]].mean()
    print(f"reference {args.reference}: {len(held)} held tokens (perplexity {np.exp(ref_nll):.3f}), "
          f"{len(ref_chat)} chat reply positions, {len(prompts)} chat prompts")
    for folder in args.exports:
        llm = load_llm(folder, num_threads=2)
        got_held = forced(llm, [(held, len(held) - 1)])
        nll = -log_softmax(got_held)[np.arange(len(held) - 1), held[1:]].mean()
        held_top1, held_kl = compare(ref_held, got_held)
        chat_top1, chat_kl = compare(ref_chat, forced(llm, chat))
        shares = []
        for r, g in zip(ref_greedy, own_replies(llm)):
            n = next((i for i, (a, b) in enumerate(zip(r, g)) if a != b), min(len(r), len(g)))
            shares.append(1.0 if r == g else n / args.reply_tokens)
        france = llm.tokenizer.decode(list(llm.tokens(llm.encode_prompt(FRANCE, chat=True), greedy)))
        print(f"{folder}\n  held   perplexity x{np.exp(nll - ref_nll):.4f}  top-1 {held_top1:.3f}  KL {held_kl:.4f}\n"
              f"  chat   top-1 {chat_top1:.3f}  KL {chat_kl:.4f}\n"
              f"  greedy {np.mean(shares):.3f}  France: {france.strip()[:60]!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
