"""Decoder (causal LM) families, keyed by the Hugging Face ``config.model_type``.

The encoder table (``edgellm.archs.ARCHS``) says what `--task feature-extraction` & co. support; this one says
what `--task text-generation` supports. edgellm's decoder export (``edgellm.convert.decoder``) re-wires each
HF decoder layer around an external KV cache, so a family is supported when its layer is the common shape

    x += o_proj(attention(rope(q_proj(norm1(x))), rope(k_proj(...)), v_proj(...)))   (optional per-head q/k norm)
    x += mlp(norm2(x))

and everything else (norm flavour, MLP activation, embedding scale, biases, GQA, rope scaling) lives in HF
modules that are called as they are. Read from the HF modules too, per layer: sliding-window attention (mistral,
qwen2, phi3, gemma2/3: a mask over the window, the cache stays whole), gemma2's attention and final logit
soft-capping, gemma3's per-layer-type rope, gemma2/3's norms around each block's output. GPT-2 (learned positions
instead of rope, q/k/v in one Conv1D) is seen through edgellm.convert.decoder.gpt2's renaming view. Families with
more than that are listed with what is missing.
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from edgellm.errors import UnsupportedArchitectureError
from edgellm.manifest import TEXT_GENERATION



@dataclass(frozen=True, kw_only=True)
class DecoderSpec:
    """What edgellm knows about one decoder family."""

    model_type: str
    # None when supported; else why not (shown to the user as is).
    unsupported: str | None = None
    # q/k/v come from one fused projection (phi3's qkv_proj) instead of q_proj, k_proj, v_proj.
    fused_qkv: bool = False
    # per-head RMSNorm on q and k before rope (qwen3's q_norm / k_norm).
    qk_norm: bool = False
    # Smallest config that still exercises every layer kind (GQA: 4 query heads on 2 KV heads); tests build
    # random models from it. vocab 160 matches tests/tiny.py's tokenizers.
    tiny_config: Mapping[str, object] = field(default_factory=dict)


_TINY = dict(vocab_size=160, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True,
             bos_token_id=1, eos_token_id=2, pad_token_id=0)

DECODERS: Mapping[str, DecoderSpec] = MappingProxyType({
    spec.model_type: spec
    for spec in (
        DecoderSpec(model_type="llama", tiny_config=_TINY),
        DecoderSpec(model_type="mistral", tiny_config={**_TINY, "sliding_window": None}),
        DecoderSpec(model_type="qwen2", tiny_config=_TINY),
        DecoderSpec(model_type="qwen3", qk_norm=True, tiny_config={**_TINY, "head_dim": 8}),
        DecoderSpec(model_type="gemma", tiny_config={**_TINY, "head_dim": 8}),
        DecoderSpec(model_type="phi3", fused_qkv=True, tiny_config={**_TINY, "tie_word_embeddings": False}),
        # sliding-window layers alternate with full ones; window 4 < the tests' sequences, so the mask is exercised
        DecoderSpec(model_type="gemma2", tiny_config={
            **_TINY, "head_dim": 8, "query_pre_attn_scalar": 8, "sliding_window": 4,
            "layer_types": ["sliding_attention", "full_attention"], "attn_logit_softcapping": 50.0,
            "final_logit_softcapping": 30.0}),
        DecoderSpec(model_type="gemma3_text", qk_norm=True, tiny_config={
            **_TINY, "head_dim": 8, "query_pre_attn_scalar": 8, "sliding_window": 4,
            "layer_types": ["sliding_attention", "full_attention"]}),
        DecoderSpec(model_type="gemma3", unsupported="a multimodal checkpoint (vision tower and text model); export "
                    "its text model, model_type gemma3_text, as a folder of its own"),
        # learned absolute positions instead of rope, q/k/v in one Conv1D (edgellm.convert.decoder.gpt2 renames)
        DecoderSpec(model_type="gpt2", fused_qkv=True, tiny_config=dict(
            vocab_size=160, n_embd=32, n_inner=48, n_layer=2, n_head=4, n_positions=256, tie_word_embeddings=True,
            bos_token_id=1, eos_token_id=2, pad_token_id=0)),
    )
})


def supported_decoder_types() -> list[str]:
    return sorted(name for name, spec in DECODERS.items() if spec.unsupported is None)


def get_decoder(model_type: str | None) -> DecoderSpec:
    """The DecoderSpec of a supported family, or UnsupportedArchitectureError saying why not."""
    spec = DECODERS.get(model_type)  # type: ignore[arg-type]
    supported = ", ".join(supported_decoder_types())
    if spec is None:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported for {TEXT_GENERATION}; supported: {supported}. "
            "Check config.json's model_type, or open an issue with the model's config.json")
    if spec.unsupported is not None:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported for {TEXT_GENERATION} ({spec.unsupported}); "
            f"supported: {supported}")
    return spec
