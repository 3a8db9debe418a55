"""Generate text with an LLM export folder through LiteRT: prefill the prompt, decode token by token.

Runtime only (numpy, ai-edge-litert, tokenizers, jinja2): runs where `edgellm bench` runs.

>>> llm = load_llm("out/smollm2", num_threads=2)  # doctest: +SKIP
>>> for piece in llm.generate("What is the capital of France?", GenerateConfig(chat=True)):  # doctest: +SKIP
...     print(piece, end="", flush=True)
>>> llm.last_stats.decode_tokens_per_second  # doctest: +SKIP

The prompt's tokens except the last are prefilled (chunked over the prefill_<T> signatures); the last one goes
through decode, whose logits give the first new token. Time to first token = that prefill + one decode + sampling.
"""

from __future__ import annotations

import numbers
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from edgellm.errors import ConfigError, ModelFileError, config_fields
from edgellm.manifest import FILES, LITERTLM_FILE, MODEL_FILE, TEXT_GENERATION, read_manifest, verify_files
from edgellm.generate.runner import MODES, CacheLayout, LlmRunner
from edgellm.generate.sampling import Sampler, SamplingConfig
from edgellm.generate.tokenizer import ChatTokenizer

__all__ = ["GenerateConfig", "GenerationStats", "Llm", "LlmRunner", "SamplingConfig", "load_llm"]



