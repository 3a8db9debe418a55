"""PyTorch side of decoder export: an HF causal LM re-wired around an external KV cache.

``DecoderForExport`` is both what litert-torch traces (once per signature) and a reference that validation can
run in PyTorch. It calls the HF model's own modules (embedding, norms, projections, rotary embedding, MLP, head)
and replaces only attention + cache handling, so what is exported is the HF model's math.

The cache is not updated inside the graph. Each call gets the cache as it is (valid rows [0, start)) and returns
only the K/V rows of its T new tokens; the runtime writes those rows into the cache in place. Prefill and decode
copy no cache-sized tensor, in the graph or the runtime (verify_<T> builds one V sum per layer, below). Attention
of a query at position start + t is over the valid cache rows and the new rows 0..t:

    scores = [q @ K_cache^T  (masked j >= start) | q @ K_new^T  (causal)]     # [kvh, g*T, C + T]
    out    = softmax(scores)[..., :C] @ V_cache + softmax(scores)[..., C:] @ V_new

verify_<T> (speculative decoding's check of T - 1 draft tokens) must give each row the logits and K/V that decode
gives at that row's position, bit for bit: a last-bit difference moves an int8 export's rounding in the next layer
and, at a near tie, the greedy text. The formula above adds row t's earlier new rows at the end, decode finds them
in the cache: the same numbers summed in another order. So verify scatters the new rows to their cache positions
(exact products with a one-hot [T, C]) and keeps each row's own key in a last column, as decode does:

    scores_t = [q_t @ K^T  (K: cache with new rows 0..T-1 at their positions; masked j >= input_pos[t]) | q_t . k_t]
    out_t    = softmax(scores_t)[:C] @ V + softmax(scores_t)[C] * v_t                  # [kvh, g*T, C + 1]

The scatter adds the new rows onto the cache, so verify_<T> takes a contract that prefill and decode do not: cache
rows [input_pos[0], input_pos[0] + T) hold zeros when it is called (x + 0 is x bit for bit). The runners zero them
(``LlmRunner.verify``, the Android session's ``verify``); rejected draft rows would otherwise sit there. Clearing
them in the graph instead (a multiply of both caches by a 0/1 mask) cost 2.1 ms of a 15.3 ms verify_2 in SmolLM2's
attention shapes (benchmarks/experiments/verify_layouts.py).

With ``window`` W < C (the decode_<W> signatures) both caches are first sliced to their first W positions, and C in
the formulas above is W: a step pays for the positions the conversation can have filled, not for the whole cache.
A sliding-window layer (window S: gemma2/3's local layers, mistral, qwen2, phi3) masks every key more than S - 1
positions before its query as well, as transformers' sliding-window mask does; gemma2 soft-caps the scores
(cap * tanh(s / cap)) before masking, and its logits at the end.

Shapes (T new tokens, C cache length, H query heads, kvh KV heads, g = H / kvh, D head dim, V vocabulary):
    tokens     int32 [1, T]           input_pos  int32 [T] (start, start + 1, ...)
    k_cache_i  float32 [kvh, C, D]    v_cache_i  float32 [kvh, D, C]      (inputs, one pair per layer)
    k_new_i    float32 [kvh, T, D]    v_new_i    float32 [kvh, D, T]      (outputs)
    logits     float32 [1, V]         (decode only: the last token's next-token logits)
    logits     float32 [T, V]         (verify_<T> only: every position's next-token logits)

The layout is chosen for XNNPACK. Both cache products are 3-D batch matmuls whose right-hand side is the cache
*transposed* (``adj_y``), [N, K] row-major: XNNPACK packs a non-constant right-hand side on every call, and its
packing kernel for that orientation is vectorized, while the one for [K, N] (K as [D, C], V as [C, D]) is scalar
code: 25% of the perf samples of SmolLM2's int8 decode loop (xnn_pack_f32_gemm_gio_w), against 47% for all its
int8 linear layers. The caches are 3-D, as the matmuls take them: with a leading batch axis of 1 ([1, kvh, C, D],
older exports) every layer reshaped both caches to 3-D first, and XNNPACK runs a reshape as a
copy, 2 x 30 cache copies (11.8 MB) per SmolLM2 decode step. (A 4-D ``matmul(q, k.transpose(2, 3))`` is lowered
with an explicit TRANSPOSE of the whole cache instead.)

Fewer, bigger linear layers: q/k/v are one linear layer (their weights concatenated, the output split), and so are
the MLP's gate and up projections (``_fused``). Exact for every recipe here: the int8 recipes quantize weights per
output channel and activations per row, so each output is computed from the same numbers as before; one call
quantizes the shared input once instead of 3 (2) times and streams one weight matrix. The HF modules' weights
become views of the fused ones, so no weight is held twice. int4's split layers (a 4-bit grid plus per-block
offsets) are fused the same way, grids with grids and offsets with offsets.

This module imports torch at the top: only the convert path imports it.
"""

