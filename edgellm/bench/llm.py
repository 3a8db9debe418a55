"""LLM timing in llama-bench's terms: time to first token, prefill (pp) and decode (tg) tokens/s.

Runtime only (the `edgellm bench` rule). One burn-in generation, then ``runs`` timed ones; medians are reported.
The prompt is exactly ``prompt_tokens`` tokens of held English text, and ``new_tokens`` greedy tokens are
decoded without stopping at end-of-sequence, so every run does the same work.

``edgellm.benchmark`` on a text-generation export runs ``benchmark_llm`` here: one BenchResult per export ×
thread count, each holding ``bench_llm``'s row (or ``bench_litertlm``'s), in the same BenchReport as encoders.

>>> report = edgellm.benchmark("out/smollm2_int8", BenchConfig(threads=(2,)))  # doctest: +SKIP
>>> report.results[0]["decode_tokens_per_second"]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from edgellm.bench.config import BenchConfig
from edgellm.bench.report import BenchReport, llm_result
from edgellm.errors import ConfigError
from edgellm.generate import GenerateConfig, load_llm
from edgellm.generate.runner import MODES
from edgellm.manifest import LITERTLM_FILE, MODEL_FILE, read_manifest

HELD_TEXT = Path(__file__).resolve().parents[1] / "calibrate" / "data" / "en_eval.txt"


@dataclass(frozen=True, kw_only=True)
class LlmBenchConfig:
    threads: int = 1
    prompt_tokens: int = 64  # llama-bench's pp64
    new_tokens: int = 64  # tg64
    runs: int = 3
    mode: str = "auto"  # runner mode (edgellm.generate.runner.MODES); "copy" is the naive baseline
    weight_cache: str | None = None  # XNNPACK weight cache file (compiled runner); load_s shows what it saves
    verify: bool = True  # check the files against edgellm.json's sizes and sha256 (load_llm's verify)
    speculative: str | None = None  # "lookup" | "draft:PATH": the decode test decodes speculatively
    draft_tokens: int | None = None  # with speculative: most draft tokens per step

    def __post_init__(self):
        for name in ("threads", "prompt_tokens", "new_tokens", "runs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1; got {v!r}")
        if not isinstance(self.verify, bool):
            raise ConfigError(f"verify must be True or False; got {self.verify!r}")
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        GenerateConfig(speculative=self.speculative, draft_tokens=self.draft_tokens)  # the same checks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bench_llm(folder: str | Path, config: LlmBenchConfig = LlmBenchConfig()) -> dict[str, Any]:
    folder = Path(folder)
    t0 = time.perf_counter()
    llm = load_llm(folder, num_threads=config.threads, mode=config.mode, weight_cache=config.weight_cache,
                   verify=config.verify)
    load_s = time.perf_counter() - t0
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = llm.tokenizer.encode(text)[: config.prompt_tokens]
    if len(ids) < config.prompt_tokens:
        raise ConfigError(f"the held text has {len(ids)} tokens; pass prompt_tokens <= {len(ids)}")
    if config.prompt_tokens + config.new_tokens > llm.layout.cache_length:
        raise ConfigError(f"prompt_tokens + new_tokens = {config.prompt_tokens + config.new_tokens} exceed the "
                          f"export's KV cache ({llm.layout.cache_length})")
    gen = GenerateConfig(max_new_tokens=config.new_tokens, stop_at_eos=False, speculative=config.speculative,
                         draft_tokens=config.draft_tokens)
    tokens = list(llm.tokens(ids, gen))  # burn-in
    stats = []
    for _ in range(config.runs):
        if list(llm.tokens(ids, gen)) != tokens:
            raise RuntimeError("greedy tokens changed between runs of the same export")
        stats.append(llm.last_stats)
    manifest = llm.manifest
    # the cache positions each decode step reads: its window (decode_<W>) or the whole cache
    layout = llm.layout
    read = [next((w for w in layout.decode_windows if pos <= w), layout.cache_length)
            for pos in range(config.prompt_tokens - 1, config.prompt_tokens - 1 + config.new_tokens)]
    cache_bytes = manifest["llm"]["kv_cache"]["bytes"] * sum(read) / len(read) / layout.cache_length
    bytes_per_token = (folder / manifest["model_file"]).stat().st_size + int(cache_bytes)
    return {
        "export": str(folder), "recipe": (manifest.get("quantization") or {}).get("recipe"), **config.to_dict(),
        "runner_mode": llm.runner.mode, "runner_fallback_reason": llm.runner.fallback_reason,
        "load_s": load_s,
        "time_to_first_token_ms": 1e3 * statistics.median(s.time_to_first_token_s for s in stats),
        "prefill_tokens_per_second": statistics.median(s.prefill_tokens_per_second for s in stats),
        "decode_tokens_per_second": statistics.median(s.decode_tokens_per_second for s in stats),
        # speculative decoding (None without): accepted / drafted tokens, and tokens per target call after the first
        "acceptance_rate": statistics.median(s.acceptance_rate for s in stats) if config.speculative else None,
        "mean_accepted_tokens_per_step": (statistics.median(s.mean_accepted_tokens_per_step for s in stats)
                                          if config.speculative else None),
        "bytes_read_per_token": bytes_per_token,  # weights once + the KV-cache positions decode reads
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "tokens": tokens,
    }


def benchmark_llm(folders: Sequence[str | os.PathLike], config: BenchConfig, *,
                  progress: Callable[[int, int, str, float], None] | None = None) -> BenchReport:
    """Time text-generation export folders at each of ``config.threads`` on ``config.runtime``: one BenchResult
    per folder × thread count (``bench_llm``'s or ``bench_litertlm``'s row plus the keys every bench row has).

    ``edgellm.benchmark`` calls this for text-generation exports; call that instead. Every folder's manifest and
    lengths are checked before the first generation, so a bad third folder fails in a second.
    """
    from edgellm.bench.host import host_info, peak_rss_mb, reset_peak_rss
    from edgellm.bench.target import Target

    folders = [Path(f) for f in folders]
    manifests = [read_manifest(f) for f in folders]
    for folder, manifest in zip(folders, manifests):
        cache = (manifest.get("llm") or {}).get("cache_length")
        if isinstance(cache, int) and config.prompt_tokens + config.new_tokens > cache:
            raise ConfigError(f"prompt_tokens + new_tokens = {config.prompt_tokens + config.new_tokens} exceed the "
                              f"export's KV cache ({cache}) of {folder}")
    if config.runtime == "litertlm":
        from edgellm.bench.litertlm import bench_litertlm, runtime_package

        run, package = bench_litertlm, runtime_package()  # fails here, before any work, without the extra
    else:
        from edgellm.runtime.litert import find_runtime

        run, package = bench_llm, find_runtime().to_dict()
    jobs = [(folder, manifest, threads) for folder, manifest in zip(folders, manifests) for threads in config.threads]
    results = []
    for j, (folder, manifest, threads) in enumerate(jobs):
        label = f"{folder.name} @ {threads} thread{'s' if threads > 1 else ''}"
        if progress is not None:
            progress(j, len(jobs), label, 0.0)
        reset_peak_rss()  # each row's peak, not the process's so far (Linux)
        row = run(folder, LlmBenchConfig(threads=threads, prompt_tokens=config.prompt_tokens,
                                         new_tokens=config.new_tokens, weight_cache=config.weight_cache,
                                         verify=config.verify, speculative=config.speculative,
                                         draft_tokens=config.draft_tokens))
        peak = peak_rss_mb()
        if peak is not None:
            row["peak_rss_bytes"] = int(peak * 2**20)
        file = folder / (LITERTLM_FILE if config.runtime == "litertlm" else manifest.get("model_file", MODEL_FILE))
        quantization = manifest.get("quantization") if isinstance(manifest.get("quantization"), dict) else {}
        model = {"path": str(file), "size_bytes": file.stat().st_size, "name": folder.name, "kind": "export-folder",
                 "model_type": manifest.get("model_type"), "recipe": quantization.get("recipe")}
        results.append(llm_result({"runtime": config.runtime, **row}, model=model, runtime_package=package,
                                  peak_rss_mb=peak, fidelity=Target(str(folder), file, folder, manifest).fidelity()))
        if progress is not None:
            progress(j, len(jobs), label, 1.0)
    return BenchReport(tuple(results), host_info(), package, config.to_dict())
