"""``BenchConfig``: how ``edgellm.benchmark`` times a model. Pure data; imports nothing heavy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgellm.errors import ConfigError

ACCELERATORS = ("cpu", "gpu", "npu")
FORMATS = ("table", "json", "csv", "markdown")
LLM_RUNTIMES = ("litert", "litertlm")

# Interpreter keywords that BenchConfig sets itself; the rest of the runtime's keywords may be passed through.
_RESERVED_OPTIONS = {
    "model_path": "the PATH argument",
    "model_content": "the PATH argument",
    "num_threads": "threads / --threads",
    "experimental_op_resolver_type": "xnnpack=False / --no-xnnpack",
    "experimental_delegates": "accelerator / --accelerator",
}


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What to run and how long.

    Steady state is ``runs`` timed invokes *and* at least ``min_seconds`` of them, whichever is longer, after
    one first invoke (reported alone, it pays for lazy allocation) and ``warmup`` untimed ones. Example: a
    4 ms model with ``runs=50, min_seconds=1.0`` is invoked 1 + 5 + 250 times.

    Text-generation exports (edgellm.json task "text-generation") are timed as LLMs instead: one burn-in
    generation, then the median of 3, each a ``prompt_tokens`` prompt and ``new_tokens`` greedy tokens; the
    fields from ``runs`` to ``interpreter_options`` are for encoders, the four from ``prompt_tokens`` for LLMs.
    """

    threads: tuple[int, ...] = (1,)
    # one result per thread count; each gets a fresh interpreter (XNNPACK's thread pool is fixed at load)
    runs: int = 50
    # minimum timed invokes: p99 needs >= 100 to mean anything, p50 settles at ~30
    min_seconds: float = 1.0
    # minimum timed wall time, so frequency scaling and background load average out (benchmark_model: 1 s)
    warmup: int = 5
    # untimed invokes after the first one: caches, XNNPACK weight packing, CPU clocks ramping up
    xnnpack: bool = True
    # False runs the builtin kernels only (BUILTIN_WITHOUT_DEFAULT_DELEGATES): shows what XNNPACK buys
    accelerator: str | None = None
    # None: the classic Interpreter (+XNNPACK), works with every runtime and reports partitions;
    # "cpu" | "gpu" | "npu": ai-edge-litert's CompiledModel with that HardwareAccelerator, CPU fallback stated
    input_file: str | None = None
    # .npz keyed by signature input name, shapes and dtypes exactly as the model's (edgellm inspect shows them)
    text_file: str | None = None
    # export folders: one sample per line, each run at the smallest signature whose sequence length fits
    signature: str | None = None
    # which signature to time; None = the one whose length equals edgellm.json sequence_length, else the first
    seed: int = 0
    # random inputs of a bare .tflite (token ids inside the vocabulary) are drawn from this seed
    interpreter_options: dict[str, Any] = field(default_factory=dict)
    # extra Interpreter keywords (or CpuOptions fields with an accelerator); unknown names are rejected
    verify: bool = True
    # export folders: check the files against edgellm.json's sizes and sha256 first; a file no hash vouches for
    # (bare .tflite, older export, verify=False) is loaded in a child process first (edgellm.runtime.probe)
    prompt_tokens: int = 64
    # LLMs: prompt length of the prefill test (llama-bench pp64), cut from held English text
    new_tokens: int = 64
    # LLMs: greedy tokens of the decode test (llama-bench tg64), never stopped early at end-of-sequence
    runtime: str = "litert"
    # LLMs: "litert" (edgellm's runner on the LiteRT interpreter) or "litertlm" (the export's model.litertlm
    # through LiteRT-LM's Engine + Session; the 'litertlm' extra)
    weight_cache: str | None = None
    # LLMs, runtime "litert": XNNPACK's packed weights in this file (made by the first load, memory-mapped by
    # later ones: load_s shows what it saves)
    speculative: str | None = None
    # LLMs, runtime "litert": "lookup" or "draft:PATH", exact speculative decoding (edgellm.generate.speculative);
    # the row adds the acceptance rate and the mean accepted tokens per step
    draft_tokens: int | None = None  # LLMs, with speculative: most draft tokens per step

    def __post_init__(self):
        threads = (self.threads,) if isinstance(self.threads, int) else tuple(self.threads)
        if not threads or any(not isinstance(t, int) or isinstance(t, bool) or t < 1 for t in threads):
            raise ConfigError(f"threads must be positive integers such as (1, 2, 4); got {self.threads!r}")
        object.__setattr__(self, "threads", threads)
        for name in ("xnnpack", "verify"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if not isinstance(self.runs, int) or self.runs < 1:
            raise ConfigError(f"runs must be an integer >= 1; got {self.runs!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ConfigError(f"warmup must be an integer >= 0; got {self.warmup!r}")
        if not isinstance(self.min_seconds, (int, float)) or self.min_seconds < 0:
            raise ConfigError(f"min_seconds must be a number >= 0; got {self.min_seconds!r}")
        if self.accelerator is not None and self.accelerator not in ACCELERATORS:
            raise ConfigError(f"unknown accelerator {self.accelerator!r}; choose one of {', '.join(ACCELERATORS)} "
                              "(or none for the classic interpreter)")
        if self.input_file is not None and self.text_file is not None:
            raise ConfigError("input_file and text_file both given; pass one: fixed tensors (.npz) or text samples")
        for name in ("prompt_tokens", "new_tokens"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {v!r}")
        if self.runtime not in LLM_RUNTIMES:
            raise ConfigError(f"unknown runtime {self.runtime!r}; choose one of {', '.join(LLM_RUNTIMES)}")
        if self.weight_cache is not None and self.runtime != "litert":
            raise ConfigError("--weight-cache is for --runtime litert (LiteRT-LM keeps its own cache next to the "
                              "model)")
        if (self.speculative is not None or self.draft_tokens is not None) and self.runtime != "litert":
            raise ConfigError("--speculative and --draft-tokens are for --runtime litert (edgellm's runner)")
        from edgellm.generate import GenerateConfig

        GenerateConfig(speculative=self.speculative, draft_tokens=self.draft_tokens)  # the same checks
        for key in self.interpreter_options:
            if key in _RESERVED_OPTIONS:
                raise ConfigError(f"interpreter option {key!r} is set by edgellm; use {_RESERVED_OPTIONS[key]}")
        object.__setattr__(self, "interpreter_options", dict(self.interpreter_options))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["threads"] = list(self.threads)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BenchConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown BenchConfig keys {unknown}; known: {', '.join(sorted(known))}")
        d = dict(d)
        if "threads" in d and not isinstance(d["threads"], int):
            d["threads"] = tuple(d["threads"])
        return cls(**d)


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line: true/false -> bool, digits -> int, else the string.

    >>> parse_option("experimental_disable_delegate_clustering=true")
    ('experimental_disable_delegate_clustering', True)
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"interpreter option {text!r} is not KEY=VALUE, e.g. experimental_disable_delegate_clustering=true")
    v: Any = value.strip()
    if v.lower() in ("true", "false"):
        v = v.lower() == "true"
    else:
        try:
            v = int(v)
        except ValueError:
            pass
    return key.strip(), v
