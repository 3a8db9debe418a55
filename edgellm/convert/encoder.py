"""PyTorch side of encoder export: load the HF model for a task and wrap it with named int32 inputs.

The wrapper is both what litert-torch traces and the reference that validation compares the flatbuffer with,
so the two can never disagree on pooling or input handling.

This module imports torch at the top: only the convert path imports it (never `edgellm bench`).
"""

from __future__ import annotations

from typing import Any

from edgellm.archs import TASKS
from edgellm.convert.lowrank import register_for
from edgellm.convert.source import ModelSource, SentenceTransformerHead
from edgellm.errors import ModelFileError, require

torch = require("torch", "convert")

# Pooling used for --task sentence-embedding on a folder that is not a sentence-transformers one.
DEFAULT_HEAD = SentenceTransformerHead(pooling="mean_tokens", normalize=False)


def load_reference(source: ModelSource, task: str, *, bounded_layer_norm: bool = False) -> "torch.nn.Module":
    """The float32 PyTorch module with forward(input_ids, attention_mask[, token_type_ids]) -> {name: tensor}.

    bounded_layer_norm: replace every nn.LayerNorm by BoundedLayerNorm (same function, quantization-friendly
    intermediate ranges; for the int16 recipes, see ConvertConfig).
    """
    transformers = require("transformers", "convert")
    auto_class = getattr(transformers, TASKS[task][0])
    register_for(source.config)  # a low-rank factorised folder (prune --method lowrank) loads through edgellm
    try:
        model = auto_class.from_pretrained(source.path, trust_remote_code=False, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelFileError(f"could not load the weights in {str(source.path)!r} as {auto_class.__name__}: "
                             f"{_first_line(e)}; check that the folder was written by save_pretrained") from e
    head = (source.sentence_transformers or DEFAULT_HEAD) if task == "sentence-embedding" else None
    if bounded_layer_norm:
        bound_layer_norms(model)
    return EncoderForExport(model, task=task, head=head, bounded_mask=source.arch.bounded_mask).eval()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class EncoderForExport(torch.nn.Module):
    """HF encoder + task head (+ sentence-transformers pooling), returning a dict of named outputs.

    Shapes (B batch, L sequence length, H hidden, C classes, V vocabulary):
      input_ids, attention_mask, token_type_ids: int32 [B, L]
      feature-extraction -> last_hidden_state [B, L, H]; sentence-embedding -> embedding [B, H]
      text-classification -> logits [B, C]; token-classification -> logits [B, L, C]
      question-answering -> start_logits, end_logits [B, L]; fill-mask -> logits [B, L, V]
    """

    def __init__(self, model, *, task: str, head: SentenceTransformerHead | None, bounded_mask: bool = False):
        super().__init__()
        self.model = model
        self.task = task
        self.head = head
        self.bounded_mask = bounded_mask
        self.output_names = TASKS[task][1]

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        mask = bounded_additive_mask(attention_mask) if self.bounded_mask else attention_mask
        kwargs = {"input_ids": input_ids, "attention_mask": mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)
        if self.head is not None:
            return {"embedding": pool(out.last_hidden_state, attention_mask, self.head)}
        return {name: getattr(out, name) for name in self.output_names}


def bounded_additive_mask(attention_mask):
    """[B, L] 1/0 mask -> [B, 1, L, L] additive float mask: 0 where attended, -100 on padding.

    HF's own expansion adds float32's minimum (-3.4e38) on padding, which is exact in float but makes the
    attention-score ranges that int8/int16 calibration sees useless; -100 is just as exact after softmax.
    """
    length = attention_mask.shape[1]
    bias = (1.0 - attention_mask.to(torch.float32)) * -100.0  # [B, L]
    return bias[:, None, None, :].expand(-1, 1, length, -1)


class BoundedLayerNorm(torch.nn.Module):
    """LayerNorm over the last axis, computed so that every intermediate tensor has a range that does not depend
    on the input's outliers (what per-tensor int16/int8 activation ranges need).

    nn.LayerNorm computes var = mean((x - mean(x))^2): on all-MiniLM-L6-v2 one residual channel reaches 196 on a
    few tokens, so the squared deviations span [0, 38000] and one int16 scale (38000 / 32767 = 1.2) rounds the
    other tokens' squares (~0.01-1) to 0 or 1: their variance comes out wrong. Here, per token (H = hidden size):

        xc = x - mean(x);  m = max|xc|;  y = xc / m          # y in [-1, 1]
        out = y * rsqrt(mean(y^2) + eps) * weight + bias     # mean(y^2) in [1/H, 1]

    which is LayerNorm with eps applied to mean(y^2) = var / m^2 instead of var: the same to float rounding for
    BERT's eps 1e-12; at most eps * H / 2 relative otherwise (1e-5 x 384 / 2 = 0.2% in the worst case, a
    one-hot row). It has no SQUARED_DIFFERENCE (no int16 kernel in TFLite): y * y is an integer MUL, and every op
    it traces to (SUB, MUL, MAXIMUM, MIN, DIV, MEAN, RSQRT, ADD) has an int16 kernel.
    """

    def __init__(self, layer_norm: "torch.nn.LayerNorm"):
        super().__init__()
        self.weight, self.bias, self.eps = layer_norm.weight, layer_norm.bias, layer_norm.eps

    def forward(self, x):  # x [..., H]
        xc = x - x.mean(-1, keepdim=True)
        # max|xc| as -min(-max(xc, -xc)): ai-edge-quantizer quantizes MAXIMUM and REDUCE_MIN, not ABS or REDUCE_MAX
        magnitude = torch.maximum(xc, xc * -1.0)
        m = torch.clamp((magnitude * -1.0).amin(-1, keepdim=True) * -1.0, min=1e-12)  # [..., 1]; xc = 0 rows
        y = xc / m
        out = y * torch.rsqrt((y * y).mean(-1, keepdim=True) + self.eps)
        return out * self.weight + self.bias if self.weight is not None else out


def bound_layer_norms(model: "torch.nn.Module") -> int:
    """Replace every nn.LayerNorm over one axis in ``model`` by a BoundedLayerNorm; how many were replaced."""
    count = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.LayerNorm) and len(child.normalized_shape) == 1:
                setattr(module, name, BoundedLayerNorm(child))
                count += 1
    return count


