"""Export time and peak RSS of `edgellm export --task text-generation` at 0.5B, 1B and 1.7B parameters
(random-weight llama-family models), against the fp32 weight bytes (target for 1B int8-dynamic: <= 3x).
Prints the figures in benchmarks/README.md, "LLM exports at 0.5-1.7B parameters".

    python benchmarks/llm_scale.py WORK_DIR [--sizes 0.5B,1B,1.7B] [--recipes int8-dynamic]
        [--cache-length 256] [--prefill-lengths 32,128] [--plot scale.png] [--json scale.json]
        [--merge earlier.json ...]    (--sizes "" --merge a.json --merge b.json --plot p.png: plot earlier runs)

Models (built once into WORK_DIR/models/SIZE with save_pretrained, fp32 safetensors, random weights N(0, 0.02); the
SmolLM2 tokenizer and chat template from the packaged GGUF, so the vocabulary is 49152 and tied to the embedding):

    0.5B  hidden 1024, intermediate 4096, 28 layers, 16 heads, 4 KV heads  (SmolLM2-360M-like, deeper)
    1B    hidden 2048, intermediate 8192, 16 layers, 32 heads, 8 KV heads  (Llama-3.2-1B's body)
    1.7B  hidden 2048, intermediate 8192, 24 layers, 32 heads, 32 KV heads (SmolLM2-1.7B's shapes)

Each export runs in its own process (benchmarks/llm_export_memory.py's `run`: peak = max of the process tree's
summed RSS sampled every 50 ms and wait4's ru_maxrss), validation on, as a user runs it, with
--allow-validation-failure: random weights give near-flat next-token distributions, whose top-1 agreement fails
the LLM gates (0.5B: chat top-1 0.854 < 0.90) while KL stays tiny, so the export is written and marked not passed. Per export: wall time, peak,
peak / fp32 weight bytes, the exporter's own estimate before it started (`export.estimated_peak_bytes`) and the
per-stage seconds from the manifest (`export.stage_seconds`). An export the exporter refuses for memory (exit 2)
is reported with its one-line message. Decode tokens/s of the exports against the bandwidth bound:

    python benchmarks/llm_decode.py WORK_DIR/exports/1B-int8-dynamic --modes compiled --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from llm_export_memory import fp32_weight_bytes, run, smollm2_gguf  # noqa: E402

SHAPES = {
    "0.5B": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=4),
    "1B": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8),
    "1.7B": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                 num_key_value_heads=32),
}


def build(size: str, folder: Path) -> Path:
    """A random-weight LlamaForCausalLM of ``size`` with SmolLM2's tokenizer, saved once into ``folder``."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192, rms_norm_eps=1e-5,
                         rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, torch_dtype="float32", **SHAPES[size])
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    tmp = folder.with_name(folder.name + ".partial")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.rename(folder)
    return folder


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("work", type=Path)
    p.add_argument("--sizes", default="0.5B,1B,1.7B")
    p.add_argument("--recipes", default="int8-dynamic")
    p.add_argument("--cache-length", default="256")
    p.add_argument("--prefill-lengths", default="32,128")
    p.add_argument("--plot", type=Path, default=None, help="PNG: peak RSS and export time against parameters")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--merge", type=Path, action="append", default=[],
                   help="a --json file of an earlier run: its rows join this run's table, plot and --json (a size "
                        "and recipe exported again here replaces the earlier row); repeatable")
    args = p.parse_args()
    rows = []
    for earlier in args.merge:
        try:
            rows += json.loads(earlier.read_text())
        except (OSError, ValueError) as e:
            p.error(f"--merge {earlier}: not a --json file of this script ({e})")
    sizes = args.sizes.split(",") if args.sizes else []
    for size in sizes:
        if size not in SHAPES:
            p.error(f"unknown size {size!r}; choose from {', '.join(SHAPES)}")
        folder = build(size, args.work / "models" / size)
        weights = fp32_weight_bytes(folder)
        for recipe in args.recipes.split(","):
            out = args.work / "exports" / f"{size}-{recipe}"
            cmd = [sys.executable, "-m", "edgellm", "export", "--model", str(folder), "--task", "text-generation",
                   "--quantize", recipe, "--cache-length", args.cache_length, "--prefill-lengths",
                   args.prefill_lengths, "--allow-validation-failure", "--overwrite", str(out)]
            log = args.work / "exports" / f"{size}-{recipe}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w") as fh:
                seconds, tree, single, code = run(cmd, stderr=fh)
            peak = max(tree, single) * 1e9
            row = {"size": size, "recipe": recipe, "params": weights // 4, "fp32_weight_bytes": weights,
                   "exit_code": code, "seconds": round(seconds, 1), "peak_rss_bytes": int(peak),
                   "peak_over_weights": round(peak / weights, 2)}
            manifest = out / "edgellm.json"
            if code in (0, 1) and manifest.is_file():  # 1: validation failed (random weights), written
                data = json.loads(manifest.read_text())
                stats = data.get("export", {})
                row.update(estimated_peak_bytes=stats.get("estimated_peak_bytes"),
                           stage_seconds=stats.get("stage_seconds", {}), file_bytes=(out / "model.tflite").stat().st_size,
                           validation={k: data.get("validation", {}).get(k) for k in ("passed", "failures")})
            elif code != 0:  # the one-line reason (a memory refusal names the size it needs)
                err = log.read_text(errors="replace").strip().splitlines()
                row["error"] = err[-1] if err else f"exit {code}"
            rows = [r for r in rows if (r["size"], r["recipe"]) != (size, recipe)] + [row]
            est = row.get("estimated_peak_bytes")
            print(f"{size:>5} {recipe:<13} {row['params'] / 1e9:5.2f}B params  exit {code}  {seconds:7.0f} s  "
                  f"peak {peak / 1e9:5.2f} GB = {peak / weights:4.2f}x the fp32 weights"
                  + (f" (estimated {est / 1e9:.2f} GB)" if est else "")
                  + (f"\n      stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in row["stage_seconds"].items())
                     if row.get("stage_seconds") else "")
                  + (f"\n      {row['error']}" if row.get("error") else ""), flush=True)
    rows.sort(key=lambda r: (r["recipe"], r["params"]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.plot:
        plot(rows, args.plot)
    return 0 if all(r["exit_code"] in (0, 1) for r in rows) else 1


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, wall) = plt.subplots(1, 2, figsize=(10, 4))
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        done = [r for r in rows if r["recipe"] == recipe and r["exit_code"] in (0, 1)]
        x = [r["params"] / 1e9 for r in done]
        mem.plot(x, [r["peak_rss_bytes"] / 1e9 for r in done], "o-", label=f"{recipe} peak RSS")
        wall.plot(x, [r["seconds"] / 60 for r in done], "o-", label=recipe)
    xs = sorted({r["params"] / 1e9 for r in rows})
    mem.plot(xs, [3 * 4 * x for x in xs], "k--", label="3x fp32 weights")
    mem.set(xlabel="parameters (billions)", ylabel="peak RSS (GB)", title="export peak memory")
    wall.set(xlabel="parameters (billions)", ylabel="minutes", title="export wall time (validation on)")
    mem.legend()
    wall.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