from __future__ import annotations

import ctypes
import gc
import inspect
import sys
import weakref

from edgellm.archs.decoders import DecoderSpec
from edgellm.convert.decoder.gpt2 import _VIEWS, decoder_view
from edgellm.errors import require

torch = require("torch", "convert")

NEG = -1e30  # additive mask value: exp() underflows to 0 and, unlike -inf, never makes 0 * inf = nan

# HF module -> its fused linear layer, made once per model: the prefill and decode wrappers share it
_FUSED: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _fused(owner, names: tuple[str, ...]):
    """One linear layer computing ``owner``'s linear layers ``names`` at once (outputs concatenated in that order),
    or None when they are not all of one kind with one input width. Plain nn.Linear layers become one nn.Linear;
    int4's split layers (quantize.int4.Int4SplitLinear: a 4-bit grid and per-block offsets of the same input) one
    split layer of that class whose grid and offsets are the parts' concatenated, exact as for plain layers: the
    4-bit blocks run along each output row's inputs, and the shared input is summed per block once instead of
    3 (2) times. Each original layer's weight and bias become views of the fused ones, so both stay usable and
    nothing is stored twice."""
    if owner in _FUSED:
        return _FUSED[owner]
    parts = [getattr(owner, n, None) for n in names]
    fused = None
    if all(type(m) is torch.nn.Linear for m in parts):
        fused = _concatenated(parts)
    elif all(_is_split(m) and type(m) is type(parts[0]) for m in parts) and \
            len({m.block_offset is None for m in parts}) == 1:
        grid = _concatenated([m.grid for m in parts])  # None where the input widths differ
        if grid is not None:  # then the offsets' widths (inputs / 32) agree too
            fused = type(parts[0]).__new__(type(parts[0]))
            torch.nn.Module.__init__(fused)
            fused.grid = grid
            fused.block_offset = None if parts[0].block_offset is None else \
                _concatenated([m.block_offset for m in parts])
    if fused is None:
        return None
    fused.requires_grad_(False)
    _FUSED[owner] = fused
    return fused


def _is_split(m) -> bool:
    """int4's split linear layer (quantize.int4.Int4SplitLinear, not imported: quantize imports convert)."""
    return isinstance(getattr(m, "grid", None), torch.nn.Linear) and hasattr(m, "block_offset")


def _width(linear) -> int:
    """Output features of a plain or split (``_is_split``) linear layer."""
    return linear.grid.out_features if _is_split(linear) else linear.out_features


def _concatenated(parts):
    """One nn.Linear whose output is ``parts``' outputs concatenated (None where their input widths or biases
    differ); each part's weight and bias become views of it."""
    if len({m.in_features for m in parts}) != 1 or len({m.bias is None for m in parts}) != 1:
        return None
    with torch.no_grad():
        fused = torch.nn.Linear(parts[0].in_features, sum(m.out_features for m in parts),
                                bias=parts[0].bias is not None, dtype=parts[0].weight.dtype)
        torch.cat([m.weight for m in parts], out=fused.weight)  # no temporary: it would stay in the heap
        if fused.bias is not None:
            torch.cat([m.bias for m in parts], out=fused.bias)
        row = 0
        for m in parts:
            m.weight = torch.nn.Parameter(fused.weight[row:row + m.out_features], requires_grad=False)
            if m.bias is not None:
                m.bias = torch.nn.Parameter(fused.bias[row:row + m.out_features], requires_grad=False)
            row += m.out_features
    return fused