class ChannelScaledLinear(torch.nn.Module):
    """A linear layer with a few huge output channels, split into a tame linear layer and a per-channel scale:

        y = ((W / s) x + b / s) * s      # the same function; s [out] >= 1, > 1 only on the outlier channels

    The linear layer's own output (what an int8 FULLY_CONNECTED must hold on one scale) loses the outliers; the
    scale runs as a MUL on int16 activations. all-MiniLM-L6-v2's FFN output.dense reaches 196 on channel 99
    (layer 0) where its median channel peaks at 1.0: int8 steps of 1.5 against 0.06 after scaling.
    """

    def __init__(self, linear: "torch.nn.Linear", scale: "torch.Tensor"):
        super().__init__()
        self.linear = linear
        with torch.no_grad():
            linear.weight.div_(scale[:, None])
            if linear.bias is not None:
                linear.bias.div_(scale)
        self.register_buffer("scale", scale)

    def forward(self, x):
        return self.linear(x) * self.scale


def scale_outlier_channels(module: "torch.nn.Module", inputs: dict, ratio: float) -> dict[str, int]:
    """Wrap, in ChannelScaledLinear, every nn.Linear whose output channels peak above ``ratio`` x its median
    channel peak over ``inputs`` (the wrapper's forward keywords, torch tensors [N, L]); s = peak / (ratio x
    median), at least 1. Returns {module path: number of scaled channels}."""
    peaks: dict[str, list] = {}
    linears = {name: m for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)}
    hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: peaks.setdefault(name, []).append(
        out.detach().abs().reshape(-1, out.shape[-1]).amax(0))) for name, m in linears.items()]
    try:
        with torch.no_grad():
            for i in range(0, next(iter(inputs.values())).shape[0], 16):  # batches of 16 rows
                module(**{k: v[i:i + 16] for k, v in inputs.items()})
    finally:
        for h in hooks:
            h.remove()
    scaled = {}
    for name, seen in peaks.items():
        peak = torch.stack(seen).amax(0)  # [out]
        scale = torch.clamp(peak / (ratio * peak.median().clamp(min=1e-12)), min=1.0)
        if bool((scale > 1).any()):
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, ChannelScaledLinear(linears[name], scale))
            scaled[name] = int((scale > 1).sum())
    return scaled


