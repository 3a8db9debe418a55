"""PyTorch side of encoder export: load the HF model for a task and wrap it with named int32 inputs.

The wrapper is both what litert-torch traces and the reference that validation compares the flatbuffer with,
so the two can never disagree on pooling or input handling.

This module imports torch at the top: only the convert path imports it (never `edgellm bench`).
"""

from __future__ import annotations

from edgellm.archs import TASKS
from edgellm.convert.source import ModelSource, SentenceTransformerHead
from edgellm.errors import ModelFileError, require

torch = require("torch", "convert")

# Pooling used for --task sentence-embedding on a folder that is not a sentence-transformers one.
DEFAULT_HEAD = SentenceTransformerHead(pooling="mean_tokens", normalize=False)


def load_reference(source: ModelSource, task: str) -> "torch.nn.Module":
    """The float32 PyTorch module with forward(input_ids, attention_mask[, token_type_ids]) -> {name: tensor}."""
    transformers = require("transformers", "convert")
    auto_class = getattr(transformers, TASKS[task][0])
    try:
        model = auto_class.from_pretrained(source.path, trust_remote_code=False, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelFileError(f"could not load the weights in {str(source.path)!r} as {auto_class.__name__}: "
                             f"{_first_line(e)}; check that the folder was written by save_pretrained") from e
    head = (source.sentence_transformers or DEFAULT_HEAD) if task == "sentence-embedding" else None
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
