"""The LLM bench through LiteRT-LM (``edgellm bench --runtime litertlm``): the export's ``model.litertlm`` run by
LiteRT-LM's Engine + Session, with the same prompt and lengths as ``edgellm.bench.llm``.

Runtime only: imports ``litert_lm`` (the ``litertlm`` extra, litert-lm-api) inside the function. Figures are
LiteRT-LM's own instrumentation (``enable_benchmark``): time to first token, prefill and decode tokens/s of the
last turn. The prompt is the held text cut to ``prompt_tokens`` of our tokenizer and given as text (LiteRT-LM
tokenizes it again, adding its start token if the bundle has one; ``prompt_tokens_run`` says how many it ran).
Decoding is greedy (top-k 1) for ``new_tokens`` tokens; it stops early only at a stop token.

LiteRT-LM writes an XNNPACK weight cache (``*.xnnpack_cache``, about the size of the weights: 137 MB for int8
SmolLM2-135M) into its cache directory, by default next to the model. The bench gives it a temporary directory
that is deleted afterwards, so ``load_s`` is a cold load (no cache), as for our runtime.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edgellm.errors import ConfigError, MissingDependencyError, ModelFileError
from edgellm.manifest import FILES, LITERTLM_FILE, MODEL_FILE, read_manifest, verify_files

EXTRA = "litertlm"


def import_litert_lm():
    try:
        import litert_lm
    except ImportError as e:
        raise MissingDependencyError(f"--runtime litertlm needs LiteRT-LM (litert-lm-api): pip install "
                                     f"'edgellm[{EXTRA}]'") from e
    return litert_lm


def runtime_package() -> dict[str, str]:
    """{name, version} of the LiteRT-LM package (a report's ``runtime``); MissingDependencyError without it."""
    litert_lm = import_litert_lm()
    try:
        from importlib.metadata import PackageNotFoundError, version

        return {"name": "litert-lm-api", "version": version("litert-lm-api")}
    except PackageNotFoundError:  # vendored without metadata: the module's own version, if it has one
        return {"name": "litert-lm-api", "version": getattr(litert_lm, "__version__", "unknown")}


def bench_litertlm(folder: str | Path, config) -> dict[str, Any]:
    """``config``: an ``edgellm.bench.llm.LlmBenchConfig`` (its ``mode`` does not apply here)."""
    import resource

    from edgellm.bench.llm import HELD_TEXT
    from edgellm.generate.tokenizer import ChatTokenizer

    litert_lm = import_litert_lm()
    folder = Path(folder)
    bundle = folder / LITERTLM_FILE
    if not bundle.is_file():
        raise ModelFileError(f"{str(folder)!r} has no {LITERTLM_FILE}; re-export it with this edgellm "
                             "(`edgellm export --task text-generation` writes one) or use --runtime litert")
    manifest = read_manifest(folder)
    if config.verify:  # the bundle and tokenizer match edgellm.json's sizes and sha256 (model.tflite is not read)
        verify_files(folder, manifest, names=[n for n in (manifest.get(FILES) or {}) if n != MODEL_FILE])
    llm = manifest["llm"]
    if config.prompt_tokens + config.new_tokens > llm["cache_length"]:
        raise ConfigError(f"prompt_tokens + new_tokens = {config.prompt_tokens + config.new_tokens} exceed the "
                          f"export's KV cache ({llm['cache_length']})")
    tokenizer = ChatTokenizer(folder, special=llm.get("special_tokens", {}))
    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = tokenizer.encode(text, add_special_tokens=False)[: config.prompt_tokens]
    prompt = tokenizer.decode(ids)
    if hasattr(litert_lm, "set_min_log_severity"):
        litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    with tempfile.TemporaryDirectory(prefix="edgellm-litertlm-") as cache_dir:
        t0 = time.perf_counter()
        engine = litert_lm.Engine(str(bundle), backend=litert_lm.Backend.CPU(thread_count=config.threads),
                                  cache_dir=cache_dir, enable_benchmark=True)
        load_s = time.perf_counter() - t0
        runs, replies = [], []
        try:
            for i in range(config.runs + 1):  # the first is burn-in
                session = engine.create_session(apply_prompt_template=False,
                                                sampler_config=litert_lm.SamplerConfig(top_k=1),
                                                max_output_tokens=config.new_tokens)
                try:
                    session.run_prefill([prompt])
                    reply = session.run_decode().texts[0]
                    info = session.get_benchmark_info()
                finally:
                    session.close()
                if i:
                    runs.append(info)
                    replies.append(reply)
        finally:
            engine.close()
    if len(set(replies)) != 1:
        raise RuntimeError("LiteRT-LM's greedy replies changed between runs of the same bundle")
    return {
        "export": str(folder), "runtime": "litertlm", "recipe": (manifest.get("quantization") or {}).get("recipe"),
        **config.to_dict(), "mode": None,
        "load_s": load_s,
        "time_to_first_token_ms": 1e3 * statistics.median(r.time_to_first_token_in_second for r in runs),
        "prefill_tokens_per_second": statistics.median(r.last_prefill_tokens_per_second for r in runs),
        "decode_tokens_per_second": statistics.median(r.last_decode_tokens_per_second for r in runs),
        "prompt_tokens_run": runs[-1].last_prefill_token_count,
        "new_tokens_run": runs[-1].last_decode_token_count,
        "bytes_read_per_token": bundle.stat().st_size + llm["kv_cache"]["bytes"],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "prompt": prompt,
        "reply": replies[-1],
    }
