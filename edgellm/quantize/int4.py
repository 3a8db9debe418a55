"""PyTorch side of the ``int4`` recipe: every linear layer of the decoder blocks becomes a 4-bit blockwise weight
(block 32 along the input dimension), and a GGUF file's own 4-bit grid is carried over without loss.

llama.cpp's Q4_1 stores each block of 32 weights of a row as ``W = d * q + m`` (``d``, ``m`` float16, ``q`` in
0..15): an asymmetric grid, while ai-edge-quantizer's and XNNPACK's blockwise int4 is symmetric (``s * k``, ``k`` in
-8..7). The block splits exactly:

    W = d * (q - 8) + c,      c = m + 8 * d
    y = W @ x = sum_b d_b * (q_b - 8) @ x_b  +  sum_b c_b * sum(x_b)
              = W_sym @ x                    +  C @ blocksum(x)        # C: [out, in / 32], float

``W_sym`` has exactly 16 values a block, all multiples of ``d``, and ai-edge-quantizer's
``dequantized_weight_recovery`` finds ``d`` and ``k = q - 8`` from them (the recipe row ``grid``), so the int4
numbers of the flatbuffer are the file's own. Worked example, one block of 4 (block 32 in reality) with d = 0.5,
m = -2: q = [0, 3, 15, 8] -> W = [-2, -0.5, 5.5, 2]; W_sym = 0.5 * [-8, -5, 7, 0] = [-4, -2.5, 3.5, 0];
c = -2 + 4 = 2; for x = [1, 1, 1, 1]: W_sym @ x = -3 and c * sum(x) = 8, total 5 = W @ x.
Q4_0 (``W = d * (q - 8)``) needs no offset.

Two roundings remain and are reported: ai-edge-quantizer stores the block scales as float16 rounded to bfloat16
(XNNPACK's blockwise kernels read bfloat16 scales: ``d`` moves by at most 2^-9 of itself), and XNNPACK quantizes
the activations of int4 layers to int8 per row at run time (dynamic range; smoothed first by powers of two per
block, which Q4Grid.scaled carries onto the grids exactly: edgellm.quantize.smooth). The grids come from a
GGUF file's raw Q4_0/Q4_1 blocks, or, for a HF folder, are recovered from float weights that were dequantized from
Q4_1 (recover_q4_grid); layers without one (float weights, GGUF tensors of other types) are put on grids by GPTQ first
(edgellm.quantize.gptq), which the same recipe row reads back.

This module imports torch at the top: only the convert path imports it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgellm.errors import ConfigError, ModelFileError, require

torch = require("torch", "convert")

BLOCK = 32  # llama.cpp's Q4_0/Q4_1 block and the recipe's BLOCKWISE_32
# llama.cpp tensor name (blk.<i>.<name>.weight) -> the HF modules it may be (phi3 fuses q/k/v and gate/up)
_GGUF_LINEARS = {"attn_q": ("self_attn.q_proj",), "attn_k": ("self_attn.k_proj",), "attn_v": ("self_attn.v_proj",),
                 "attn_qkv": ("self_attn.qkv_proj",), "attn_output": ("self_attn.o_proj",),
                 "ffn_gate": ("mlp.gate_proj",), "ffn_up": ("mlp.up_proj", "mlp.gate_up_proj"),
                 "ffn_down": ("mlp.down_proj",)}
_Q4_TYPES = ("Q4_0", "Q4_1")


@dataclass(frozen=True)
class Q4Grid:
    """One weight's 4-bit grid: W[r, b*32 + j] = scale[r, b] * (k[r, b*32 + j] + 8) + minimum[r, b] (Q4_1), or
    scale[r, b] * k[r, b*32 + j] (Q4_0)."""

    scale: np.ndarray  # float32 [rows, in / 32] (float16 values)
    k: np.ndarray  # int8 [rows, in], -8..7 (llama.cpp's q - 8)
    minimum: np.ndarray | None  # float32 [rows, in / 32]; None for a symmetric grid (Q4_0)

    @property
    def kind(self) -> str:
        return "Q4_0" if self.minimum is None else "Q4_1"

    @property
    def offset(self) -> np.ndarray | None:
        """c = m + 8 d per block, float32 [rows, in / 32]: what the block sums of x are multiplied by."""
        return None if self.minimum is None else (self.minimum + 8 * self.scale).astype(np.float32)

    def _blocks(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0], -1, BLOCK)

    def symmetric_weight(self) -> np.ndarray:
        """scale * k, float32 [rows, in]: exact (an 11-bit float16 scale times a 4-bit integer)."""
        return (self.scale[:, :, None] * self._blocks(self.k)).reshape(self.k.shape).astype(np.float32)

    def dequantized(self) -> np.ndarray:
        """The float weight as llama.cpp and transformers' GGUF loader dequantize it (d * q + m, float32)."""
        if self.minimum is None:
            return self.symmetric_weight()
        q = self._blocks(self.k).astype(np.float32) + 8
        return (self.scale[:, :, None] * q + self.minimum[:, :, None]).reshape(self.k.shape)

    def scaled(self, rows: np.ndarray | None = None, columns: np.ndarray | None = None) -> "Q4Grid":
        """The grid of the weight with row r multiplied by rows[r] and input column j by columns[j]: the same ints,
        scales and minimums multiplied. Exact (dequantized() equals the scaled weight bit for bit) for the factors
        int4's smoothing uses, powers of two, constant over each block of columns; ConfigError for others."""
        factor = np.ones(self.scale.shape, np.float32)
        for name, f, axis in (("rows", rows, 1), ("columns", columns, 0)):
            if f is None:
                continue
            f = np.asarray(f, np.float32)
            if name == "columns":
                blocks = f.reshape(-1, BLOCK)
                if not np.array_equal(blocks, np.repeat(blocks[:, :1], BLOCK, axis=1)):
                    raise ConfigError(f"a 4-bit grid's columns scale exactly only by one factor per block of {BLOCK}")
                f = blocks[:, 0]
            mantissa, _ = np.frexp(f)
            if not np.all(mantissa == 0.5):
                raise ConfigError("a 4-bit grid scales exactly only by powers of two")
            factor *= np.expand_dims(f, axis)
        return Q4Grid(scale=self.scale * factor, k=self.k,
                      minimum=None if self.minimum is None else self.minimum * factor)

    def rows(self, order: np.ndarray) -> "Q4Grid":
        return Q4Grid(scale=self.scale[order], k=self.k[order],
                      minimum=None if self.minimum is None else self.minimum[order])


