"""The export's int8 activation rounding, simulated in PyTorch on every path a device may take, so that a recipe
whose answers hold on the export machine's CPU only fails validation here too.

int8-dynamic and int4 exports round each linear layer's input row to int8 at run time. What that rounding is
(read in XNNPACK's source; measured with benchmarks/experiments/int8_rounding_paths.py):

  xnnpack         XNNPACK's qd8 rule, the same on x86 AVX2 (signed), AVX-512 VNNI (unsigned, zero point +128,
                  taken back exactly by the packed k-sums) and ARM dot-product kernels (signed): per-row range
                  widened to include 0, float32 multiplier 255 / range, nudged zero point, round half to even
  tflite-builtin  TFLite's own kernels (XNNPACK off, or ops it does not take): double-precision range / 255,
                  zero point from the side with the smaller error, round half away from zero
  jitter-<s>      the xnnpack rule on inputs moved by about one float32 ulp, a fixed hash of each value and the
                  seed s: a stand-in for another CPU's float kernels (FMA vs multiply-add, other summation orders)
                  that put the same activations a ulp away, and then across int8 grid steps

On SmolLM2-135M int8-dynamic, the jitter paths spread the first-token margin of "What is the capital of France?"
by +-0.24 (std over 8 seeds): the kernel-independent question is whether answers hold over that spread.

The model simulated is the prepared float model (smoothed, int4 weights on their grids) with each linear layer's
weight as the recipe stores it: on a 4-bit grid already (int4: GGUF grids and GPTQ's) the values as they are,
otherwise int8 per output channel (symmetric, max|w| / 127), and the tied embedding table int8 per row. The
layers' outputs are (int8 input x int8 weight) integer sums times both scales, as the kernels compute them.
A Q4_1 grid is split as the export splits it: the symmetric part on the rounded input, the per-block offsets (a
float FULLY_CONNECTED in the export) on the float input's block sums.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from edgellm.errors import require

SIMULATED_RECIPES = ("int8-dynamic", "int4")  # the recipes whose activations are rounded to int8 at run time
JITTER_SEEDS = 2  # jitter-0 .. jitter-(JITTER_SEEDS - 1) beside the two exact paths


def xnnpack_qd8(x):
    """x [..., K] float32 -> (q - zero point) as float32 integers [..., K], dequantization scale [..., 1]."""
    torch = require("torch", "convert")
    rmin = x.amin(-1, keepdim=True).clamp_max(0)
    rmax = x.amax(-1, keepdim=True).clamp_min(0)
    same = rmin == rmax
    scale = torch.where(same, torch.ones_like(rmin), torch.tensor(255.0, dtype=torch.float32) / (rmax - rmin))
    dmin, dmax = rmin * scale, rmax * scale
    zp = torch.where((-128.0 + dmin) + (127.0 + dmax) > 0, -128.0 - dmin, 127.0 - dmax).clamp(-128, 127).round()
    q = (torch.round(x * scale) + zp).clamp(-128, 127)
    return q - zp, 1.0 / scale


def tflite_builtin_qd8(x):
    """TFLite's PortableAsymmetricQuantizeFloats: double range / 255, round half away from zero."""
    torch = require("torch", "convert")
    xd = x.double()
    rmin = xd.amin(-1, keepdim=True).clamp_max(0)
    rmax = xd.amax(-1, keepdim=True).clamp_min(0)
    same = rmin == rmax
    scale = torch.where(same, torch.ones_like(rmin), (rmax - rmin) / 255.0)
    zmin, zmax = -128.0 - rmin / scale, 127.0 - rmax / scale
    zp = torch.where(128.0 + (rmin / scale).abs() < 127.0 + (rmax / scale).abs(), zmin, zmax)
    zp = torch.where(zp <= -128, -128.0, torch.where(zp >= 127, 127.0, torch.sign(zp) * torch.floor(zp.abs() + 0.5)))
    y = zp.float() + x * (1.0 / scale.float())
    q = (torch.sign(y) * torch.floor(y.abs() + 0.5)).clamp(-128, 127)
    zp = torch.where(same, torch.zeros_like(zp), zp).float()
    return q - zp, scale.float()


