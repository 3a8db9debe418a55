"""Wall time of `edgellm export` (validation on) against litert-torch's own `export_hf` of the same model, back to
back (target: edgellm <= 3x export_hf), with edgellm's time per stage. Prints the figures in benchmarks/README.md,
"LLM export time".

    python benchmarks/llm_export_time.py WORK_DIR [--model HF_FOLDER] [--recipe int8-dynamic] [--cache-length 256]
        [--prefill-lengths 32,128] [--rounds 1] [--verify-lengths 2,4,8]

Both read the same float HF folder (default: SmolLM2-135M-Instruct from the packaged GGUF, dequantized once with
transformers and saved into WORK_DIR/hf; export_hf cannot read a .gguf), with the same cache length and prefill
lengths. export_hf runs with its default recipe (dynamic int8 weights, float activations: int8-dynamic's) and
writes one prefill signature per length and one decode signature, no validation and no .litertlm (as
benchmarks/llm_baseline.py --make-litert-torch runs it). edgellm writes everything it always does: decode windows,
verify signatures, the .litertlm bundle, and validation (reference outputs, the four simulated rounding paths, the
quiz on the export). Each export is its own process; with --rounds N the two alternate N times and the ratio of each
pair is printed, so a busy moment slows both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def float_copy(folder: Path) -> Path:
    """SmolLM2-135M-Instruct from the packaged GGUF, saved as a float HF folder (once)."""
    if (folder / "config.json").is_file():
        return folder
    sys.path.insert(0, str(HERE))
    from llm_export_memory import smollm2_gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from edgellm.compress.qat import _drop_gguf_loader

    gguf = smollm2_gguf()
    kwargs = dict(pretrained_model_name_or_path=str(gguf.parent), gguf_file=gguf.name)
    tmp = folder.with_name(folder.name + ".partial")
    model = AutoModelForCausalLM.from_pretrained(**kwargs)
    _drop_gguf_loader(model)  # transformers' GGUF loader refuses save_pretrained; the weights are float by now
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(**kwargs).save_pretrained(tmp)
    tmp.rename(folder)
    return folder


def timed(cmd: list[str], log: Path, ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    with log.open("w") as fh:
        code = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    if code not in ok:
        sys.exit(f"{' '.join(cmd[:4])} ... exited {code}; see {log}")
    return seconds


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("work", type=Path)
    p.add_argument("--model", type=Path, default=None, help="a float HF causal-LM folder (default: SmolLM2-135M)")
    p.add_argument("--recipe", default="int8-dynamic")
    p.add_argument("--cache-length", default="256")
    p.add_argument("--prefill-lengths", default="32,128")
    p.add_argument("--verify-lengths", default=None, help="edgellm's --verify-lengths (default: its own default)")
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    model = args.model or float_copy(args.work / "hf")
    ratios = []
    for r in range(args.rounds):
        lt_out, ours = args.work / f"litert_torch_{r}", args.work / f"edgellm_{r}"
        lt = timed([sys.executable, str(HERE / "llm_baseline.py"), "--make-litert-torch", str(model), str(lt_out),
                    "--cache-length", args.cache_length, "--prefill-lengths", args.prefill_lengths],
                   args.work / f"litert_torch_{r}.log")
        cmd = [sys.executable, "-m", "edgellm", "export", "--model", str(model), "--task", "text-generation",
               "--quantize", args.recipe, "--cache-length", args.cache_length, "--prefill-lengths",
               args.prefill_lengths, "--overwrite", str(ours)]
        if args.verify_lengths:
            cmd += ["--verify-lengths", args.verify_lengths]
        mine = timed(cmd, args.work / f"edgellm_{r}.log", ok=(0, 1))  # 1: validation failed, written and timed
        stages = json.loads((ours / "edgellm.json").read_text())["export"]["stage_seconds"]
        ratios.append(mine / lt)
        print(f"round {r}: export_hf {lt:6.0f} s   edgellm export {mine:6.0f} s = {mine / lt:.2f}x  "
              f"(target <= 3x: {'met' if mine / lt <= 3 else 'MISSED'})\n  edgellm stages: "
              + ", ".join(f"{k} {v:.0f} s" for k, v in stages.items()), flush=True)
    if args.rounds > 1:
        print(f"ratio median {statistics.median(ratios):.2f}x (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    return 0 if statistics.median(ratios) <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