def q4_grid_from_blocks(d: np.ndarray, q: np.ndarray, m: np.ndarray | None) -> Q4Grid:
    """Q4Grid of a Q4_1 (``m`` given) or Q4_0 weight: d, m float [rows, in / 32], q integers 0..15 [rows, in]."""
    k = (np.asarray(q).astype(np.int16) - 8).astype(np.int8)
    return Q4Grid(scale=np.asarray(d, np.float32), k=k, minimum=None if m is None else np.asarray(m, np.float32))


def read_gguf_q4_grids(path: str | Path) -> dict[str, Q4Grid]:
    """The Q4_0 / Q4_1 weights of a GGUF file, by llama.cpp tensor name, read from their raw blocks.

    Q4_1 block (20 bytes): d float16, m float16, 16 bytes of nibbles (low nibbles are elements 0..15, high ones
    16..31); Q4_0 block (18 bytes): d float16 and the nibbles.
    """
    gguf = require("gguf", "convert")
    reader = gguf.GGUFReader(str(path))
    grids = {}
    for t in reader.tensors:
        kind = t.tensor_type.name
        if kind not in _Q4_TYPES:
            continue
        raw = np.asarray(t.data, np.uint8)
        head = 4 if kind == "Q4_1" else 2
        blocks = raw.reshape(raw.shape[0], -1, head + BLOCK // 2)  # [rows, in / 32, bytes]
        d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
        m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32) if kind == "Q4_1" else None
        nibbles = blocks[..., head:]
        q = np.concatenate([nibbles & 15, nibbles >> 4], axis=-1).reshape(raw.shape[0], -1)
        grids[t.name] = q4_grid_from_blocks(d, q, m)
    return grids