def smooth_linear_inputs(module: "torch.nn.Module", inputs: dict, alpha: float) -> dict[str, Any]:
    """Move the range of every nn.Linear's input channels into its weight (SmoothQuant's migration), in place:

        y = W x + b = (W diag(s)) (x / s) + b,    s_c = max|x_c|^alpha / max|W_{:,c}|^(1 - alpha)

    ``max|x_c|`` is channel c's peak over ``inputs`` (the wrapper's forward keywords, torch tensors [N, L]). Linear
    layers that read the same tensor (a BERT layer's query, key and value) share one s, their weights' peak taken
    over all of them. The weight is scaled once, here; the division runs as a forward pre-hook, which the trace
    keeps as a float MUL by 1/s in front of the FULLY_CONNECTED (module paths, and so tensor names, unchanged).

    Why: a static int8 FULLY_CONNECTED rounds its whole input on one scale, set by its largest channel. In
    all-MiniLM-L6-v2 the LayerNorm outputs that feed query/key/value and the FFN reach 28 on a few channels where
    the rest stay near 1, so most channels get a handful of int8 steps. Returns {"layers": smoothed layer count,
    "groups": shared-input groups, "alpha": alpha}."""
    peaks: dict[str, "torch.Tensor"] = {}
    readers: dict[int, list[str]] = {}  # the first batch's input tensor -> the linears that read it
    alive = []  # those tensors, held so that no later tensor of the batch gets a freed one's id
    linears = {name: m for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)}

    def record(name, x, first):
        peak = x.detach().abs().reshape(-1, x.shape[-1]).amax(0)
        peaks[name] = peak if name not in peaks else torch.maximum(peaks[name], peak)
        if first:
            readers.setdefault(id(x), []).append(name)
            alive.append(x)

    state = {"first": True}
    hooks = [m.register_forward_pre_hook(lambda _m, args, name=name: record(name, args[0], state["first"]))
             for name, m in linears.items()]
    try:
        with torch.no_grad():
            for i in range(0, next(iter(inputs.values())).shape[0], 16):  # batches of 16 rows
                module(**{k: v[i:i + 16] for k, v in inputs.items()})
                state["first"] = False
                alive.clear()
    finally:
        for h in hooks:
            h.remove()
    groups = list(readers.values())
    for names in groups:
        with torch.no_grad():
            w_peak = torch.stack([linears[n].weight.abs().amax(0) for n in names]).amax(0)  # [in]
            x_peak = torch.stack([peaks[n] for n in names]).amax(0)
            s = (x_peak.clamp(min=1e-5) ** alpha / w_peak.clamp(min=1e-5) ** (1 - alpha)).clamp(min=1e-5)
            for n in names:
                linears[n].weight.mul_(s)
                linears[n].register_buffer("input_inverse_scale", 1.0 / s)
                linears[n].register_forward_pre_hook(_divide_input)
    return {"layers": sum(len(g) for g in groups), "groups": len(groups), "alpha": alpha}


def _divide_input(linear, args):
    return (args[0] * linear.input_inverse_scale, *args[1:])


def pool(tokens, attention_mask, head: SentenceTransformerHead):
    """sentence-transformers pooling over valid tokens: tokens [B, L, H], attention_mask [B, L] -> [B, H]."""
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)  # [B, L, 1]
    if head.pooling == "cls_token":
        pooled = tokens[:, 0]
    elif head.pooling == "max_tokens":
        pooled = (tokens + (1.0 - mask) * -1e9).max(dim=1).values
    else:
        summed = (tokens * mask).sum(dim=1)  # [B, H]
        count = mask.sum(dim=1).clamp(min=1e-9)  # [B, 1]
        pooled = summed / (count.sqrt() if head.pooling == "mean_sqrt_len_tokens" else count)
    if head.normalize:
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return pooled
