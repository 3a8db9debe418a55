"""The distillation loss, one function per term (torch imported inside each).

    L = alpha * L_hard + (1 - alpha) * L_soft + L_hidden

- ``L_hard``: cross-entropy of the student's logits against the true labels; for causal LMs the next token.
- ``L_soft = T^2 * KL(softmax(z_teacher / T) || softmax(z_student / T))`` per position, averaged over the
  positions that the attention mask keeps. T^2 keeps the gradient's scale independent of T (Hinton et al. 2015).
  Worked example: z_teacher = [2, 0], z_student = [0, 0], T = 2: p_t = softmax([1, 0]) = [0.7311, 0.2689],
  p_s = [0.5, 0.5], KL = 0.7311 ln(0.7311 / 0.5) + 0.2689 ln(0.2689 / 0.5) = 0.1109, L_soft = 4 * 0.1109 = 0.4438.
- ``L_hidden`` (encoders, which have no labels to learn from): the student's last hidden state, mapped through a
  learned ``projection`` (a bias-free Linear) where its width differs from the teacher's, against the teacher's,
  per token and for the mean-pooled sentence embedding (what a sentence-transformers model outputs):
  ``cosine``: (1 - cos) per token + (1 - cos) of the pooled vectors; ``mse``: the mean squared error of both.

A term whose inputs are absent (no logits, no labels) is left out and reported as None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from edgellm.errors import ConfigError, config_fields

HIDDEN_KINDS = ("cosine", "mse")


@dataclass(frozen=True, kw_only=True)
class LossConfig:
    temperature: float = 2.0  # T: softens both distributions; the soft term is scaled by T^2
    alpha: float = 0.5  # weight of the hard (label) term; 1 - alpha weighs the soft (teacher) term
    hidden: str | None = None  # cosine | mse: the hidden-state term (encoders), None: none
    hidden_weight: float = 1.0  # weight of the hidden-state term

    def __post_init__(self):
        for name in ("temperature", "hidden_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a number above 0, e.g. 2.0; got {value!r}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 <= self.alpha <= 1:
            raise ConfigError(f"alpha must be a weight in [0, 1], e.g. 0.5; got {self.alpha!r}")
        if self.hidden is not None and self.hidden not in HIDDEN_KINDS:
            raise ConfigError(f"hidden loss {self.hidden!r} is not known; choose {' or '.join(HIDDEN_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LossConfig":
        return cls(**config_fields(cls, dict(data) if isinstance(data, Mapping) else data))


def soft_kl(student_logits, teacher_logits, temperature: float, mask=None):
    """T^2 * KL(softmax(t/T) || softmax(s/T)) over the last axis, mean over positions (``mask`` 1 = counted).
    Shapes: logits [..., V], mask [...]."""
    import torch.nn.functional as F

    log_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # [...]
    return temperature ** 2 * _masked_mean(kl, mask)


def next_token_ce(logits, input_ids, mask=None):
    """Cross-entropy of position i's logits against token i+1 (causal LMs), mean over the kept targets.
    Shapes: logits [B, S, V], input_ids and mask [B, S]."""
    import torch.nn.functional as F

    ce = F.cross_entropy(logits[:, :-1].float().transpose(1, 2), input_ids[:, 1:], reduction="none")  # [B, S-1]
    return _masked_mean(ce, None if mask is None else mask[:, 1:])


def hidden_term(student_hidden, teacher_hidden, mask, kind: str, projection=None):
    """Per-token and mean-pooled distance between hidden states [B, S, H_s] (projected to H_t) and [B, S, H_t]."""
    import torch.nn.functional as F

    hs = student_hidden.float() if projection is None else projection(student_hidden.float())
    ht = teacher_hidden.float()
    m = None if mask is None else mask.to(hs.dtype)
    if m is None:
        pooled_s, pooled_t = hs.mean(1), ht.mean(1)
    else:
        denom = m.sum(1, keepdim=True).clamp(min=1)
        pooled_s = (hs * m[..., None]).sum(1) / denom
        pooled_t = (ht * m[..., None]).sum(1) / denom
    if kind == "cosine":
        tokens = _masked_mean(1 - F.cosine_similarity(hs, ht, dim=-1), mask)
        pooled = (1 - F.cosine_similarity(pooled_s, pooled_t, dim=-1)).mean()
    else:
        tokens = _masked_mean(((hs - ht) ** 2).mean(-1), mask)
        pooled = ((pooled_s - pooled_t) ** 2).mean()
    return tokens + pooled


def distill_loss(student_out: Mapping[str, Any], teacher_out: Mapping[str, Any], batch: Mapping[str, Any],
                 config: LossConfig, *, causal: bool, projection=None):
    """(total, {"hard", "soft", "hidden": float or None}) for one batch.

    ``*_out``: a model's outputs (``logits`` and/or ``hidden_states``); ``batch``: ``input_ids``,
    ``attention_mask`` and, where the data has them, ``labels`` (one class per row; causal LMs use the next token).
    """
    mask = batch.get("attention_mask")
    s_logits, t_logits = student_out.get("logits"), teacher_out.get("logits")
    hard = soft = hidden = None
    if s_logits is not None and causal:
        hard = next_token_ce(s_logits, batch["input_ids"], mask)
    elif s_logits is not None and batch.get("labels") is not None:
        import torch.nn.functional as F

        hard = F.cross_entropy(s_logits.float(), batch["labels"])
    if s_logits is not None and t_logits is not None:
        soft = soft_kl(s_logits, t_logits, config.temperature, mask if s_logits.dim() == 3 else None)
    if config.hidden is not None:
        hidden = hidden_term(student_out["hidden_states"][-1], teacher_out["hidden_states"][-1], mask,
                             config.hidden, projection)
    terms = [(config.alpha, hard), (1 - config.alpha, soft), (config.hidden_weight, hidden)]
    present = [w * t for w, t in terms if t is not None]
    if not present:
        raise ConfigError("the models give no logits and no hidden-state term is set; set hidden='cosine' or 'mse'")
    total = sum(present[1:], present[0])
    parts = {k: None if t is None else float(t.detach()) for k, t in (("hard", hard), ("soft", soft),
                                                                      ("hidden", hidden))}
    return total, parts


def _masked_mean(values, mask):
    if mask is None:
        return values.mean()
    m = mask.to(values.dtype)
    return (values * m).sum() / m.sum().clamp(min=1)
