"""Per-architecture facts, keyed by the Hugging Face ``config.model_type``.

This table is the one place that says what edgellm supports: which tasks each family exports, which inputs its
forward takes, a tiny config for tests, and, for every gap, the reason. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from edgellm.errors import UnsupportedArchitectureError

# Task name -> (transformers Auto class, output names in signature order).
TASKS: Mapping[str, tuple[str, tuple[str, ...]]] = MappingProxyType({
    "feature-extraction": ("AutoModel", ("last_hidden_state",)),
    "sentence-embedding": ("AutoModel", ("embedding",)),
    "text-classification": ("AutoModelForSequenceClassification", ("logits",)),
    "token-classification": ("AutoModelForTokenClassification", ("logits",)),
    "question-answering": ("AutoModelForQuestionAnswering", ("start_logits", "end_logits")),
    "fill-mask": ("AutoModelForMaskedLM", ("logits",)),
})

# config.architectures suffix -> task, for `--task auto`.
_ARCHITECTURE_SUFFIX_TASK = (
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForPreTraining", "fill-mask"),
    ("Model", "feature-extraction"),
)

ENCODER_TASKS = tuple(TASKS)


@dataclass(frozen=True, kw_only=True)
class ArchSpec:
    """What edgellm knows about one model family."""

    model_type: str
    # Tasks this family exports; a task missing here is listed in `gaps` with its reason.
    tasks: tuple[str, ...] = ENCODER_TASKS
    # Whether the HF forward takes token_type_ids (segment ids); when it does they become a model input.
    token_type_ids: bool = True
    # RoBERTa-style position ids start at pad_token_id + 1, so that many position slots are unusable.
    position_offset: bool = False
    # Whether the HF forward accepts a prepared 4D additive float mask. When it does, the export wrapper passes
    # (1 - mask) * -100 instead of letting HF add float32's minimum: exact in float (exp(-100) underflows to 0)
    # and it keeps the attention-score ranges that int8/int16 calibration sees bounded.
    bounded_mask: bool = True
    # Linear layers whose inputs carry outliers (residual-stream projections; up to 196 in MiniLM's layer 0):
    # the int8 recipe keeps them dynamic-range (int8 weights, activations quantized per run) instead of static.
    # A regex over the flatbuffer's tensor names, which litert-torch derives from the PyTorch module path.
    outlier_linears: str | None = None
    # task -> why it is not supported.
    gaps: Mapping[str, str] = field(default_factory=dict)
    # Smallest config that still exercises every layer kind; tests build random models from it.
    tiny_config: Mapping[str, object] = field(default_factory=dict)


_TINY = dict(vocab_size=160, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
             max_position_embeddings=64)

# HF's BERT-style blocks name both projections back into the residual stream `output.dense`
# (BertSelfOutput / BertOutput, RobertaOutput, ElectraOutput, DebertaV2Output, ...).
_OUTPUT_DENSE = r".*Output_output/torch\.nn\.modules\.linear\.Linear_dense.*"
_LINEAR = r"/torch\.nn\.modules\.linear\.Linear_"
# The other families' residual projections, by their module names (checked on the tiny models' flatbuffers):
# distilbert attention.out_lin and ffn.lin2; mpnet attention.attn.o and output.dense; albert attention.dense and
# ffn_output; mobilebert output.dense plus the output bottleneck's dense.
_DISTILBERT_OUT = rf".*({_LINEAR}out_lin|FFN_ffn{_LINEAR}lin2)(;.*)?$"
_MPNET_OUT = rf"{_OUTPUT_DENSE}|.*MPNetSelfAttention_attn{_LINEAR}o(;.*)?$"
_ALBERT_OUT = rf".*(AlbertAttention_attention{_LINEAR}dense|{_LINEAR}ffn_output)(;.*)?$"
_MOBILEBERT_OUT = rf"{_OUTPUT_DENSE}|.*OutputBottleneck_bottleneck{_LINEAR}dense.*"

ARCHS: Mapping[str, ArchSpec] = MappingProxyType({
    spec.model_type: spec
    for spec in (
        ArchSpec(model_type="bert", outlier_linears=_OUTPUT_DENSE, tiny_config=_TINY),
        ArchSpec(model_type="distilbert", token_type_ids=False, outlier_linears=_DISTILBERT_OUT,
                 tiny_config=dict(vocab_size=160, dim=32, n_layers=2, n_heads=2, hidden_dim=37,
                                  max_position_embeddings=64)),
        ArchSpec(model_type="roberta", outlier_linears=_OUTPUT_DENSE, token_type_ids=False, position_offset=True,
                 tiny_config={**_TINY, "max_position_embeddings": 66, "pad_token_id": 1}),
        ArchSpec(model_type="xlm-roberta", outlier_linears=_OUTPUT_DENSE, token_type_ids=False, position_offset=True,
                 tiny_config={**_TINY, "max_position_embeddings": 66, "pad_token_id": 1}),
        ArchSpec(model_type="electra", outlier_linears=_OUTPUT_DENSE, tiny_config={**_TINY, "embedding_size": 16}),
        ArchSpec(model_type="mpnet", token_type_ids=False, position_offset=True, outlier_linears=_MPNET_OUT,
                 tiny_config={**_TINY, "max_position_embeddings": 66, "pad_token_id": 1}),
        ArchSpec(model_type="albert", outlier_linears=_ALBERT_OUT, tiny_config={**_TINY, "embedding_size": 16}),
        ArchSpec(model_type="deberta-v2", outlier_linears=_OUTPUT_DENSE, bounded_mask=False,
                 tiny_config={**_TINY, "type_vocab_size": 2, "relative_attention": True, "position_buckets": 8,
                              "pos_att_type": ["p2c", "c2p"], "max_relative_positions": -1}),
        ArchSpec(model_type="mobilebert", outlier_linears=_MOBILEBERT_OUT,
                 tiny_config={**_TINY, "embedding_size": 16, "intra_bottleneck_size": 16,
                              "true_hidden_size": 16, "num_feedforward_networks": 2}),
    )
})


def supported_model_types() -> list[str]:
    return sorted(ARCHS)


def get_arch(model_type: str | None) -> ArchSpec:
    """The ArchSpec of ``model_type``, or UnsupportedArchitectureError naming the supported ones."""
    try:
        return ARCHS[model_type]  # type: ignore[index]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"model_type {model_type!r} is not supported; supported: {', '.join(supported_model_types())}. "
            "Check config.json's model_type, or open an issue with the model folder's config.json"
        ) from None


def check_task(spec: ArchSpec, task: str) -> None:
    if task not in TASKS:
        raise UnsupportedArchitectureError(
            f"task {task!r} is unknown; known tasks: auto, {', '.join(TASKS)}")
    if task not in spec.tasks:
        reason = spec.gaps.get(task, "not declared for this family")
        raise UnsupportedArchitectureError(
            f"task {task!r} is not supported for model_type {spec.model_type!r} ({reason}); "
            f"supported tasks: {', '.join(spec.tasks)}")


def task_from_architectures(architectures: list[str] | None, *, sentence_transformers: bool) -> str:
    """The task `--task auto` picks: sentence-embedding for sentence-transformers folders, else from the head.

    >>> task_from_architectures(["BertForSequenceClassification"], sentence_transformers=False)
    'text-classification'
    """
    if sentence_transformers:
        return "sentence-embedding"
    for name in architectures or ():
        for suffix, task in _ARCHITECTURE_SUFFIX_TASK:
            if name.endswith(suffix):
                return task
    return "feature-extraction"