@dataclass(frozen=True, kw_only=True)
class GenerateConfig:
    max_new_tokens: int = 128  # stops earlier at an end-of-sequence token or when the KV cache is full
    chat: bool = False  # wrap the prompt as one user message in the export's chat template
    sampling: SamplingConfig = field(default_factory=SamplingConfig)  # default greedy
    stop_at_eos: bool = True  # False runs exactly max_new_tokens (validation and bench do)
    # exact speculative decoding (edgellm.generate.speculative): "lookup" (draft tokens copied from the prompt and
    # the text so far) or "draft:PATH" (a smaller export with the same tokenizer drafts); None: plain decoding
    speculative: str | None = None
    draft_tokens: int | None = None  # most draft tokens per step; None: lookup all the export verifies, a draft 4

    def __post_init__(self):
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be an integer >= 1; got {self.max_new_tokens!r}")
        for name in ("chat", "stop_at_eos"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}")
        from edgellm.generate.speculative import parse_speculative

        parse_speculative(self.speculative)
        k = self.draft_tokens
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ConfigError(f"draft_tokens must be an integer >= 1 (the export's verify_<T> checks up to T - 1); "
                              f"got {k!r}")
        if k is not None and self.speculative is None:
            raise ConfigError("draft_tokens is for speculative decoding; pass speculative='lookup' or 'draft:PATH' "
                              "too, or drop it")
        if isinstance(self.sampling, dict):
            object.__setattr__(self, "sampling", SamplingConfig.from_dict(self.sampling))
        if not isinstance(self.sampling, SamplingConfig):
            raise ConfigError(f"sampling must be a SamplingConfig (or its dict); got {type(self.sampling).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GenerateConfig":
        return cls(**config_fields(cls, data))


@dataclass(frozen=True, kw_only=True)
class GenerationStats:
    prompt_tokens: int
    new_tokens: int
    time_to_first_token_s: float  # prefill + first decode + sampling
    prefill_s: float
    decode_s: float  # the new tokens after the first
    stop_reason: str  # "eos", "max_new_tokens" or "cache_full"
    speculative: str | None = None  # the mode, None for plain decoding
    target_steps: int = 0  # speculative: target calls after the first token (decode, or verify of drafts)
    verify_steps: int = 0  # of which verify_<T> calls
    drafted_tokens: int = 0
    accepted_tokens: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted tokens (speculative decoding; 0 without drafts)."""
        return self.accepted_tokens / self.drafted_tokens if self.drafted_tokens else 0.0

    @property
    def mean_accepted_tokens_per_step(self) -> float:
        """New tokens per target call after the first token: accepted drafts + the target's own token (1.0 is
        plain decoding; speculative decoding only)."""
        return (self.new_tokens - 1) / self.target_steps if self.target_steps else 0.0

    @property
    def prefill_tokens_per_second(self) -> float:
        return self.prompt_tokens / self.time_to_first_token_s if self.time_to_first_token_s else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return (self.new_tokens - 1) / self.decode_s if self.decode_s > 0 and self.new_tokens > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prefill_tokens_per_second": self.prefill_tokens_per_second,
                "decode_tokens_per_second": self.decode_tokens_per_second,
                "acceptance_rate": self.acceptance_rate,
                "mean_accepted_tokens_per_step": self.mean_accepted_tokens_per_step}


class Llm:
    """An export folder loaded for generation: runner, tokenizer, special tokens."""

    def __init__(self, folder: str | Path, *, num_threads: int = 1, mode: str = "auto",
                 weight_cache: str | Path | None = None, verify: bool = True):
        if not isinstance(verify, bool):
            raise ConfigError(f"verify must be True or False; got {verify!r}")
        if not isinstance(folder, (str, os.PathLike)):
            raise ConfigError(f"folder must be a path (str or pathlib.Path); got {type(folder).__name__}")
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        if self.manifest.get("task") != TEXT_GENERATION:
            raise ModelFileError(f"{str(self.folder)!r} is a {self.manifest.get('task')!r} export; "
                                 "generate needs one made with --task text-generation")
        # the files generate reads (model.litertlm is LiteRT-LM's) match edgellm.json's sizes and hashes; a file no
        # hash vouches for (older export, verify=False) is loaded in a child process first (runtime/probe.py)
        reads = [name for name in (self.manifest.get(FILES) or {}) if name != LITERTLM_FILE]
        verified = verify and verify_files(self.folder, self.manifest, names=reads)
        llm = self.manifest.get("llm") or {}
        self.eos_token_ids = frozenset(int(i) for i in llm.get("eos_token_ids", ()))
        self.tokenizer = ChatTokenizer(self.folder, special=llm.get("special_tokens", {}))
        self.runner = LlmRunner(self.folder / self.manifest.get("model_file", MODEL_FILE), num_threads=num_threads,
                                mode=mode, weight_cache=weight_cache, safe_load=not verified)
        self.last_stats: GenerationStats | None = None
        self._num_threads, self._mode, self._verify = num_threads, mode, verify
        self._drafts: dict[str, Llm] = {}  # draft exports (speculative "draft:PATH"), loaded once
        self._speculative_costs: dict = {}  # seconds per decode / verify_<T> call, measured while generating

    def draft(self, speculative: str) -> "Llm":
        """The draft export of ``speculative`` ("draft:PATH"), loaded with this one's threads and runner mode and
        checked against it: same tokenizer and vocabulary, a cache at least as long."""
        from edgellm.generate.speculative import parse_speculative

        path = parse_speculative(speculative)[1]
        key = str(path)
        if key not in self._drafts:
            draft = Llm(path, num_threads=self._num_threads, mode=self._mode, verify=self._verify)
            if draft.layout.vocab_size != self.layout.vocab_size or \
                    draft.tokenizer._tok.get_vocab(with_added_tokens=True) != \
                    self.tokenizer._tok.get_vocab(with_added_tokens=True):
                raise ConfigError(f"draft export {key!r} has another tokenizer or vocabulary "
                                  f"({draft.layout.vocab_size} logits against {self.layout.vocab_size}); a draft "
                                  "must be exported from a model with the target's tokenizer")
            if draft.layout.cache_length < self.layout.cache_length:
                raise ConfigError(f"draft export {key!r} has a KV cache of {draft.layout.cache_length}, shorter "
                                  f"than the target's {self.layout.cache_length}; re-export the draft with "
                                  f"--cache-length {self.layout.cache_length}")
            self._drafts[key] = draft
        return self._drafts[key]

    @property
    def layout(self) -> CacheLayout:
        return self.runner.layout

    def encode_prompt(self, prompt: str, *, chat: bool) -> list[int]:
        if chat:
            return self.tokenizer.encode_chat([{"role": "user", "content": prompt}])
        return self.tokenizer.encode(prompt)

    def tokens(self, prompt_ids: Sequence[int], config: GenerateConfig = GenerateConfig()) -> Iterator[int]:
        """Yield new token ids (the end-of-sequence token is not yielded); stats land in ``last_stats``."""
        prompt_ids = list(prompt_ids)
        if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in prompt_ids):
            raise ConfigError("prompt_ids must be token ids (integers); encode text with Llm.encode_prompt, or "
                              "call Llm.generate with the text")
        _check_config(config)
        cache = self.layout.cache_length
        if not prompt_ids:
            raise ConfigError("the prompt is empty; give at least one token of text")
        if len(prompt_ids) >= cache:
            raise ConfigError(f"the prompt has {len(prompt_ids)} tokens but the KV cache holds {cache} (prompt and "
                              f"new tokens); shorten the prompt or re-export with --cache-length above "
                              f"{len(prompt_ids) + config.max_new_tokens}")
        if config.speculative is not None:
            yield from self._speculative(prompt_ids, config)
            return
        sample = Sampler(config.sampling)
        t0 = time.perf_counter()
        self.runner.prefill(prompt_ids[:-1], start=0)
        t_prefill = time.perf_counter()
        pos = len(prompt_ids) - 1
        token = sample(self.runner.decode(prompt_ids[-1], position=pos))
        t_first = time.perf_counter()
        n, reason = 0, "max_new_tokens"
        try:
            while True:
                if config.stop_at_eos and token in self.eos_token_ids:
                    reason = "eos"
                    break
                n += 1
                yield token
                if n >= config.max_new_tokens:
                    break
                pos += 1
                if pos >= cache:
                    reason = "cache_full"
                    break
                token = sample(self.runner.decode(token, position=pos))
        finally:
            self.last_stats = GenerationStats(prompt_tokens=len(prompt_ids), new_tokens=n,
                                              time_to_first_token_s=t_first - t0, prefill_s=t_prefill - t0,
                                              decode_s=time.perf_counter() - t_first, stop_reason=reason)

    def _speculative(self, prompt_ids: list[int], config: GenerateConfig) -> Iterator[int]:
        from edgellm.generate.speculative import SpeculativeCounts, check_speculative, speculative_tokens

        check_speculative(self, config)
        counts, marks = SpeculativeCounts(), {}
        t0 = time.perf_counter()
        n = 0
        try:
            for token in speculative_tokens(self, prompt_ids, config, counts, marks):
                n += 1
                yield token
        finally:
            end = time.perf_counter()
            first, prefill = marks.get("first", end), marks.get("prefill", end)
            self.last_stats = GenerationStats(
                prompt_tokens=len(prompt_ids), new_tokens=n, time_to_first_token_s=first - t0,
                prefill_s=prefill - t0, decode_s=end - first, stop_reason=marks.get("reason", "max_new_tokens"),
                speculative=config.speculative, target_steps=counts.target_steps, verify_steps=counts.verify_steps,
                drafted_tokens=counts.drafted_tokens, accepted_tokens=counts.accepted_tokens)

    def generate(self, prompt: str, config: GenerateConfig = GenerateConfig()) -> Iterator[str]:
        """Yield text pieces as they are decoded (a piece may hold several tokens, or wait for a whole character)."""
        if not isinstance(prompt, str):
            raise ConfigError(f"prompt must be a str; got {type(prompt).__name__}")
        _check_config(config)
        ids: list[int] = []
        shown = ""
        for token in self.tokens(self.encode_prompt(prompt, chat=config.chat), config):
            ids.append(token)
            text = self.tokenizer.decode(ids)
            if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
                continue
            if len(text) > len(shown):
                yield text[len(shown):]
                shown = text
        text = self.tokenizer.decode(ids)
        if len(text) > len(shown):
            yield text[len(shown):]


def _check_config(config) -> None:
    if not isinstance(config, GenerateConfig):
        raise ConfigError(f"config must be a GenerateConfig (GenerateConfig.from_dict makes one from a dict); got "
                          f"{type(config).__name__}")


def load_llm(folder: str | Path, *, num_threads: int = 1, mode: str = "auto",
             weight_cache: str | Path | None = None, verify: bool = True) -> Llm:
    """An export folder ready to generate. ``mode``: edgellm.generate.runner.MODES; ``weight_cache``: a file for
    XNNPACK's packed weights (made on the first load, memory-mapped after: faster loads; compiled runner only).
    ``verify``: check the files' sizes and sha256 against edgellm.json first (False: for exports edited on
    purpose; the model is then loaded in a child process first, which a corrupt file can crash instead)."""
    if mode not in MODES:
        raise ConfigError(f"runner mode {mode!r} is unknown; choose one of {', '.join(MODES)}")
    return Llm(folder, num_threads=num_threads, mode=mode, weight_cache=weight_cache, verify=verify)
