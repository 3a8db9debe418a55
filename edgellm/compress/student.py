"""A student for distillation: from the teacher (fewer layers, optionally narrower) or from a given HF folder.

From the teacher (DistilBERT style): ``layers`` of the teacher's L blocks are kept, every k-th one ending with the
last, ``kept = [(i + 1) * L // N - 1 for i in range(N)]``: 6 -> 3 keeps blocks 1, 3, 5; 30 -> 24 keeps 0, 1, 2, 3,
5, ... 29. A narrower student (``hidden``, below the teacher's width) keeps the head size, so it has
``hidden / head_dim`` heads (decoders: as many query heads per KV group as the teacher), and the FFN shrinks in
proportion; every student tensor starts as the leading slice of the teacher's tensor of the same name (heads are
laid out head-major, so the leading rows are whole heads). Same width: the kept blocks are copied exactly.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from edgellm.errors import ConfigError

_LAYER = re.compile(r"(\.layers?\.)(\d+)\.")  # encoder.layer.3. / model.layers.3.


def kept_layers(total: int, layers: int) -> list[int]:
    """Every k-th of ``total`` blocks, ``layers`` of them, the last one included."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ConfigError(f"student_layers must be a positive integer; got {layers!r}")
    if layers >= total:
        raise ConfigError(f"student_layers {layers} is not below the teacher's {total} layers; choose 1 to "
                          f"{total - 1}")
    return [(i + 1) * total // layers - 1 for i in range(layers)]


def student_config(teacher_config: Any, family: Any, layers: int, hidden: int | None) -> tuple[Any, list[int]]:
    """(the student's transformers config, the teacher blocks it keeps)."""
    cfg = copy.deepcopy(teacher_config)
    total = cfg.num_hidden_layers
    kept = kept_layers(total, layers)
    cfg.num_hidden_layers = layers
    types = getattr(cfg, "layer_types", None)
    if types:
        cfg.layer_types = [types[i] for i in kept]
    width = cfg.hidden_size
    if hidden is not None and hidden != width:
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ConfigError(f"student_hidden must be a positive integer; got {hidden!r}")
        if hidden > width:
            raise ConfigError(f"student_hidden {hidden} is wider than the teacher's hidden size {width}; a "
                              f"student must not be wider: choose at most {width}")
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or width // heads
        if hidden % head_dim:
            raise ConfigError(f"student_hidden {hidden} is not a multiple of the teacher's head size {head_dim}; "
                              f"choose e.g. {max(head_dim, hidden // head_dim * head_dim)}")
        new_heads = hidden // head_dim
        cfg.hidden_size = hidden
        cfg.num_attention_heads = new_heads
        if family.decoder:
            kv = getattr(cfg, "num_key_value_heads", None) or heads
            per_group = heads // kv
            if new_heads % per_group:
                raise ConfigError(f"student_hidden {hidden} gives {new_heads} heads, not a multiple of the teacher's "
                                  f"{per_group} query heads per KV group; choose a multiple of "
                                  f"{per_group * head_dim}")
            cfg.num_key_value_heads = new_heads // per_group
            cfg.head_dim = head_dim
        cfg.intermediate_size = max(1, round(cfg.intermediate_size * hidden / width))
        if getattr(cfg, "embedding_size", None) == width:  # electra-style: the embeddings follow the width
            cfg.embedding_size = hidden
    return cfg, kept


def from_teacher(teacher: Any, family: Any, layers: int, hidden: int | None = None):
    """A new model of the teacher's class with ``layers`` blocks (and width ``hidden``), initialised from the
    teacher's weights; (student, kept teacher blocks)."""
    import torch

    cfg, kept = student_config(teacher.config, family, layers, hidden)
    student = type(teacher)(cfg)
    source = teacher.state_dict()
    with torch.no_grad():
        for name, tensor in student.state_dict().items():
            src = source.get(_LAYER.sub(lambda m: f"{m.group(1)}{kept[int(m.group(2))]}.", name, count=1))
            if src is None:
                continue  # a buffer the student made itself (rotary inv_freq, position_ids)
            tensor.copy_(src[tuple(slice(0, n) for n in tensor.shape)] if src.dim() else src)
    return student.eval(), kept