def release_weights(*models) -> None:
    """Empty the storage of every parameter of ``models`` (None skipped) and of their fused linear layers.

    litert-torch 0.10 leaves the traced FX graph alive after converting, and its nodes hold the parameters (the
    fused ones through the export wrappers), so dropping the model alone frees no weight."""
    for model in models:
        views = [_VIEWS[model]] if model is not None and model in _VIEWS else []  # GPT-2's copied weights
        for m in [*(model.modules() if model is not None else ()), *(m for v in views for m in v.modules())]:
            for p in (*m.parameters(recurse=False), *(_FUSED[m].parameters() if m in _FUSED else ())):
                p.data = torch.empty(0, dtype=p.dtype)


def trim_heap() -> None:
    """Collect garbage and hand the heap's free pages back to the OS (glibc's malloc_trim; a no-op elsewhere).

    glibc keeps freed blocks below its mmap threshold (at most 32 MB: every weight of a small LLM) in the heap, where
    they count in RSS and are reused only by allocations that fit them. The large buffers of the steps that follow
    (the serialized flatbuffer, ai-edge-quantizer's copies) are mmapped and never reuse them, so they add to the peak.
    Measured on SmolLM2-135M: fusing q/k/v and gate/up (``_fused``) frees 0.27 GB of original weights that RSS kept
    until trimmed."""
    gc.collect()
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return
    trim(0)


