"""SmoothQuant-style scale migration for int8-dynamic decoder exports (greedy output vs the float model).

XNNPACK quantizes each linear layer's input row at run time to asymmetric int8 over the row's range (qd8). A few
activation channels with large magnitudes (SmolLM2's RMSNorm outputs and, above all, the inputs of its MLP
down_proj) set that range, and every other channel of the row is rounded on a coarse grid. Dividing channel j of
the activation by s_j and multiplying the weight's input column j by s_j leaves the float model's function
unchanged and moves the range into the weights, which are quantized per output channel (Xiao et al., SmoothQuant):

    s_j = max|x_j| ** alpha / max|W[:, j]| ** (1 - alpha)      (max|x_j| over calibration text)

The division is folded into the op that produces the activation, so nothing is added to the graph:
    input_layernorm weight    -> q_proj, k_proj, v_proj input columns
    post_attention_layernorm  -> gate_proj, up_proj input columns
    v_proj output rows        -> o_proj input columns (per KV-head channel, every query head of the group)
    up_proj output rows       -> down_proj input columns   (silu(gate) * up is linear in up)
Worked example: x = [100, 1] (per-row int8 step 101 / 255 = 0.40, so x_2 = 1 is rounded to 0.79 or 1.19) and
W = [[0.01, 1]]: with alpha = 0.5, s = [sqrt(100 / 0.01), sqrt(1 / 1)] = [100, 1] -> x' = [1, 1], W' = [[1, 1]],
and both inputs survive the rounding exactly; x' @ W'^T = x @ W^T = 2.

Applies to families whose RMSNorm multiplies by its weight (y = w * x / rms(x)) and that have separate q/k/v and
gate/up projections (SMOOTH_MODEL_TYPES); ``smooth_decoder`` checks the float function is unchanged.

int4 (``SmoothConfig.block`` 32): XNNPACK rounds the inputs of 4-bit layers to int8 per row in the same way, but a
weight's 4-bit grid (a GGUF file's own) must stay exact, and a per-channel factor would move its values off the grid.
A factor that is constant over each block of 32 input channels and a power of two multiplies the block's scale
(and offset) instead and leaves its ints alone, exactly; the same holds for a power-of-two factor per output row
(v_proj, up_proj). Since a block scale absorbs any block-constant factor, the weights do not enter the choice:
    s_b = 2 ** round(alpha * log2(act_b / max_b act_b)),  act_b = mean over tokens of max_{j in b} |x_tj|
with alpha INT4_ALPHA (0.25). The mean of each token's block maximum, not the maximum over the corpus: a few tokens
(the first of a text, chat markers) carry activations hundreds of times the usual ones, and ranges set by them
hurt every other token. Measured on the SmolLM2-135M-Instruct Q4_1 GGUF int4 export against the fp32 export
(benchmarks/llm_fidelity.py; KL / top-1 teacher-forced on 640 positions of the fp32 export's own chat replies, then
on 256 held tokens; greedy chat on 20 prompts): none 0.0211 / 92.0%, 0.0215 / 93.7%, 0.44; alpha 0.25 0.0133 /
95.0%, 0.0161 / 90.6%, 0.62; alpha 0.5 0.0140 / 94.4%, 0.0142 / 91.4%, 0.50 (and "What is the capital of
France?" answered "L'Étoile de la Cité...").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from edgellm.errors import ConfigError, UnsupportedArchitectureError, require

SMOOTH_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
SMOOTH_RECIPES = ("int8-dynamic", "int4")  # the recipes whose activations XNNPACK rounds to int8 at run time
REPLY_BATCH = 16  # chat calibration: conversations whose replies one batched greedy call writes
INT4_ALPHA = 0.25  # int4's block factors (module docstring: chat top-1 and greedy were best at 0.25)
CALIBRATIONS = ("auto", "text", "text+chat")


@dataclass(frozen=True, kw_only=True)
class SmoothConfig:
    """How to migrate activation scale into the weights.

    alpha: share of each channel's activation range moved into the weights (0 = nothing, 1 = all of it);
        0.5 balances both, the SmoothQuant paper's default.
    calibration_tokens: tokens of the built-in calibration corpus (edgellm/calibrate/data/en.txt) run through the
        float model to measure max|x_j|; never the validation prompts or the held text.
    sequence_length: tokens per calibration forward pass.
    calibration: what max|x_j| is measured on. "text": the corpus as one plain-text stream (calibration_ids);
        "text+chat": that and the corpus as chat (chat_calibration_ids: each line a user message through the chat
        template, followed by the float model's greedy reply), calibration_tokens each, so each channel's range is
        the larger of the two; "auto": "text+chat" when the tokenizer has a chat template, else "text". In a
        PyTorch simulation on SmolLM2-135M-Instruct (benchmarks/experiments/llm_int8_smooth.py --chat) "text" changed the
        chat answer to "What is the capital of France?" (L'Étoile...) and "text+chat" kept Paris, with held
        perplexity x1.0030 (text x1.0067, no smoothing x1.0172).
    block: 1, one factor per input channel (int8-dynamic); or a block size (int4: 32), one power-of-two factor per
        block of that many input channels, so that blockwise 4-bit grids stay exact (see the module docstring).
    """

    alpha: float = 0.5
    calibration_tokens: int = 2048
    sequence_length: int = 256
    calibration: str = "auto"
    block: int = 1

    def __post_init__(self):
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"smooth alpha must be a number in [0, 1]; got {self.alpha!r}")
        for name in ("calibration_tokens", "sequence_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"smooth {name} must be an integer >= 2; got {value!r}")
        if isinstance(self.block, bool) or not isinstance(self.block, int) or self.block < 1:
            raise ConfigError(f"smooth block must be an integer >= 1 (1: per channel; int4: 32); got {self.block!r}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"smooth calibration must be one of {', '.join(CALIBRATIONS)}; got {self.calibration!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SmoothConfig":
        return cls(**data)


def supports_smoothing(model_type: str) -> bool:
    return model_type in SMOOTH_MODEL_TYPES


def _corpus_lines() -> list[str]:
    from edgellm.calibrate.samples import corpus_path

    return [line.strip() for line in corpus_path("en").read_text("utf-8").splitlines() if line.strip()]


def calibration_ids(tokenizer, config: SmoothConfig) -> list[list[int]]:
    """The built-in calibration corpus, tokenized as one stream and cut into sequence_length chunks."""
    ids = list(tokenizer(" ".join(_corpus_lines()))["input_ids"])[: config.calibration_tokens]
    n = config.sequence_length
    return [ids[i:i + n] for i in range(0, len(ids), n) if len(ids[i:i + n]) >= 2]


def chat_calibration_ids(tokenizer, config: SmoothConfig, model=None, *, reply_tokens: int = 32
                         ) -> list[list[int]]:
    """The corpus as a chat app feeds the model: each line one user message through the tokenizer's chat template
    (add_generation_prompt=True, as `edgellm generate --chat` renders it), followed, when ``model`` is given, by
    the float model's own greedy reply (at most reply_tokens, up to its end-of-turn token; REPLY_BATCH replies at a
    time, left-padded into one batched greedy call: a token per forward for all of them). One conversation per
    chunk (cut to sequence_length) until calibration_tokens; lines in a fixed shuffled order (seed 0), so the
    corpus's kinds of line (news, questions, instructions, code, ...) all appear.
    """
    import random

    from edgellm.validate.decoder import batched_greedy, eos_token_ids

    lines = _corpus_lines()
    random.Random(0).shuffle(lines)
    stop = set(eos_token_ids(model, tokenizer)) if model is not None else set()  # only replies need it
    chunks, total = [], 0
    for start in range(0, len(lines), REPLY_BATCH):  # replies of REPLY_BATCH lines in one batched greedy call
        prompts = []
        for line in lines[start:start + REPLY_BATCH]:
            text = tokenizer.apply_chat_template([{"role": "user", "content": line}], tokenize=False,
                                                 add_generation_prompt=True)
            prompts.append(list(tokenizer(text, add_special_tokens=False)["input_ids"])[: config.sequence_length])
        budgets = [min(reply_tokens, config.sequence_length - len(ids)) for ids in prompts]
        if model is not None and max(budgets) > 0:
            replies = batched_greedy(model, prompts, max(budgets))
            for ids, reply, budget in zip(prompts, replies, budgets):
                for token in reply[:budget]:  # up to and with the end-of-turn token
                    ids.append(token)
                    if token in stop:
                        break
        for ids in prompts:
            ids = ids[: config.calibration_tokens - total]
            if len(ids) >= 2:
                chunks.append(ids)
                total += len(ids)
            if total >= config.calibration_tokens:
                return chunks
    return chunks


def smoothing_calibration(tokenizer, config: SmoothConfig, model) -> tuple[SmoothConfig, list[list[int]]]:
    """The chunks ``config.calibration`` asks for, and ``config`` with "auto" resolved (what the manifest records).

    ``model``: the float model (before smoothing), which writes the chat replies.
    """
    from dataclasses import replace

    kind = config.calibration
    if kind == "auto":
        kind = "text+chat" if getattr(tokenizer, "chat_template", None) else "text"
    chunks = calibration_ids(tokenizer, config)
    if kind == "text+chat":
        chunks += chat_calibration_ids(tokenizer, config, model)
    return replace(config, calibration=kind), chunks


def activation_ranges(model, chunks: Sequence[Sequence[int]], block: int = 1) -> dict[str, Any]:
    """The input range of every decoder linear layer over the chunks, {module name: tensor}: block 1, max|x_j| per
    channel [in_features]; block > 1, the mean over tokens of each block's max|x_tj| [in_features / block]."""
    torch = require("torch", "convert")
    ranges: dict[str, Any] = {}
    tokens: dict[str, int] = {}
    hooks = []

    def record(name):
        def hook(module, args):
            x = args[0].detach().abs().reshape(-1, args[0].shape[-1])  # [tokens, in_features]
            if block == 1:
                x = x.amax(0)
                ranges[name] = x if name not in ranges else torch.maximum(ranges[name], x)
            else:
                x = x.reshape(x.shape[0], -1, block).amax(-1)  # [tokens, blocks]
                ranges[name] = ranges.get(name, 0) + x.sum(0)
                tokens[name] = tokens.get(name, 0) + x.shape[0]
        return hook

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layers." in name:
            hooks.append(module.register_forward_pre_hook(record(name)))
    try:
        with torch.no_grad():
            for chunk in chunks:
                model(torch.tensor([list(chunk)]))
    finally:
        for h in hooks:
            h.remove()
    return {name: r / tokens[name] for name, r in ranges.items()} if block > 1 else ranges


def _scales(act, weights, alpha: float, block: int = 1):
    """Per input channel [n]: block 1, s_j = act_j ** alpha / max_k |W_k[:, j]| ** (1 - alpha), clamped away from 0
    (act [n], weights [out, n]); block > 1, _block_scales of act [n / block], repeated over each block."""
    torch = require("torch", "convert")
    if block > 1:
        return _block_scales(act, alpha).repeat_interleave(block, dim=-1)
    w = torch.stack([x.abs().amax(0) for x in weights]).amax(0)  # [n]
    s = act.clamp_min(1e-5).pow(alpha) / w.clamp_min(1e-5).pow(1 - alpha)
    return s.clamp(1e-2, 1e4)


def _block_scales(act, alpha: float):
    """2 ** round(alpha * log2(act_b / max act)) per block (act [..., blocks]): powers of two in [2^-20, 1]."""
    torch = require("torch", "convert")
    ratio = (act / act.max().clamp_min(1e-12)).clamp_min(1e-12)
    return torch.exp2(torch.round(alpha * torch.log2(ratio)).clamp(-20, 0))


def smooth_decoder(model, chunks: Sequence[Sequence[int]], config: SmoothConfig = SmoothConfig(),
                   factors: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Migrate activation scale into the weights of ``model`` (an HF causal LM, changed in place).

    Returns what the manifest records: the config and, per kind of activation, the largest max|x_j| / median
    max|x_j| ratio before and after (how much the outlier channels stand out of a row; per block with
    ``config.block`` > 1). ``factors``, when given, receives what each weight was multiplied by, as float32 numpy
    vectors: {module name: {"columns": [in_features], "rows": [out_features]}} (int4 scales its grids with them).
    """
    torch = require("torch", "convert")
    if not supports_smoothing(model.config.model_type):
        raise ConfigError(f"scale migration supports {', '.join(SMOOTH_MODEL_TYPES)}; got {model.config.model_type!r}")
    if not chunks:
        raise ConfigError("scale migration needs calibration text; got no chunk of 2 tokens or more")
    probe = torch.tensor([list(chunks[0])])
    with torch.no_grad():
        before = model(probe).logits.float()
    block = config.block
    ranges = activation_ranges(model, chunks, block)
    cfg = model.config
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    group = heads // kv_heads
    alpha = float(config.alpha)
    spread: dict[str, list[float]] = {}

    def note(kind: str, act, s) -> None:
        """act and s per channel (block 1) or per block."""
        s = s if block == 1 else s.reshape(*s.shape[:-1], -1, block)[..., 0]
        before = float(act.max() / act.median().clamp_min(1e-12))
        after_act = act / s
        spread.setdefault(kind, [0.0, 0.0])
        spread[kind][0] = max(spread[kind][0], before)
        spread[kind][1] = max(spread[kind][1], float(after_act.max() / after_act.median().clamp_min(1e-12)))

    def record(module_name: str, side: str, s) -> None:
        if factors is not None:
            entry = factors.setdefault(module_name, {})
            value = s.detach().reshape(-1).numpy().astype("float32")
            entry[side] = entry[side] * value if side in entry else value

    with torch.no_grad():
        for i, layer in enumerate(model.model.layers):
            prefix = f"model.layers.{i}."
            attn, mlp = layer.self_attn, layer.mlp
            # norm -> q/k/v, norm -> gate/up
            for norm, linears, names, kind in (
                    (layer.input_layernorm, (attn.q_proj, attn.k_proj, attn.v_proj),
                     ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), "qkv"),
                    (layer.post_attention_layernorm, (mlp.gate_proj, mlp.up_proj), ("mlp.gate_proj", "mlp.up_proj"),
                     "gate_up")):
                act = ranges[prefix + names[0]]
                s = _scales(act, [m.weight for m in linears], alpha, block)
                note(kind, act, s)
                norm.weight.div_(s)
                for m, name in zip(linears, names):
                    m.weight.mul_(s)
                    record(prefix + name, "columns", s)
            # v_proj rows -> o_proj columns: o_proj input column (head h, channel d) is v row (h // group, d)
            act_o = ranges[prefix + "self_attn.o_proj"]
            if block == 1:
                act_o = act_o.reshape(kv_heads, group, head_dim).amax(1)  # [kvh, D]
                w_o = attn.o_proj.weight.abs().amax(0).reshape(kv_heads, group, head_dim).amax(1)  # [kvh, D]
                s = (act_o.clamp_min(1e-5).pow(alpha) / w_o.clamp_min(1e-5).pow(1 - alpha)).clamp(1e-2, 1e4)
            elif head_dim % block == 0:  # a block of o_proj's input lies within one head
                act_o = act_o.reshape(kv_heads, group, head_dim // block).amax(1)  # [kvh, D / block]
                s = _scales(act_o, None, alpha, block)  # [kvh, D]
            else:  # blocks that straddle heads: no factor keeps both the grid and the function
                act_o, s = None, torch.ones(kv_heads, head_dim)
            if act_o is not None:
                note("o", act_o.reshape(-1), s.reshape(-1))
            attn.v_proj.weight.div_(s.reshape(-1, 1))
            record(prefix + "self_attn.v_proj", "rows", 1 / s)
            if attn.v_proj.bias is not None:
                attn.v_proj.bias.div_(s.reshape(-1))
            s_o = s[:, None, :].expand(kv_heads, group, head_dim).reshape(1, -1)
            attn.o_proj.weight.mul_(s_o)
            record(prefix + "self_attn.o_proj", "columns", s_o)
            # up_proj rows -> down_proj columns
            act = ranges[prefix + "mlp.down_proj"]
            s = _scales(act, [mlp.down_proj.weight], alpha, block)
            note("down", act, s)
            mlp.up_proj.weight.div_(s.reshape(-1, 1))
            record(prefix + "mlp.up_proj", "rows", 1 / s)
            if mlp.up_proj.bias is not None:
                mlp.up_proj.bias.div_(s.reshape(-1))
            mlp.down_proj.weight.mul_(s.reshape(1, -1))
            record(prefix + "mlp.down_proj", "columns", s)
        error = float((model(probe).logits.float() - before).abs().max() / before.abs().max().clamp_min(1e-12))
    if error > 1e-3:
        raise UnsupportedArchitectureError(
            f"scale migration changed the float {model.config.model_type} model's logits by {error:.2e} of their "
            "range (allowed 1e-3): its norms or projections are not the y = w * x / rms(x) -> linear layout this "
            "migration assumes; export without --smooth")
    method = "smoothquant" if block == 1 else "smoothquant-blocks"
    return {"method": method, **config.to_dict(), "layers": len(model.model.layers),
            "float_logit_change": error, "max_over_median_range": {k: {"before": round(v[0], 1), "after": round(v[1], 1)}
                                      for k, v in spread.items()}}
