"""GPT-2 seen as the decoders ``DecoderForExport`` re-wires: the same modules under llama's names.

GPT2LMHeadModel keeps its blocks in ``transformer.h``, its q/k/v in one ``Conv1D`` (``y = x @ W + b``, W [in, out])
and its positions in a learned table (``wpe``) instead of rope. The view gives each block ``input_layernorm``
(ln_1), ``self_attn`` (``qkv_proj``/``o_proj`` as nn.Linear, ``scaling``), ``post_attention_layernorm`` (ln_2) and
``mlp``; the model ``embed_tokens`` (wte), ``embed_positions`` (wpe), ``norm`` (ln_f), no ``rotary_emb``; the rest
(``lm_head``, ``config``) is GPT-2's own. The Conv1D weights become nn.Linear weights (their transposes, copied once
per model), so every projection converts to a FULLY_CONNECTED that the int8 recipes quantize per output channel.

This module imports torch at the top: only the convert path imports it.
"""

from __future__ import annotations

import weakref

from edgellm.errors import UnsupportedArchitectureError, require

torch = require("torch", "convert")

# GPT2LMHeadModel -> its view, made once per model (the prefill and decode wrappers share the copied weights)
_VIEWS: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _linear(conv1d) -> torch.nn.Linear:
    """nn.Linear computing HF's Conv1D (y = x @ W + b, W [in, out]): weight W^T, copied."""
    n_in, n_out = conv1d.weight.shape
    linear = torch.nn.Linear(n_in, n_out, bias=conv1d.bias is not None)
    with torch.no_grad():
        linear.weight.copy_(conv1d.weight.T)
        if conv1d.bias is not None:
            linear.bias.copy_(conv1d.bias)
    return linear.requires_grad_(False)


class _Attention(torch.nn.Module):
    def __init__(self, attn):
        super().__init__()
        if getattr(attn, "reorder_and_upcast_attn", False) or getattr(attn, "is_cross_attention", False):
            raise UnsupportedArchitectureError("gpt2 with reorder_and_upcast_attn or cross-attention is not "
                                               "supported for text-generation; export a plain GPT-2 checkpoint")
        self.qkv_proj, self.o_proj = _linear(attn.c_attn), _linear(attn.c_proj)
        self.scaling = float(attn.scaling)  # head_dim ** -0.5, divided by layer index + 1 where the config says


class _Mlp(torch.nn.Module):
    def __init__(self, mlp):
        super().__init__()
        self.c_fc, self.c_proj, self.act = _linear(mlp.c_fc), _linear(mlp.c_proj), mlp.act

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class _Block(torch.nn.Module):
    def __init__(self, block):
        super().__init__()
        self.input_layernorm, self.post_attention_layernorm = block.ln_1, block.ln_2
        self.self_attn, self.mlp = _Attention(block.attn), _Mlp(block.mlp)


class _Body(torch.nn.Module):
    def __init__(self, transformer):
        super().__init__()
        self.embed_tokens, self.embed_positions, self.norm = transformer.wte, transformer.wpe, transformer.ln_f
        self.layers = torch.nn.ModuleList(_Block(b) for b in transformer.h)
        self.rotary_emb = None


class Gpt2View(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.config, self.model, self.lm_head = model.config, _Body(model.transformer), model.lm_head


def decoder_view(model):
    """``model`` itself for the llama-style families; a Gpt2View (made once per model) for GPT2LMHeadModel."""
    if not hasattr(model, "transformer") or getattr(model.config, "model_type", None) != "gpt2":
        return model
    if model not in _VIEWS:
        _VIEWS[model] = Gpt2View(model)
    return _VIEWS[model]