class DecoderForExport(torch.nn.Module):
    def __init__(self, model, spec: DecoderSpec, *, cache_length: int, with_logits: bool, window: int | None = None,
                 all_logits: bool = False):
        super().__init__()
        model = decoder_view(model)  # GPT-2 under the names below (edgellm.convert.decoder.gpt2)
        self.model = model  # an XForCausalLM: .model (embed_tokens, layers, norm, rotary_emb), .lm_head
        self.spec = spec
        self.cache_length = cache_length
        # attend over cache positions [0, window) only (decode_<W>): the caches are sliced to that many positions
        self.window = window or cache_length
        self.with_logits = with_logits or all_logits
        # logits of every position (verify_<T>: speculative decoding checks T - 1 draft tokens in one call)
        self.all_logits = all_logits
        config = model.config
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.num_heads
        attn = model.model.layers[0].self_attn
        self.scaling = [float(l.self_attn.scaling) for l in model.model.layers]  # per layer (GPT-2 may divide by i+1)
        # per layer: sliding-window attention (qwen2 and gemma2/3 say per layer, mistral for all; None: full), the
        # rope variant (gemma3's local and global layers rotate with different bases), attention-logit soft-capping
        self.sliding = [getattr(l.self_attn, "sliding_window", getattr(config, "sliding_window", None))
                        for l in model.model.layers]
        self.sliding = [w if w and w < cache_length else None for w in self.sliding]  # else it hides nothing
        self.layer_types = list(getattr(config, "layer_types", None) or [None] * len(model.model.layers))
        self.softcap = [getattr(l.self_attn, "attn_logit_softcapping", None) for l in model.model.layers]
        self.final_softcap = getattr(config, "final_logit_softcapping", None)
        # rotary embedding per layer type (gemma3's forward takes one), else one for every layer; none in GPT-2,
        # whose learned position table (embed_positions) is added to the token embeddings instead
        rotary = model.model.rotary_emb
        self._rope_by_type = rotary is not None and "layer_type" in inspect.signature(rotary.forward).parameters
        # the family's own rope application (phi3's handles partial rotary dims)
        self._apply_rope = None if rotary is None else sys.modules[type(attn).__module__].apply_rotary_pos_emb
        layers = model.model.layers
        qkv = {} if self.spec.fused_qkv else {str(i): _fused(l.self_attn, ("q_proj", "k_proj", "v_proj"))
                                               for i, l in enumerate(layers)}
        # gate and up fused where the MLP is HF's down_proj(act_fn(gate_proj(x)) * up_proj(x)) (phi3 fuses them itself)
        gate_up = {str(i): _fused(l.mlp, ("gate_proj", "up_proj")) for i, l in enumerate(layers)
                   if hasattr(l.mlp, "act_fn") and (type(getattr(l.mlp, "down_proj", None)) is torch.nn.Linear
                                                    or _is_split(getattr(l.mlp, "down_proj", None)))}
        self.qkv = torch.nn.ModuleDict({i: m for i, m in qkv.items() if m is not None})  # "layer index": fused
        self.gate_up = torch.nn.ModuleDict({i: m for i, m in gate_up.items() if m is not None})

    def forward(self, tokens, input_pos, kv):
        """tokens [1, T], input_pos [T], kv {"k_cache_i": [kvh, C, D], "v_cache_i": [kvh, D, C]} -> outputs."""
        base = self.model.model
        T = tokens.shape[1]
        x = base.embed_tokens(tokens.long())  # [1, T, hidden]
        positions = input_pos.long()[None, :]
        if getattr(base, "embed_positions", None) is not None:  # GPT-2's learned positions
            x = x + base.embed_positions(positions)
        if base.rotary_emb is None:
            rope = {None: (None, None)}
        elif self._rope_by_type:
            rope = {t: base.rotary_emb(x, positions, t) for t in dict.fromkeys(self.layer_types)}
        else:
            rope = {None: base.rotary_emb(x, positions)}  # cos, sin [1, T, rope dims]
        if self.all_logits:  # verify_<T>: every row attends as decode does at its position (module docstring)
            masks = {w: self._verify_mask(input_pos, w) for w in dict.fromkeys(self.sliding)}  # [g*T, C + 1]
            scatter = self._scatter(input_pos)
        else:
            masks = {w: self._mask(input_pos, T, w) for w in dict.fromkeys(self.sliding)}  # [g*T, C + T] each
            scatter = None
        out = {}
        for i, layer in enumerate(base.layers):
            cos, sin = rope[self.layer_types[i] if self._rope_by_type else None]
            a, k_new, v_new = self._attention(i, layer.self_attn, layer.input_layernorm(x), cos, sin,
                                              kv[f"k_cache_{i}"], kv[f"v_cache_{i}"], masks[self.sliding[i]],
                                              scatter)
            if hasattr(layer, "pre_feedforward_layernorm"):  # gemma2/3: each block's output is normed too
                x = x + layer.post_attention_layernorm(a)
                x = x + layer.post_feedforward_layernorm(self._mlp(i, layer.mlp, layer.pre_feedforward_layernorm(x)))
            else:
                x = x + a
                x = x + self._mlp(i, layer.mlp, layer.post_attention_layernorm(x))
            out[f"k_new_{i}"] = k_new
            out[f"v_new_{i}"] = v_new
        if self.with_logits:
            last = base.norm(x if self.all_logits else x[:, -1:, :])  # [1, T or 1, hidden]
            logits = self.model.lm_head(last)  # [1, T or 1, V]
            logits = logits[0] if self.all_logits else logits[:, 0, :]  # verify: [T, V]; decode: [1, V]
            if self.final_softcap:  # gemma2
                logits = torch.tanh(logits / self.final_softcap) * self.final_softcap
            out["logits"] = logits
        return out

    def _mask(self, input_pos, T: int, sliding: int | None = None):
        """Additive mask [g*T, C + T] (row = head-in-group * T + t): cache positions [0, start) and the new tokens
        up to t; with a sliding window S only the S positions up to the query's own (key > query - S, as HF's
        sliding-window mask)."""
        C, g = self.window, self.num_heads // self.num_kv_heads
        start = input_pos[:1]  # [1]
        key = torch.arange(C, dtype=torch.int32)[None, :]  # [1, C]
        cache_ok = key < start[:, None]  # [1, C]
        # int32 aranges, not triu/tril: those decompose into int64 aranges that litert-torch rewrites into Python
        # functions, which makes its lowering trace the whole graph once more (~9 s per SmolLM2 signature)
        t = torch.arange(T, dtype=torch.int32)
        seen = t[None, :] <= t[:, None]  # [T, T]: new token t' at or before t
        if sliding:
            query = start[:, None] + t[:, None]  # [T, 1] absolute positions
            cache_ok = cache_ok & (key > query - sliding)  # [T, C]
            seen = seen & (t[:, None] - t[None, :] < sliding)  # t - t' < S
        causal = torch.where(seen, 0.0, NEG)  # [T, T]
        cache_part = torch.where(cache_ok, 0.0, NEG).expand(T, C)  # [T, C]
        return torch.cat([cache_part, causal], dim=-1).repeat(g, 1)

    def _verify_mask(self, input_pos, sliding: int | None = None):
        """verify_<T>'s additive mask [g*T, C + 1]: row t sees the cache positions before its own, input_pos[t]
        (the new rows before it are scattered there, ``_scatter``), and its own key in the last column, as decode
        at input_pos[t] does; with a sliding window S only keys > input_pos[t] - S."""
        C, g = self.window, self.num_heads // self.num_kv_heads
        key = torch.arange(C, dtype=torch.int32)[None, :]  # [1, C]
        query = input_pos[:, None]  # [T, 1]
        ok = key < query  # [T, C]
        if sliding:
            ok = ok & (key > query - sliding)
        own = torch.zeros(input_pos.shape[0], 1)  # [T, 1]: the row's own key, always seen
        return torch.cat([torch.where(ok, 0.0, NEG), own], dim=-1).repeat(g, 1)

    def _scatter(self, input_pos):
        """(onehot [kvh, T, C]: 1 where cache position c is new row t's, own [g*T, T]: 1 at each query row's own
        new row) of a verify_<T> call. Multiplying by 1 or 0 and adding 0 is exact, so a product with onehot added
        to a cache whose rows there are zero (the module docstring's contract) puts the new rows' values at their
        positions bit for bit. (onehot is built as [T, C], the right-hand side as the products take it: litert-torch
        0.10 converts a product with a transposed one wrongly.)"""
        C, kvh, g, T = self.window, self.num_kv_heads, self.num_heads // self.num_kv_heads, input_pos.shape[0]
        key = torch.arange(C, dtype=torch.int32)  # [C]
        onehot = (input_pos[:, None] == key[None, :]).float()  # [T, C]
        t = torch.arange(T, dtype=torch.int32)
        own = torch.cat([(t[:, None] == t[None, :]).float()] * g)  # [g*T, T] (arange, not eye: eye is an IOTA op)
        return torch.stack([onehot] * kvh), own

    def _mlp(self, i: int, mlp, h):
        gate_up = self.gate_up[str(i)] if str(i) in self.gate_up else None
        if gate_up is None:
            return mlp(h)
        gate, up = gate_up(h).split([_width(mlp.gate_proj), _width(mlp.up_proj)], dim=-1)
        return mlp.down_proj(mlp.act_fn(gate) * up)

    def _attention(self, i: int, attn, h, cos, sin, k_cache, v_cache, mask, scatter=None):
        B, T, _ = h.shape
        H, kvh, D = self.num_heads, self.num_kv_heads, self.head_dim
        g = H // kvh
        qkv = attn.qkv_proj if self.spec.fused_qkv else self.qkv[str(i)] if str(i) in self.qkv else None
        if qkv is not None and not self.spec.qk_norm:
            # q and k heads are adjacent in the fused output: rope them as one tensor (one set of element-wise ops
            # instead of two; the same operations on every element)
            qk, v = qkv(h).split([(H + kvh) * D, kvh * D], dim=-1)
            qk = qk.view(B, T, H + kvh, D).transpose(1, 2)  # [1, H + kvh, T, D]
            if self._apply_rope is not None:
                qk, _ = self._apply_rope(qk, qk, cos, sin)  # the second result is unused and dropped by the converter
            q, k = qk[:, :H], qk[:, H:]
            v = v.view(B, T, kvh, D).transpose(1, 2)
        else:
            if qkv is not None:
                q, k, v = qkv(h).split([H * D, kvh * D, kvh * D], dim=-1)
            else:
                q, k, v = attn.q_proj(h), attn.k_proj(h), attn.v_proj(h)
            q, k, v = q.view(B, T, H, D), k.view(B, T, kvh, D), v.view(B, T, kvh, D)
            if self.spec.qk_norm:
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [1, heads, T, D]
            if self._apply_rope is not None:
                q, k = self._apply_rope(q, k, cos, sin)
        qg = (q * self.scaling[i]).reshape(kvh, g * T, D)  # query head h uses KV head h // g
        C = self.window
        if C < self.cache_length:
            k_cache, v_cache = k_cache[:, :C, :], v_cache[:, :, :C]
        k3, v3 = k[0], v[0]  # [kvh, T, D]
        if scatter is not None:
            o = self._verify_attention(i, qg, k3, v3, k_cache, v_cache, mask, scatter, g)
            o = o.reshape(B, H, T, D).transpose(1, 2).reshape(B, T, H * D)
            return attn.o_proj(o), k3, v3.transpose(1, 2)
        s = torch.cat([torch.matmul(qg, k_cache.transpose(1, 2)),  # [kvh, g*T, C]
                       torch.matmul(qg, k3.transpose(1, 2))], dim=-1)  # [kvh, g*T, C + T]
        if self.softcap[i]:  # gemma2: scores squashed into (-cap, cap) before the mask
            s = torch.tanh(s / self.softcap[i]) * self.softcap[i]
        s = s + mask
        p = torch.softmax(s, dim=-1)
        o = torch.matmul(p[..., :C], v_cache.transpose(1, 2)) + torch.matmul(p[..., C:], v3)  # [kvh, g*T, D]
        o = o.reshape(B, H, T, D).transpose(1, 2).reshape(B, T, H * D)
        return attn.o_proj(o), k3, v3.transpose(1, 2)  # k_new [kvh, T, D], v_new [kvh, D, T]

    def _verify_attention(self, i: int, qg, k3, v3, k_cache, v_cache, mask, scatter, g: int):
        """verify_<T>'s attention [kvh, g*T, D], each row computed as decode computes it at that row's position:
        the scores and values of the new rows before it at their cache positions (``_scatter``), its own key and
        value in a last column of their own. So the softmax sums and the weighted sum of values add the same
        numbers in the same order as decode's, and verify's logits and K/V rows are decode's bit for bit. The cache
        rows where the new rows land are zero (the module docstring's contract): q . 0 + s is s, 0 + v is v."""
        onehot, own = scatter
        s_new = torch.matmul(qg, k3.transpose(1, 2))  # [kvh, g*T, T]
        s_cache = torch.matmul(qg, k_cache.transpose(1, 2)) + torch.matmul(s_new, onehot)
        s_own = (s_new * own).sum(-1, keepdim=True)  # [kvh, g*T, 1]: row t's own score
        s = torch.cat([s_cache, s_own], dim=-1)  # [kvh, g*T, C + 1]
        if self.softcap[i]:
            s = torch.tanh(s / self.softcap[i]) * self.softcap[i]
        p = torch.softmax(s + mask, dim=-1)
        v_all = v_cache + torch.matmul(v3.transpose(1, 2), onehot)  # [kvh, D, C]
        C = v_all.shape[-1]
        # the own values tiled to the g query heads of each KV head by a concatenation: repeat() converts to a
        # BROADCAST_TO that XNNPACK does not take, splitting the graph at every layer (+10 ms per SmolLM2 verify_8)
        return torch.matmul(p[..., :C], v_all.transpose(1, 2)) + p[..., C:] * torch.cat([v3] * g, dim=1)