def jittered_qd8(seed: int) -> Callable:
    """The xnnpack rule on x * (1 + h * 2**-22), h in [-1, 1) a murmur3 hash of the value's bits and the seed: the
    same value moves the same way in every call, as on a deterministic CPU."""
    torch = require("torch", "convert")

    def path(x):
        v = (x.contiguous().view(torch.int32).to(torch.int64) + (seed + 1) * 0x9E3779B9) & 0xFFFFFFFF
        for mul, shift in ((0x85EBCA6B, 13), (0xC2B2AE35, 16)):  # murmur3's finaliser (int64: low bits exact)
            v = (v ^ (v >> 16)) * mul & 0xFFFFFFFF
            v = v ^ (v >> shift)
        h = v.to(torch.float32) / 2 ** 31 - 1
        return xnnpack_qd8(x * (1 + h * 2.0 ** -22))

    return path


def rounding_paths(jitter_seeds: int = JITTER_SEEDS) -> dict[str, Callable]:
    return {"xnnpack": xnnpack_qd8, "tflite-builtin": tflite_builtin_qd8,
            **{f"jitter-{s}": jittered_qd8(s) for s in range(jitter_seeds)}}


def on_4bit_grid(weight, block: int = 32) -> bool:
    """Whether every block of ``block`` inputs of every row holds at most 16 distinct values (a 4-bit grid)."""
    rows, cols = weight.shape
    if cols % block:
        return False
    b = weight.detach().reshape(rows, cols // block, block).sort(-1).values
    return bool(((b[..., 1:] != b[..., :-1]).sum(-1) <= 15).all())


def _int8_channelwise(weight):
    torch = require("torch", "convert")
    scale = (weight.abs().amax(1) / 127).clamp_min(torch.finfo(torch.float32).tiny)
    return torch.round(weight / scale[:, None]).clamp(-127, 127), scale


@contextmanager
def simulated(model, recipe: str, offsets: dict[str, tuple] | None = None) -> Iterator[Callable[[Callable], None]]:
    """``model`` (an HF causal LM, float) computing as the ``recipe`` export does; yields ``use(path)`` that picks
    the rounding path. ``offsets`` (``quantize.int4.block_offsets``): the layers the export splits into a symmetric
    grid, whose input is rounded, and a float FULLY_CONNECTED of per-block offsets on the float input's block sums
    (the int4 recipe leaves it unquantized). The model's weights and forwards are restored on exit."""
    torch = require("torch", "convert")
    int4 = recipe == "int4"
    offsets = offsets or {}
    path = [xnnpack_qd8]
    layers, restore = {}, []
    embed = model.get_input_embeddings()
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is embed.weight
    saved_embed = embed.weight.data
    for name, m in model.named_modules():
        if not isinstance(m, torch.nn.Linear):
            continue
        w = m.weight.detach()
        if int4 and name in offsets:
            layers[name] = (offsets[name][0], None)  # the symmetric grid; the offsets below
        elif int4 and m is not head and on_4bit_grid(w):
            layers[name] = (w, None)  # the grid values; the export recovers the same ints and scales
        else:
            layers[name] = _int8_channelwise(w)

        def forward(x, _name=name, _m=m):
            wq, ws = layers[_name]
            qx, a_scale = path[0](x)
            if ws is None:
                out = (qx @ wq.T) * a_scale
            else:
                out = ((qx @ wq.T) * a_scale) * ws  # integer sums (exact in float32 below 2**24), then scales
            if _name in offsets:
                c = offsets[_name][1]
                out = out + x.reshape(*x.shape[:-1], c.shape[1], -1).sum(-1) @ c.T
            return out if _m.bias is None else out + _m.bias

        restore.append((m, m.__dict__.get("forward")))
        m.forward = forward
    if tied:
        wq, ws = layers[next(n for n, m in model.named_modules() if m is head)]
        embed.weight.data = wq * ws[:, None]  # the lookup reads the int8 table, dequantized per row
    else:
        embed.weight.data = (lambda q, s: q * s[:, None])(*_int8_channelwise(embed.weight.detach()))

    def use(p: Callable) -> None:
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


@dataclass(frozen=True)
class SimulatedPath:
    name: str
    chat_top1: float
    chat_kl: float
    first_tokens: tuple[tuple[bool, float], ...]  # per chat prompt: (same first token as PyTorch, PyTorch margin)
    quiz_correct: int | None  # None: no quiz

    def to_dict(self) -> dict:
        return {"name": self.name, "chat_top1": self.chat_top1, "chat_kl": self.chat_kl,
                "first_token_same": [s for s, _ in self.first_tokens], "quiz_correct": self.quiz_correct}


def simulate(model, recipe: str, expected, tokenizer, *, paths: dict[str, Callable] | None = None,
             offsets: dict[str, tuple] | None = None,
             progress: Callable[[str], None] | None = None) -> list[SimulatedPath]:
    """Teacher-forced chat figures and greedy quiz answers of ``model`` (the prepared float model) under each
    rounding path, against ``expected`` (validate.decoder.reference_outputs of the float model); ``offsets``:
    ``quantize.int4.block_offsets`` of the module the export converts."""
    torch = require("torch", "convert")
    from edgellm.validate.decoder import QUIZ_REPLY_TOKENS, _kl, _margin, _until_stop, batched_greedy
    from edgellm.validate.quiz import score

    results = []
    with torch.no_grad(), simulated(model, recipe, offsets) as use:
        for name, path in (paths or rounding_paths()).items():
            use(path)
            same_all, kl_all, first = [], [], []
            for ids, want, ref in zip(expected.chat_prompt_ids, expected.chat_greedy, expected.chat_logits):
                reply = _until_stop(want, expected.stop_ids)
                got = model(torch.tensor([list(ids) + list(reply[:-1])])).logits[0, len(ids) - 1:].float().numpy()
                same = ref.argmax(-1) == got.argmax(-1)
                same_all.append(same)
                kl_all.append(_kl(ref, got))
                first.append((bool(same[0]), _margin(ref[0])))
            quiz_correct = None
            if expected.quiz:
                answers = [_until_stop(a, expected.stop_ids)
                           for a in batched_greedy(model, expected.quiz_prompt_ids, QUIZ_REPLY_TOKENS)]
                text = [tokenizer.decode(list(a), skip_special_tokens=True) for a in answers]
                quiz_correct = score(text, expected.quiz)["correct"]
            results.append(SimulatedPath(
                name=name,
                chat_top1=float(np.mean(np.concatenate(same_all))) if same_all else 1.0,
                chat_kl=float(np.mean(np.concatenate(kl_all))) if kl_all else 0.0,
                first_tokens=tuple(first), quiz_correct=quiz_correct))
            if progress is not None:
                progress(f"simulated {name}")
    return results


def simulation_metrics(results: Sequence[SimulatedPath], chat_prompts: Sequence[str]) -> dict:
    """The manifest's ``validation.metrics.simulated``: every path's figures and the worst of each."""
    from edgellm.validate.decoder import NEAR_TIE_MARGIN

    forks = sorted({(p, r.name) for r in results for p, (same, margin) in zip(chat_prompts, r.first_tokens)
                    if not same and margin >= NEAR_TIE_MARGIN})
    quiz = [r.quiz_correct for r in results if r.quiz_correct is not None]
    return {"paths": [r.to_dict() for r in results],
            "chat_top1_min": min(r.chat_top1 for r in results), "chat_kl_max": max(r.chat_kl for r in results),
            "quiz_correct_min": min(quiz) if quiz else None,
            "first_token_forks": [{"prompt": p, "path": name} for p, name in forks],
            "near_ties": sorted({p for r in results for p, (same, margin) in zip(chat_prompts, r.first_tokens)
                                 if not same and margin < NEAR_TIE_MARGIN})}
