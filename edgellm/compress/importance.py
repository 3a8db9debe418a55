"""Importance scores measured on calibration text, one forward pass per sample (no padding to blur the means).

- FFN neuron: mean |activation| of the neuron (the input of the down projection: ``act(gate) * up`` for llama-style
  blocks, GELU(intermediate) for BERT-style ones) over every token.
- KV group (decoders): mean L2 norm, per token, of the group's query heads' attention output (the input of
  ``o_proj``), summed over the group's heads. Encoders: the same per head (a group of one), at the input of
  ``attention.output.dense``.
- Layer: block influence, 1 - cosine(hidden state in, hidden state out), averaged over tokens and samples: a layer
  that barely changes its input is the cheapest to remove.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

FFN_SCORE = "mean |activation| of the FFN neuron (input of the down projection) over calibration tokens"
HEADS_SCORE = "mean per-token L2 norm of the KV group's attention output (o_proj input), summed over its query heads"
ENCODER_HEADS_SCORE = "mean per-token L2 norm of the head's attention output (input of attention.output.dense)"
LAYERS_SCORE = "block influence: 1 - cosine(hidden in, hidden out) of the layer, mean over calibration tokens"


def _run(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int) -> None:
    import torch

    from edgellm.signals import check

    keys = ("input_ids", "attention_mask", "token_type_ids")
    with torch.no_grad():
        for text in texts:
            check()
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
            model(**{k: v for k, v in enc.items() if k in keys})


def block_input(args, kwargs):
    """The hidden states a transformer block is called with (a forward pre-hook's args / kwargs), detached."""
    return (args[0] if args else kwargs["hidden_states"]).detach()


def _with_hooks(register: Callable[[], list], run: Callable[[], None]) -> None:
    handles = register()
    try:
        run()
    finally:
        for h in handles:
            h.remove()


def ffn_scores(model, family, tokenizer, texts, max_length) -> list[list[float]]:
    """Per layer, per FFN neuron: mean |activation|."""
    layers = family.layers(model)
    sums: list = [None] * len(layers)
    counts = [0] * len(layers)

    def hook(i):
        def pre(_module, args):
            x = args[0].detach().float().reshape(-1, args[0].shape[-1])
            sums[i] = x.abs().sum(0) if sums[i] is None else sums[i] + x.abs().sum(0)
            counts[i] += x.shape[0]
        return pre

    _with_hooks(lambda: [family.ffn_out(layer).register_forward_pre_hook(hook(i)) for i, layer in enumerate(layers)],
                lambda: _run(model, tokenizer, texts, max_length))
    return [(s / max(c, 1)).tolist() for s, c in zip(sums, counts)]


def group_scores(model, family, tokenizer, texts, max_length, *, num_heads: int, num_kv: int,
                 head_dim: int) -> list[list[float]]:
    """Per layer, per KV group: the summed mean norm of its query heads' attention output."""
    layers = family.layers(model)
    per_group = num_heads // num_kv
    sums: list = [None] * len(layers)
    counts = [0] * len(layers)

    def hook(i):
        def pre(_module, args):
            x = args[0].detach().float().reshape(-1, num_heads, head_dim)  # [tokens, heads, head_dim]
            norms = x.norm(dim=-1).sum(0).reshape(num_kv, per_group).sum(-1)  # [groups]
            sums[i] = norms if sums[i] is None else sums[i] + norms
            counts[i] += x.shape[0]
        return pre

    _with_hooks(lambda: [family.attn_out(layer).register_forward_pre_hook(hook(i))
                         for i, layer in enumerate(layers)],
                lambda: _run(model, tokenizer, texts, max_length))
    return [(s / max(c, 1)).tolist() for s, c in zip(sums, counts)]


def layer_scores(model, family, tokenizer, texts, max_length) -> list[float]:
    """Per layer: 1 - mean cosine between the hidden states entering and leaving it."""
    import torch

    layers = family.layers(model)
    inputs: list = [None] * len(layers)
    totals = [0.0] * len(layers)
    counts = [0] * len(layers)

    def pre(i):
        def run(_module, args, kwargs):
            inputs[i] = block_input(args, kwargs).float()
        return run

    def post(i):
        def run(_module, _args, output):
            out = (output[0] if isinstance(output, tuple) else output).detach().float()
            h = inputs[i].reshape(-1, out.shape[-1])
            cos = torch.nn.functional.cosine_similarity(h, out.reshape(-1, out.shape[-1]), dim=-1)
            totals[i] += float((1 - cos).sum())
            counts[i] += cos.numel()
        return run

    def register():
        handles = []
        for i, layer in enumerate(layers):
            handles.append(layer.register_forward_pre_hook(pre(i), with_kwargs=True))
            handles.append(layer.register_forward_hook(post(i)))
        return handles

    _with_hooks(register, lambda: _run(model, tokenizer, texts, max_length))
    return [t / max(c, 1) for t, c in zip(totals, counts)]