def _match_rows(grid: Q4Grid, weight: np.ndarray) -> Q4Grid | None:
    """The grid with its rows in the order of ``weight`` (transformers permutes llama's q/k rows when it loads a
    GGUF), or None unless every row of ``weight`` is bit for bit a row of the dequantized grid."""
    deq = grid.dequantized()
    if deq.shape != weight.shape:
        return None
    rows = {deq[r].tobytes(): r for r in range(deq.shape[0])}
    order = [rows.get(weight[r].tobytes(), -1) for r in range(weight.shape[0])]
    if min(order) < 0:
        return None
    return grid.rows(np.asarray(order))


class Int4SplitLinear(torch.nn.Module):
    """``y = grid(x) + block_offset(blocksum(x))``: a symmetric 4-bit grid weight plus per-block offsets.

    x [..., in] -> blocksum(x) [..., in / 32] -> block_offset (weight C [out, in / 32]) -> [..., out].
    The names ``grid`` and ``block_offset`` are what the int4 recipe's rows match in the flatbuffer.
    """

    def __init__(self, linear: torch.nn.Linear, grid: Q4Grid):
        super().__init__()
        out_features, in_features = linear.weight.shape
        self.grid = torch.nn.Linear(in_features, out_features, bias=linear.bias is not None)
        self.grid.weight.data = torch.from_numpy(grid.symmetric_weight())
        if linear.bias is not None:
            self.grid.bias.data = linear.bias.data
        self.block_offset = None
        if grid.offset is not None:
            self.block_offset = torch.nn.Linear(in_features // BLOCK, out_features, bias=False)
            self.block_offset.weight.data = torch.from_numpy(grid.offset)

    def forward(self, x):
        y = self.grid(x)
        if self.block_offset is None:
            return y
        sums = x.reshape(*x.shape[:-1], x.shape[-1] // BLOCK, BLOCK).sum(-1)  # [..., in / 32]
        return y + self.block_offset(sums)


def _linears(model) -> list[tuple[str, Any]]:
    """(qualified name, module) of every nn.Linear in the decoder blocks (the layers int4 quantizes)."""
    return [(f"model.layers.{name}", m) for name, m in model.model.layers.named_modules()
            if isinstance(m, torch.nn.Linear)]


def check_int4_blocks(model) -> None:
    """ConfigError unless the block (32) divides the input size of every linear layer int4 quantizes (and the
    model keeps its decoder blocks in ``model.layers``, where int4 and GPTQ look for them: not GPT-2)."""
    if not hasattr(getattr(model, "model", None), "layers"):
        raise ConfigError(f"int4 quantizes the decoder blocks of the llama-style families; "
                          f"{model.config.model_type} keeps its own layout: use --quantize int8-dynamic")
    for name, m in _linears(model):
        if m.in_features % BLOCK:
            raise ConfigError(f"int4 quantizes in blocks of {BLOCK} along each linear layer's input, which does not "
                              f"divide {name}'s input size {m.in_features}; use --quantize int8-dynamic for this model")


def gguf_module_grids(model, gguf_path: str | Path) -> dict[str, Q4Grid]:
    """The 4-bit grids of ``model``'s decoder linears read from the GGUF file it was loaded from, by qualified
    module name; a weight is taken only when its float values are, row for row, the grid's."""
    grids = read_gguf_q4_grids(gguf_path)
    modules = dict(_linears(model))
    found: dict[str, Q4Grid] = {}
    for gname, grid in grids.items():
        parts = gname.split(".")  # blk.<i>.<name>.weight
        if len(parts) != 4 or parts[0] != "blk" or parts[2] not in _GGUF_LINEARS:
            continue
        for hf in _GGUF_LINEARS[parts[2]]:
            name = f"model.layers.{parts[1]}.{hf}"
            if name in modules:
                matched = _match_rows(grid, modules[name].weight.detach().numpy())
                if matched is not None:
                    found[name] = matched
                break
    if grids and not found:
        raise ModelFileError(f"{str(gguf_path)!r} has {len(grids)} Q4_0/Q4_1 tensors but none matches a linear "
                             "layer of the loaded model; report it with the file's name")
    return found


def recover_q4_grid(weight: np.ndarray) -> Q4Grid | None:
    """The Q4_1 grid behind float weights that were dequantized from one (a HF folder saved from a GGUF model),
    or None: per block of 32, m = the minimum, d = float16((max - min) / n) for the largest n in 15..1 such that
    float32(d * q + m) reproduces every value bit for bit with q = round((w - m) / d) in 0..15. Float weights
    that were never 4-bit fail at once (more than 16 values in a block)."""
    w = np.asarray(weight, np.float32)
    rows, cols = w.shape
    if cols % BLOCK:
        return None
    blocks = w.reshape(rows, -1, BLOCK)
    probe = np.sort(blocks[:8], axis=-1)
    if ((np.diff(probe, axis=-1) > 0).sum(-1) + 1).max() > 16:
        return None
    lo, hi = blocks.min(-1), blocks.max(-1)  # [rows, nb]
    m = lo.astype(np.float16).astype(np.float32)
    if not np.array_equal(m, lo):
        return None
    d = np.zeros_like(lo)
    q = np.zeros(blocks.shape, np.uint8)
    todo = hi > lo  # constant blocks: d = 0, q = 0, m = the value
    for n in range(15, 0, -1):
        if not todo.any():
            break
        dn = ((hi - lo) / n).astype(np.float16).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            qn = np.clip(np.rint((blocks - m[..., None]) / dn[..., None]), 0, 15)
        ok = todo & np.all(dn[..., None] * qn + m[..., None] == blocks, axis=-1) & (dn > 0)
        d[ok], q[ok] = dn[ok], qn[ok].astype(np.uint8)
        todo &= ~ok
    if todo.any():
        return None
    return q4_grid_from_blocks(d, q.reshape(rows, cols), m)


def recovered_module_grids(model) -> dict[str, Q4Grid]:
    """The Q4_1 grids recovered from ``model``'s decoder linears where every block has one (recover_q4_grid)."""
    found = {}
    for name, m in _linears(model):
        grid = recover_q4_grid(m.weight.detach().numpy())
        if grid is not None:
            found[name] = grid
    return found


def prepare_int4(model, grids: dict[str, Q4Grid]) -> tuple[Any, dict[str, Any]]:
    """(the module to convert, a report): ``model`` with each decoder linear named in ``grids`` replaced by an
    Int4SplitLinear. ``model`` itself is left as it is (it stays the float reference); parameters are shared."""
    check_int4_blocks(model)
    modules = dict(_linears(model))
    unknown = sorted(set(grids) - set(modules))
    if unknown:
        raise ConfigError(f"no decoder linear layer named {unknown[0]!r}; grids are keyed by names such as "
                          f"{next(iter(modules))!r}")
    export = _replaced(model, {name: Int4SplitLinear(modules[name], g) for name, g in grids.items()})
    kinds: dict[str, int] = {}
    for g in grids.values():
        kinds[g.kind] = kinds.get(g.kind, 0) + 1
    others = sorted(set(modules) - set(grids))
    return export, {"block_size": BLOCK, "grid_weights": kinds, "data_driven_weights": len(others),
                    **({"data_driven_first": others[:8]} if others else {})}


def _replaced(model, new: dict[str, Any]):
    """A shallow copy of ``model`` whose modules at the qualified names in ``new`` are replaced; every module on
    the way is copied (its own _modules dict), so ``model`` is untouched and the other parameters are shared."""
    if not new:
        return model
    root = _copy_module(model)
    for name, module in new.items():
        *path, leaf = name.split(".")
        parent = root
        for part in path:
            child = parent._modules[part]
            if not getattr(child, "_edgellm_copy", False):
                child = _copy_module(child)
                parent._modules[part] = child
            parent = child
        parent._modules[leaf] = module
    return root


def _copy_module(module):
    c = copy.copy(module)
    c._modules = dict(module._modules)
    c._edgellm_copy = True
    return c


def block_offsets(module) -> dict[str, tuple]:
    """{layer name: (symmetric 4-bit grid weight [out, in], block offsets C [out, in / 32])} of the Q4_0/Q4_1 split
    layers (Int4SplitLinear) in ``module``, the prepared model the export converts (None when the recipe prepared
    no module: no such layer). Validation's simulation splits the same layers the same way."""
    if module is None:
        return {}
    return {name: (m.grid.weight.detach(), m.block_offset.weight.detach()) for name, m in module.named_modules()
            if isinstance(m, Int4SplitLinear) and m.block_offset is not None}
