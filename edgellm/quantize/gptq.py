"""GPTQ for the ``int4`` recipe's float weights: 4-bit blockwise grids chosen with the calibration text's Hessians.

Round-to-nearest puts every weight on its nearest grid point independently. GPTQ (Frantar et al.) quantizes a
weight's input columns one at a time and moves the rounding error of each column onto the columns not yet
quantized, weighted by the inverse Hessian H = 2 X^T X of the layer's inputs X on calibration text, so that the
layer's *outputs* on that text move least. The algorithm is ai-edge-quantizer's own (``gptq._apply_gptq``, block
32 symmetric int4, 1% damping), on block scales from its OCTAV clip (rounded to bfloat16); what edgellm adds is
the Hessians. ai-edge-quantizer collects them by running the float flatbuffer, whose five signatures share every
weight (the decode signatures would each need their own calibration through the KV cache, and one weight would get
five grids). Here they come from the PyTorch model, one forward pass per calibration chunk with a hook on each
decoder linear layer, before conversion; layers that read the same input (q/k/v, gate/up) share one Hessian.
SmolLM2-135M from its float weights (benchmarks/experiments/llm_int4_float.py, perplexity ratio / top-1 against PyTorch):
1.135 / 79.7%, against 1.232 / 76.6% with each block's full range as its scale and 1.269 / 74.2% for OCTAV with
round to nearest.

The grid is then written back as float weights ``scale * k`` (exact in float32: a bfloat16 scale times an integer
in -8..7), the model is converted as usual, and the recipe's ``dequantized_weight_recovery`` rows read the same
scales and integers back out of the flatbuffer (the path a GGUF file's grid takes, edgellm.quantize.int4).
Recovery takes a block's scale as the smallest gap between its values' magnitudes and 0, which is the scale only if
two of them are one step apart (0 and 1 step, 6 and 7, ...); a block whose magnitudes are all at least 2 steps apart
(k in {0, +-2, +-5}, say) would read back with a wrong scale. Such a block gets its smallest nonzero weight moved
to +-1 step (``repaired_blocks`` in the report: 1 of SmolLM2-135M's 2.5 million blocks needed it).

The layers left out (``skip``: down_proj, the recipe's int8 budget) keep their float weights for the recipe's int8
row. This module imports torch at the top: only the convert path imports it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from edgellm.quantize.int4 import BLOCK, Q4Grid, _linears
from edgellm.errors import ConfigError, require

torch = require("torch", "convert")


@dataclass(frozen=True, kw_only=True)
class GptqConfig:
    """skip: module-name suffixes left as float weights (the recipe's int8 rows take them): down_proj, whose inputs
    carry SmolLM2's largest activation outliers, is the int4 recipe's budget of 25% of the linear weights.
    clip: see gptq_grid.
    (ai-edge-quantizer adds 1% of the Hessian's mean diagonal to its diagonal before inverting it: not a setting.)
    """

    skip: tuple[str, ...] = ("mlp.down_proj",)
    clip: bool = True  # block scales from OCTAV's clipped range (False: each block's max|w|)

    def __post_init__(self):
        if isinstance(self.skip, str) or not all(isinstance(s, str) and s for s in self.skip):
            raise ConfigError(f"GPTQ skip must be a tuple of module-name suffixes; got {self.skip!r}")
        if not isinstance(self.clip, bool):
            raise ConfigError(f"GPTQ clip must be True or False; got {self.clip!r}")
        object.__setattr__(self, "skip", tuple(self.skip))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "skip": list(self.skip)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GptqConfig":
        return cls(**{**data, "skip": tuple(data.get("skip", cls.skip))})


def gptq_layers(model, config: GptqConfig = GptqConfig(), exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Qualified name -> nn.Linear of the decoder blocks' linear layers GPTQ quantizes (all but ``config.skip``
    and ``exclude``)."""
    return {name: m for name, m in _linears(model) if not name.endswith(config.skip) and name not in exclude}


def input_hessians(model, chunks: Sequence[Sequence[int]], names: Sequence[str]
                   ) -> tuple[dict[str, str], dict[str, Any]]:
    """(module name -> the name of the module whose Hessian it shares, leader name -> H [in, in] float32).

    H = 2 / N * sum over the N calibration tokens of x x^T, x the module's input row. Modules called on the same
    input tensor in a forward pass (q/k/v on the normed hidden states) share their first module's H."""
    modules = dict(model.named_modules())
    leader: dict[str, str] = {}
    sums: dict[str, Any] = {}
    counts: dict[str, int] = {}
    seen: dict[int, tuple[Any, str]] = {}  # id(input tensor) -> (the tensor, kept alive so ids stay unique; leader)

    def record(name):
        def hook(module, args):
            x = args[0]
            first = seen.setdefault(id(x), (x, name))[1]
            leader.setdefault(name, first)
            if leader[name] != name:
                return
            rows = x.detach().reshape(-1, x.shape[-1]).float()
            sums[name] = rows.T @ rows + sums[name] if name in sums else rows.T @ rows
            counts[name] = counts.get(name, 0) + rows.shape[0]
        return hook

    hooks = [modules[n].register_forward_pre_hook(record(n)) for n in names]
    try:
        with torch.no_grad():
            for chunk in chunks:
                seen.clear()
                model(torch.tensor([list(chunk)]))
    finally:
        seen.clear()
        for h in hooks:
            h.remove()
    missing = sorted(set(names) - set(leader))
    if missing:
        raise ConfigError(f"GPTQ calibration never ran linear layer {missing[0]!r}; the model's forward pass does "
                          "not reach it")
    return leader, {n: (2.0 / counts[n]) * s for n, s in sums.items()}


def gptq_grid(weight: np.ndarray, hessian: np.ndarray, *, clip: bool = True) -> tuple[Q4Grid, int]:
    """(the symmetric block-32 int4 grid GPTQ picks for ``weight`` [out, in] given H [in, in], blocks repaired).

    Scales: each block's range clipped where OCTAV (ai-edge-quantizer's MSE-optimal clip) puts it, / 7, rounded to
    bfloat16 (ai-edge-quantizer's own symmetric scale; ``clip=False``: the block's max|w|). GPTQ then chooses the
    ints on that grid, moving the clipped and rounded parts of each column onto the columns still to come.
    See the module docstring for the repair."""
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithms.uniform_quantize import gptq, octav, uniform_quantize_tensor

    w = np.ascontiguousarray(weight, np.float32)
    rows, cols = w.shape
    if cols % BLOCK:
        raise ConfigError(f"GPTQ int4 quantizes blocks of {BLOCK} inputs; {cols} inputs do not divide into them")
    blocks = w.reshape(rows, cols // BLOCK, BLOCK)
    granularity = qtyping.QuantGranularity.BLOCKWISE_32
    limit = None
    if clip:
        limit = octav._guess_clipping_with_octav(blocks, 4, (2,), max_iterations=10, exponent_divisor=3.0)
        limit = limit.reshape(rows, cols // BLOCK)
    zp, scale = uniform_quantize_tensor.tensor_zp_scale_from_min_max(blocks.min(-1), blocks.max(-1), 4, True,
                                                                     granularity, clipping_values=limit)
    params = qtyping.UniformQuantParams(scale=scale, zero_point=zp, num_bits=4, symmetric=True,
                                        quantized_dimension=1, block_size=BLOCK)
    config = qtyping.TensorQuantizationConfig(num_bits=4, symmetric=True, granularity=granularity)
    h = np.array(hessian, np.float32)  # its own copy: the damping is written into it
    k = gptq._apply_gptq(w, params, {"hessian": h}, config).quantized_data
    k = k.astype(np.int8).reshape(rows, cols // BLOCK, BLOCK)
    repaired = _repair_unrecoverable(k, blocks / np.maximum(scale, 1e-12)[..., None])
    return Q4Grid(scale=scale.astype(np.float32), k=k.reshape(rows, cols), minimum=None), repaired


def _repair_unrecoverable(k: np.ndarray, steps: np.ndarray) -> int:
    """Move one weight of each block whose |k| values (with 0) have no two one step apart to +-1 step, in place:
    the one whose float value is nearest 0 among the nonzero ones (or any, in a block of zeros). k [rows, nb, 32]
    int8, steps: the float weights in steps of their block's scale. Returns how many blocks changed."""
    present = np.zeros(k.shape[:2] + (9,), bool)
    present[..., 0] = True
    np.put_along_axis(present, np.abs(k.astype(np.int16)).astype(np.intp), True, axis=-1)
    bad = ~np.any(present[..., :-1] & present[..., 1:], axis=-1)  # [rows, nb]
    for r, b in zip(*np.nonzero(bad)):
        cost = np.where(k[r, b] != 0, np.abs(steps[r, b]), np.inf)
        i = int(np.argmin(cost)) if np.isfinite(cost).any() else int(np.argmin(np.abs(steps[r, b])))
        k[r, b, i] = 1 if steps[r, b, i] >= 0 else -1
    return int(bad.sum())


def gptq_decoder(model, chunks: Sequence[Sequence[int]], config: GptqConfig = GptqConfig(),
                 exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Put the decoder linear layers of ``model`` (an HF causal LM, changed in place) on GPTQ's int4 grids.

    exclude: module names to leave (those with a GGUF file's own grid). Returns what the manifest records."""
    if not chunks:
        raise ConfigError("GPTQ needs calibration text; got no chunk of 2 tokens or more")
    t0 = time.perf_counter()
    linears = gptq_layers(model, config, exclude)
    leader, hessians = input_hessians(model, chunks, list(linears))
    repaired = 0
    with torch.no_grad():
        for lead, h in hessians.items():
            group = [n for n in linears if leader[n] == lead]  # q, k, v: one GPTQ call on their stacked rows
            stacked = np.concatenate([linears[n].weight.detach().float().numpy() for n in group])
            grid, fixed = gptq_grid(stacked, h.numpy(), clip=config.clip)
            repaired += fixed
            values, row = torch.from_numpy(grid.symmetric_weight()), 0
            for n in group:
                m = linears[n]
                m.weight.copy_(values[row:row + m.out_features])
                row += m.out_features
            hessians[lead] = None  # freed as it goes
    return {"method": "GPTQ", **config.to_dict(), "weights": len(linears), "hessians": len(hessians),
            "calibration_tokens": sum(len(c) for c in chunks), "repaired_blocks": repaired,
            "seconds": round(time.perf_counter() - t0, 1)}
