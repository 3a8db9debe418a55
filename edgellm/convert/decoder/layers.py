"""PyTorch side of decoder export: an HF causal LM re-wired around an external KV cache.

``DecoderForExport`` is both what litert-torch traces (once per signature) and a reference that validation can
run in PyTorch. It calls the HF model's own modules (embedding, norms, projections, rotary embedding, MLP, head)
and replaces only attention + cache handling, so what is exported is the HF model's math.

The cache is not updated inside the graph. Each call gets the cache as it is (valid rows [0, start)) and returns
only the K/V rows of its T new tokens; the runtime writes those rows into the cache in place. No cache-sized
tensor is copied per step, by the graph or the runtime. Attention of a query at position start + t is over the
valid cache rows and the new rows 0..t:

    scores = [q @ K_cache^T  (masked j >= start) | q @ K_new^T  (causal)]     # [kvh, g*T, C + T]
    out    = softmax(scores)[..., :C] @ V_cache + softmax(scores)[..., C:] @ V_new

Shapes (T new tokens, C cache length, H query heads, kvh KV heads, g = H / kvh, D head dim, V vocabulary):
    tokens     int32 [1, T]           input_pos  int32 [T] (start, start + 1, ...)
    k_cache_i  float32 [1, kvh, C, D] v_cache_i  float32 [1, kvh, D, C]      (inputs, one pair per layer)
    k_new_i    float32 [1, kvh, T, D] v_new_i    float32 [1, kvh, D, T]      (outputs)
    logits     float32 [1, V]         (decode only: the last token's next-token logits)

The layout (litert-torch's too: K sequence axis 2, V sequence axis 3) is chosen for XNNPACK. Both cache products
are 3-D batch matmuls whose right-hand side is the cache *transposed* (``adj_y``), [N, K] row-major: XNNPACK packs a
non-constant right-hand side on every call, and its packing kernel for that orientation is vectorized, while the
one for [K, N] (the previous layout, K as [D, C], V as [C, D]) is scalar code: 25% of the perf samples of SmolLM2's
int8 decode loop (xnn_pack_f32_gemm_gio_w), against 47% for all its int8 linear layers. The caches are indexed to 3-D ([0]) first: a 4-D ``matmul(q, k.transpose(2, 3))`` is lowered with an
explicit TRANSPOSE of the whole cache instead.

This module imports torch at the top: only the convert path imports it.
"""

from __future__ import annotations

import sys

from edgellm.archs.decoders import DecoderSpec
from edgellm.errors import require

torch = require("torch", "convert")

NEG = -1e30  # additive mask value: exp() underflows to 0 and, unlike -inf, never makes 0 * inf = nan


class DecoderForExport(torch.nn.Module):
    def __init__(self, model, spec: DecoderSpec, *, cache_length: int, with_logits: bool):
        super().__init__()
        self.model = model  # an XForCausalLM: .model (embed_tokens, layers, norm, rotary_emb), .lm_head
        self.spec = spec
        self.cache_length = cache_length
        self.with_logits = with_logits
        config = model.config
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.num_heads
        attn = model.model.layers[0].self_attn
        self.scaling = float(attn.scaling)
        # the family's own rope application (phi3's handles partial rotary dims)
        self._apply_rope = sys.modules[type(attn).__module__].apply_rotary_pos_emb

    def forward(self, tokens, input_pos, kv):
        """tokens [1, T], input_pos [T], kv {"k_cache_i": [1, kvh, C, D], "v_cache_i": [1, kvh, D, C]} -> outputs."""
        base = self.model.model
        T = tokens.shape[1]
        x = base.embed_tokens(tokens.long())  # [1, T, hidden]
        cos, sin = base.rotary_emb(x, input_pos.long()[None, :])  # [1, T, rope dims]
        mask = self._mask(input_pos, T)  # [g*T, C + T]
        out = {}
        for i, layer in enumerate(base.layers):
            h = layer.input_layernorm(x)
            a, k_new, v_new = self._attention(layer.self_attn, h, cos, sin, kv[f"k_cache_{i}"], kv[f"v_cache_{i}"],
                                              mask)
            x = x + a
            x = x + layer.mlp(layer.post_attention_layernorm(x))
            out[f"k_new_{i}"] = k_new
            out[f"v_new_{i}"] = v_new
        if self.with_logits:
            last = base.norm(x[:, -1:, :])  # [1, 1, hidden]
            out["logits"] = self.model.lm_head(last)[:, 0, :]  # [1, V]
        return out

    def _mask(self, input_pos, T: int):
        C, g = self.cache_length, self.num_heads // self.num_kv_heads
        start = input_pos[:1]  # [1]
        cache_ok = torch.arange(C, dtype=torch.int32)[None, :] < start[:, None]  # [1, C]
        cache_part = torch.where(cache_ok, 0.0, NEG).expand(T, C)  # [T, C]
        causal = torch.triu(torch.full((T, T), NEG), diagonal=1)  # [T, T]
        return torch.cat([cache_part, causal], dim=-1).repeat(g, 1)  # [g*T, C + T], row = head-in-group * T + t

    def _attention(self, attn, h, cos, sin, k_cache, v_cache, mask):
        B, T, _ = h.shape
        H, kvh, D = self.num_heads, self.num_kv_heads, self.head_dim
        g = H // kvh
        if self.spec.fused_qkv:
            qkv = attn.qkv_proj(h)
            q, k, v = qkv.split([H * D, kvh * D, kvh * D], dim=-1)
        else:
            q, k, v = attn.q_proj(h), attn.k_proj(h), attn.v_proj(h)
        q, k, v = q.view(B, T, H, D), k.view(B, T, kvh, D), v.view(B, T, kvh, D)
        if self.spec.qk_norm:
            q, k = attn.q_norm(q), attn.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [1, heads, T, D]
        q, k = self._apply_rope(q, k, cos, sin)
        qg = (q * self.scaling).reshape(kvh, g * T, D)  # query head h uses KV head h // g
        k3, v3 = k[0], v[0]  # [kvh, T, D]
        s = torch.cat([torch.matmul(qg, k_cache[0].transpose(1, 2)),  # [kvh, g*T, C]
                       torch.matmul(qg, k3.transpose(1, 2))], dim=-1) + mask  # [kvh, g*T, C + T]
        p = torch.softmax(s, dim=-1)
        C = self.cache_length
        o = torch.matmul(p[..., :C], v_cache[0].transpose(1, 2)) + torch.matmul(p[..., C:], v3)  # [kvh, g*T, D]
        o = o.reshape(B, H, T, D).transpose(1, 2).reshape(B, T, H * D)
        return attn.o_proj(o), k, v.transpose(2, 3)  # k_new [1, kvh, T, D], v_new [1, kvh, D, T]
