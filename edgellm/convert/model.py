"""EdgeModel: a LiteRT flatbuffer in memory plus what the next stages need to know about it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from edgellm.convert.source import ModelSource


@dataclass(frozen=True, kw_only=True)
class EdgeModel:
    """The output of `convert` and `quantize`, for every model kind (an LLM's is the subclass DecoderModel).

    ``reference`` is the float PyTorch module the flatbuffer was traced from (same inputs, same named outputs);
    validation runs it as the ground truth. It lives in memory only.
    """

    content: bytes = field(repr=False)
    source: ModelSource
    task: str
    # encoders: (name, sequence length), shortest first; the inputs and outputs every signature has
    signatures: tuple[tuple[str, int], ...] = ()
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    recipe: str = "fp32"
    quantization: dict[str, Any] = field(default_factory=dict)  # recipe details for the manifest
    reference: Any = field(default=None, repr=False, compare=False)
    # What convert changed in the traced module for quantization (ConvertConfig), for the manifest:
    # {"bounded_layer_norms": count, "scaled_channels": {linear module path: channels}}; empty = as loaded.
    rewrites: dict[str, Any] = field(default_factory=dict)

    @property
    def sequence_length(self) -> int:
        """The longest input the model takes."""
        return self.signatures[-1][1]

    def signature_for(self, length: int) -> tuple[str, int]:
        """The shortest signature whose length fits ``length`` tokens (the longest when none does)."""
        return next((s for s in self.signatures if s[1] >= length), self.signatures[-1])

    @property
    def size_bytes(self) -> int:
        return len(self.content)

    def with_content(self, content: bytes, *, recipe: str, quantization: dict[str, Any]) -> "EdgeModel":
        return replace(self, content=content, recipe=recipe, quantization=quantization)
