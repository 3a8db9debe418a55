"""Causal LM -> float LiteRT flatbuffer with signatures ``prefill_<T>`` (one per prefill length), ``decode`` and
``decode_<W>`` (one per decode window).

Every signature takes ``tokens`` int32 [1, T], ``input_pos`` int32 [T] and the KV cache (``kv_k_cache_<i>``
[kvh, C, D], ``kv_v_cache_<i>`` [kvh, D, C] per layer), and returns the K/V rows of its T tokens
(``k_new_<i>``, ``v_new_<i>``); decode also returns ``logits`` [1, V]. The runtime (edgellm.generate) keeps the
cache and writes the new rows in place. Prefill returns no logits: the prompt's last token goes through decode.
``decode_<W>`` is decode reading only the first W cache positions (same inputs, the whole cache): the runtime uses
the smallest window that holds every filled position, so a step costs what the conversation so far needs.
``verify_<T>`` is prefill that also returns ``logits`` [T, V], the next-token logits of every position: speculative
decoding (edgellm.generate.speculative) checks the pending token and T - 1 draft tokens in one call.

Weights are shared by all signatures in the flatbuffer (one copy).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgellm.convert.decoder.source import DecoderSource, is_gguf, read_decoder_source
from edgellm.convert.model import EdgeModel
from edgellm.errors import ConfigError, ModelFileError, UnsupportedOpError, require
from edgellm.manifest import TEXT_GENERATION

__all__ = ["DecoderConfig", "DecoderModel", "DecoderSource", "convert_decoder", "is_gguf", "load_reference",
           "read_decoder_source"]

TASK = TEXT_GENERATION
MIN_DECODE_WINDOW = 64  # the default windows stop here: below it a step's attention is a small share of its time
# verify_<T> signatures: T = 1 pending token + up to T - 1 draft tokens (docs/speculative.md, measured there)
DEFAULT_VERIFY_LENGTHS = (2, 4, 8)
MAX_VERIFY_LENGTH = 64


@dataclass(frozen=True, kw_only=True)
class DecoderConfig:
    """How to convert a causal LM.

    cache_length: KV-cache positions C (prompt + new tokens). Decode reads the whole cache every step
        (static shapes), so it costs time: SmolLM2-135M's fp32 cache is 46 KB per position (11.8 MB at 256).
    prefill_lengths: the prefill_<T> signatures; a prompt is prefilled in chunks of these (the smallest that
        takes the rest), leftovers by decode. Each one adds a graph but no weights.
    decode_windows: the decode_<W> signatures (W < C), decode over the first W cache positions only. Attention
        reads (and XNNPACK re-packs) every cache position it is given on every step: at cache 1024, SmolLM2's 30
        layers of attention took 11.2 ms per step over the whole cache and 1.7 ms over 128 positions (1 thread,
        benchmarks/experiments/llm_attention_window.py). None (default): C/2, C/4, C/8 down to 64; () for none.
    verify_lengths: the verify_<T> signatures (speculative decoding: the pending token + up to T - 1 draft
        tokens in one call, logits at every position); () for none (`--speculative` then refuses the export).
    """

    cache_length: int = 512
    prefill_lengths: tuple[int, ...] = (32, 128)
    decode_windows: tuple[int, ...] | None = None
    verify_lengths: tuple[int, ...] = DEFAULT_VERIFY_LENGTHS

    def __post_init__(self):
        c = self.cache_length
        if isinstance(c, bool) or not isinstance(c, int) or not 8 <= c <= 32768:
            raise ConfigError(f"cache_length must be an integer in [8, 32768]; got {c!r}")
        lengths = (self.prefill_lengths,) if isinstance(self.prefill_lengths, int) else tuple(self.prefill_lengths)
        if not lengths or any(isinstance(t, bool) or not isinstance(t, int) or not 2 <= t <= c for t in lengths):
            raise ConfigError(f"prefill_lengths must be integers in [2, cache_length={c}], e.g. 32,128; "
                              f"got {self.prefill_lengths!r}")
        object.__setattr__(self, "prefill_lengths", tuple(sorted(set(lengths))))
        windows = self.decode_windows
        if windows is None:
            windows = tuple(w for w in (c // 2, c // 4, c // 8) if w >= MIN_DECODE_WINDOW)
        windows = (windows,) if isinstance(windows, int) else tuple(windows)
        if any(isinstance(w, bool) or not isinstance(w, int) or not 2 <= w < c for w in windows):
            raise ConfigError(f"decode_windows must be integers in [2, cache_length={c}), e.g. 64,128, or none; "
                              f"got {self.decode_windows!r}")
        object.__setattr__(self, "decode_windows", tuple(sorted(set(windows))))
        verify = self.verify_lengths
        verify = (verify,) if isinstance(verify, int) else tuple(verify)
        if any(isinstance(t, bool) or not isinstance(t, int) or not 2 <= t <= min(c, MAX_VERIFY_LENGTH)
               for t in verify):
            raise ConfigError(f"verify_lengths must be integers in [2, {min(c, MAX_VERIFY_LENGTH)}] (tokens per "
                              f"verify call: 1 + draft tokens), e.g. 2,4,8, or none; got {self.verify_lengths!r}")
        object.__setattr__(self, "verify_lengths", tuple(sorted(set(verify))))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prefill_lengths": list(self.prefill_lengths),
                "decode_windows": list(self.decode_windows),
                "verify_lengths": list(self.verify_lengths)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DecoderConfig":
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class DecoderModel(EdgeModel):
    """An LLM's EdgeModel: the output of ``convert_decoder`` (and of ``edgellm.quantize`` applied to it). Its
    signatures are described by ``config`` (prefill_<T>, decode, decode_<W>); ``reference`` is the float HF model."""

    source: DecoderSource
    config: DecoderConfig
    task: str = TASK


def load_reference(source: DecoderSource):
    """The float32 HF causal LM (eval mode)."""
    torch = require("torch", "convert")
    transformers = require("transformers", "convert")
    if source.gguf:
        require("accelerate", "convert")  # transformers' GGUF loading needs it
        require("gguf", "convert")
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(**source.from_pretrained_kwargs(),
                                                                  dtype=torch.float32, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise ModelFileError(f"could not load {str(source.path)!r} as a causal LM: "
                             f"{str(e).strip().splitlines()[0][:200]}") from e
    return model.eval()


def convert_decoder(source: DecoderSource, config: DecoderConfig = DecoderConfig(), *, reference=None,
                    module=None) -> DecoderModel:
    """Convert a causal LM into a float32 DecoderModel (in memory; nothing is written).

    module: the HF model to trace when it is not the reference itself (int4's split layers,
        edgellm.quantize.int4); the DecoderModel keeps ``reference`` for validation.
    """
    max_pos = int(source.config.get("max_position_embeddings") or 0)
    if max_pos and config.cache_length > max_pos:
        raise ConfigError(f"cache_length {config.cache_length} is above the model's max_position_embeddings "
                          f"({max_pos}); pass --cache-length {max_pos} or less")
    from edgellm.convert.decoder.layers import DecoderForExport, torch, trim_heap

    model = reference if reference is not None else load_reference(source)
    litert_torch = require("litert_torch", "convert")
    litert_torch.config.show_progress = False
    converter = litert_torch.Converter()
    traced = module if module is not None else model
    prefill = DecoderForExport(traced, source.spec, cache_length=config.cache_length, with_logits=False).eval()
    decode = DecoderForExport(traced, source.spec, cache_length=config.cache_length, with_logits=True).eval()
    trim_heap()  # the weights fused by the wrappers freed their originals (see trim_heap)
    for t in config.prefill_lengths:
        converter.signature(f"prefill_{t}", prefill, sample_kwargs=_sample(decode, t))
    converter.signature("decode", decode, sample_kwargs=_sample(decode, 1))
    for w in config.decode_windows:
        windowed = DecoderForExport(traced, source.spec, cache_length=config.cache_length, with_logits=True,
                                    window=w).eval()
        converter.signature(f"decode_{w}", windowed, sample_kwargs=_sample(decode, 1))
    if config.verify_lengths:
        verify = DecoderForExport(traced, source.spec, cache_length=config.cache_length, with_logits=True,
                                  all_logits=True).eval()
        for t in config.verify_lengths:
            converter.signature(f"verify_{t}", verify, sample_kwargs=_sample(decode, t))
    try:
        with torch.no_grad(), decomposed_once():
            # constants handled lazily: peak RSS 2.4x the float weights instead of 4.3x (12-layer SmolLM2 shape)
            converted = converter.convert(lightweight_conversion=True)
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as e:
        raise UnsupportedOpError(
            f"litert-torch could not convert {source.model_type} for {TASK}: {str(e).strip().splitlines()[0]}; "
            "run with --debug for the trace and report it with the model's config.json") from e
    # model_content() copies the serialized flatbuffer into Python bytes while litert-torch's own buffer and the MLIR
    # module are alive; written from C++ to a file and read back once the module is freed, fewer copies coexist
    # (same bytes; a smaller conversion peak in benchmarks/llm_export_memory.py's per-phase figures). The heap is
    # trimmed first: the serializer's buffers are mmapped and would not reuse its free pages. Serializing is the
    # conversion's peak: the MLIR module references the PyTorch weights (no copy), and the serializer adds 1.4x the
    # flatbuffer's bytes on top (SmolLM2-135M: 1.49 GB before, 2.24 GB during).
    trim_heap()
    with tempfile.TemporaryDirectory(prefix="edgellm-convert-") as tmp:
        path = Path(tmp) / "float.tflite"
        converted.export(str(path))
        del converted
        content = path.read_bytes()
    return DecoderModel(content=content, source=source, config=config, reference=model)


@contextlib.contextmanager
def decomposed_once():
    """litert-torch 0.10 retraces every signature's graph to decompose it right after torch.export (its pre-convert
    table) and again before lowering (the pre-lower table, which holds every pre-convert entry too): about 9 s each
    per SmolLM2 signature. Inside this block the first is skipped, as litert-torch's own V2 converter does
    (``export_torch_signature(run_decompositions=False)``); the flatbuffer is the same byte for byte on every decoder
    family's tiny model, and after int4's and int8-dynamic's weight preparation (tests/convert/test_decoder.py checks
    two families). Where that keyword is gone, nothing changes.
    """
    from litert_torch._convert import core

    export = core.export_torch_signature
    if "run_decompositions" not in inspect.signature(export).parameters:
        yield
        return
    core.export_torch_signature = functools.partial(export, run_decompositions=False)
    try:
        yield
    finally:
        core.export_torch_signature = export


def _sample(module, t: int) -> dict[str, Any]:
    from edgellm.convert.decoder.layers import torch

    kvh, d, c = module.num_kv_heads, module.head_dim, module.cache_length
    layers = len(module.model.model.layers)
    kv = {f"k_cache_{i}": torch.zeros(kvh, c, d) for i in range(layers)}
    kv |= {f"v_cache_{i}": torch.zeros(kvh, d, c) for i in range(layers)}
    return {"tokens": torch.zeros((1, t), dtype=torch.int32), "input_pos": torch.arange(t, dtype=torch.int32),
            "kv": kv}
