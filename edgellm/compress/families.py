"""Where each supported family keeps its layers, FFN and attention linears (HF module names).

Encoders: the BERT-style block (``encoder.layer[i]`` with ``intermediate.dense`` / ``output.dense``). Decoders: the
llama-style block (``model.layers[i]`` with ``mlp.gate_proj/up_proj/down_proj`` and ``self_attn.q/k/v/o_proj``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgellm.errors import UnsupportedArchitectureError

ENCODERS = ("bert", "roberta", "xlm-roberta", "electra")
DECODERS = ("llama", "mistral", "qwen2", "qwen3")
SUPPORTED = ENCODERS + DECODERS


@dataclass(frozen=True)
class Family:
    model_type: str
    decoder: bool  # llama-style causal LM, else BERT-style encoder

    def layers(self, model: Any):
        """The nn.ModuleList of transformer blocks."""
        base = getattr(model, model.base_model_prefix, model)
        return base.layers if self.decoder else base.encoder.layer

    def set_layers(self, model: Any, layers: Any) -> None:
        base = getattr(model, model.base_model_prefix, model)
        if self.decoder:
            base.layers = layers
        else:
            base.encoder.layer = layers

    def ffn_in(self, layer: Any) -> list:
        """Linears whose output rows are the FFN neurons."""
        return [layer.mlp.gate_proj, layer.mlp.up_proj] if self.decoder else [layer.intermediate.dense]

    def attn_out(self, layer: Any):
        """The linear whose input columns are the attention heads' outputs (heads x head_dim)."""
        return layer.self_attn.o_proj if self.decoder else layer.attention.output.dense

    def ffn_out(self, layer: Any):
        """The linear whose input columns are the FFN neurons (its input is the neurons' activation)."""
        return layer.mlp.down_proj if self.decoder else layer.output.dense

    def ffn_out_norm(self, layer: Any):
        """The LayerNorm applied to ffn_out's output plus the residual (post-LN encoders), else None: decoders
        normalise the residual stream only where the next block reads it."""
        return None if self.decoder else layer.output.LayerNorm

    def attn_out_norm(self, layer: Any):
        """The LayerNorm applied to attn_out's output plus the residual (post-LN encoders), else None."""
        return None if self.decoder else layer.attention.output.LayerNorm


def family_of(model_type: str) -> Family:
    if model_type not in SUPPORTED:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported by prune; supported: {', '.join(SUPPORTED)}")
    return Family(model_type, model_type in DECODERS)
