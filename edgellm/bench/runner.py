"""``benchmark``: time LiteRT models the way ``benchmark_model`` does, from Python, with valid inputs.

Per model × thread count, in this order (nanoGPT-style: burn-in, then the timed stage):
    verify      parse the flatbuffer in Python (modelfile.read_model): a corrupt file stops here, one line
    load        Interpreter(...) + allocate_tensors()     -> init_ms (XNNPACK packs weights here)
    first       one invoke, alone                          -> first_invoke_ms
    warm-up     ``warmup`` invokes                         -> warmup_ms.mean
    timed       >= ``runs`` invokes and >= ``min_seconds`` -> latency_ms, inferences_per_s
Only ``invoke()`` is inside the timer; inputs are set before it (once for a fixed input, before every
invoke with ``text_file``). ``runner_overhead_us`` is the loop's own cost per invoke outside the timer.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import time
from typing import Callable, Sequence

from edgellm.bench.config import BenchConfig
from edgellm.bench.host import current_rss_mb, host_info, peak_rss_mb, reset_peak_rss
from edgellm.bench.inputs import Samples, build_samples
from edgellm.runtime.modelfile import ModelFile, read_model
from edgellm.runtime.probe import probe
from edgellm.bench.report import MIXED_KINDS, BenchReport, BenchResult, load_report
from edgellm.runtime.litert import (Loaded, Runtime, Session, find_runtime, load_compiled_model, load_interpreter,
                                   native_stderr)
from edgellm.bench.stats import summarize
from edgellm.bench.target import Target, resolve
from edgellm.errors import ConfigError, ModelFileError
from edgellm.manifest import is_llm_export

# progress(job, jobs, label, fraction of the timed stage done)
Progress = Callable[[int, int, str, float], None]


def _choose_signature(target: Target, model: ModelFile, config: BenchConfig) -> str:
    names = [s.name for s in model.signatures]
    lengths = target.signature_lengths()
    missing = [n for n in lengths if n not in names]
    if missing:
        raise ModelFileError(f"{target.folder}/edgellm.json lists signature(s) {', '.join(missing)} that "
                             f"{target.model_path.name} does not have (it has {', '.join(names)}); re-export the folder")
    if config.signature is not None:
        if config.signature not in names:
            raise ConfigError(f"signature {config.signature!r} is not in {target.model_path.name}; it has: "
                              f"{', '.join(names)}")
        return config.signature
    wanted = (target.manifest or {}).get("sequence_length")
    for name, length in lengths.items():
        if length == wanted:
            return name
    return names[0]


def _load(runtime: Runtime, target: Target, threads: int, config: BenchConfig) -> Loaded:
    if config.accelerator is None:
        return load_interpreter(runtime, str(target.model_path), threads=threads, xnnpack=config.xnnpack,
                                options=config.interpreter_options)
    return load_compiled_model(runtime, str(target.model_path), accelerator=config.accelerator, threads=threads,
                               xnnpack=config.xnnpack, options=config.interpreter_options)


def _invoke_error(target: Target, e: BaseException) -> ModelFileError:
    text = " ".join(str(e).split())[:300]
    return ModelFileError(f"{target.model_path}: invoke failed ({text}); check the inputs with `edgellm inspect "
                          f"{target.given}`")


def _time_one(target: Target, model: ModelFile, samples: Samples, loaded: Loaded, config: BenchConfig,
              tick: Callable[[float], None]) -> dict:
    """The first / warm-up / timed stages on a loaded model; returns the timing part of a result."""
    clock = time.perf_counter_ns
    sessions: dict[str, Session] = {}
    for sig, arrays in samples.items:
        if sig not in sessions:
            sessions[sig] = Session(loaded, sig, list(arrays))
    items = samples.items
    fixed = len(items) == 1
    try:
        sig0, arrays0 = items[0]
        sessions[sig0].set_inputs(arrays0)
        t0 = clock()
        sessions[sig0].invoke()
        first_ns = clock() - t0
        warmed = {sig0}  # every other signature once, untimed: its first invoke is not steady state either
        for sig, arrays in items:
            if sig not in warmed:
                sessions[sig].set_inputs(arrays)
                sessions[sig].invoke()
                warmed.add(sig)
        warm = []
        for i in range(config.warmup):
            sig, arrays = items[i % len(items)]
            if not fixed:
                sessions[sig].set_inputs(arrays)
            t0 = clock()
            sessions[sig].invoke()
            warm.append(clock() - t0)
        rss_warm = current_rss_mb()

        times: list[int] = []
        append = times.append
        min_ns = int(config.min_seconds * 1e9)
        if fixed:
            session = sessions[sig0]
            session.set_inputs(arrays0)
            invoke = session.invoke
            chunk = max(1, config.runs // 10)
            start = clock()
            while True:
                for _ in range(chunk):
                    t0 = clock()
                    invoke()
                    append(clock() - t0)
                elapsed = clock() - start
                tick(min(1.0, max(len(times) / config.runs, elapsed / min_ns if min_ns else 1.0)))
                if len(times) >= config.runs and elapsed >= min_ns:
                    break
            wall = clock() - start
            sig_of_run = None
        else:  # whole passes over the file, so every line weighs the same
            order = [(sessions[sig], arrays, sig) for sig, arrays in items]
            sig_of_run = []
            need = max(config.runs, len(order))
            start = clock()
            while True:
                for session, arrays, sig in order:
                    session.set_inputs(arrays)
                    t0 = clock()
                    session.invoke()
                    append(clock() - t0)
                    sig_of_run.append(sig)
                elapsed = clock() - start
                tick(min(1.0, max(len(times) / need, elapsed / min_ns if min_ns else 1.0)))
                if len(times) >= need and elapsed >= min_ns:
                    break
            wall = clock() - start
    except (RuntimeError, ValueError) as e:
        raise _invoke_error(target, e) from e
    rss_end = current_rss_mb()

    ms = [t / 1e6 for t in times]
    stats = summarize(ms)
    out = {
        "first_invoke_ms": round(first_ns / 1e6, 4),
        "warmup_ms": {"runs": len(warm), "mean": round(sum(warm) / len(warm) / 1e6, 4) if warm else None},
        "latency_ms": stats.to_dict(),
        "runs": stats.count,
        "inferences_per_s": round(1000.0 / stats.mean, 2) if stats.mean > 0 else None,
        "runner_overhead_us": round((wall - sum(times)) / len(times) / 1e3, 3),
        "rss_growth_mb": round(rss_end - rss_warm, 2) if rss_end is not None and rss_warm is not None else None,
    }
    if sig_of_run is not None:
        per = {}
        for sig in dict.fromkeys(sig_of_run):
            sig_ms = [m for m, s in zip(ms, sig_of_run) if s == sig]
            st = summarize(sig_ms)
            per[sig] = {"samples": samples.info["per_signature"][sig], "runs": len(sig_ms),
                        "p50": round(st.p50, 4), "mean": round(st.mean, 4)}
        out["per_signature"] = per
    return out


def _model_info(target: Target, model: ModelFile) -> dict:
    m = target.manifest or {}
    q = m.get("quantization") if isinstance(m.get("quantization"), dict) else {}
    return {
        "path": str(target.model_path),
        "size_bytes": target.model_path.stat().st_size,
        "name": target.name,
        "kind": target.kind,
        "model_type": m.get("model_type"),
        "task": m.get("task"),
        "recipe": q.get("recipe"),
    }


def benchmark(paths: str | os.PathLike | Sequence[str | os.PathLike], config: BenchConfig | None = None, *,
              progress: Progress | None = None) -> BenchReport:
    """Time one or more models at each of ``config.threads``: the one bench entry for encoders and LLMs.

    A PATH is a ``.tflite`` file or an export folder, timed here; or a report saved as JSON (a ``.json`` PATH,
    e.g. brought back from a Raspberry Pi), which joins the result without being re-run. Export folders whose
    edgellm.json task is "text-generation" are timed as LLMs (``edgellm.bench.llm``: time to first token, prefill
    and decode tokens/s on ``config.runtime``), everything else as encoders (invoke latency). Both give rows of
    the same BenchReport; one report holds one kind (ConfigError otherwise).

    Every PATH is resolved and checked before anything runs, so a typo in the third PATH fails in a second,
    not after two benchmarks. Several PATHs give a comparison against the first one (``BenchReport.comparison()``:
    speed-up, size ratio, fidelity from each edgellm.json). Results keep the order of the PATHs.

    Example:
        report = benchmark("out/minilm-int8", BenchConfig(threads=(1, 2), runs=100))
        report.results[0]["latency_ms"]["p50"]   # ms, median of the timed invokes at 1 thread
        report = benchmark("out/smollm2-int8", BenchConfig(prompt_tokens=64, new_tokens=64))
        report.results[0]["decode_tokens_per_second"]
    """
    config = config or BenchConfig()
    if isinstance(paths, (str, os.PathLike)) or hasattr(paths, "path"):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ConfigError("no model given; pass at least one .tflite file or export folder")
    saved = {i: load_report(os.fspath(p)) for i, p in enumerate(paths) if _is_saved_report(p)}
    live = [p for i, p in enumerate(paths) if i not in saved]
    llm = [is_llm_export(os.fspath(getattr(p, "path", p))) for p in live]
    if config.runtime != "litert" and not all(llm):
        raise ConfigError(f"--runtime {config.runtime} runs text-generation export folders only; drop it for "
                          ".tflite files and other exports")
    if len(set(llm)) > 1 or len({r.is_llm for report in saved.values() for r in report.results} | set(llm)) > 1:
        raise ConfigError(MIXED_KINDS)
    fresh = None
    if live:
        if all(llm):
            from edgellm.bench.llm import benchmark_llm  # loads edgellm.generate: only for LLMs

            fresh = benchmark_llm(live, config, progress=progress)
        else:
            fresh = _benchmark_encoders(live, config, progress)
        notes = _ignored(config, llm=all(llm))
        if notes:
            fresh = dataclasses.replace(fresh, notes=fresh.notes + notes)
    if not saved:
        return fresh
    # one report per PATH, in order: a live PATH's rows are the fresh rows of its model, in thread order
    per_path, rows = [], iter(fresh.results if fresh else ())
    for i in range(len(paths)):
        if i in saved:
            per_path.append(saved[i])
        else:
            mine = tuple(next(rows) for _ in config.threads)
            per_path.append(dataclasses.replace(fresh, results=mine))
    return BenchReport.merge(per_path)


def _is_saved_report(path) -> bool:
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).lower().endswith(".json")


# BenchConfig fields one kind of model does not use, and what it does instead (a note, not an error: the same
# flags can time a folder of mixed exports in two calls)
_ENCODER_ONLY = ("runs", "min_seconds", "warmup", "xnnpack", "accelerator", "input_file", "text_file", "signature",
                 "seed", "interpreter_options")
_LLM_ONLY = ("prompt_tokens", "new_tokens", "runtime", "weight_cache")


def _ignored(config: BenchConfig, *, llm: bool) -> tuple[str, ...]:
    default = BenchConfig()
    names = [n for n in (_ENCODER_ONLY if llm else _LLM_ONLY) if getattr(config, n) != getattr(default, n)]
    if not names:
        return ()
    if llm:
        return (f"{', '.join(names)} time encoders only; text-generation exports run one burn-in and 3 timed "
                "generations on the CPU with XNNPACK",)
    return (f"{', '.join(names)} time text-generation exports only; the models here are timed by invoke latency",)


def _benchmark_encoders(paths: list, config: BenchConfig, progress: Progress | None) -> BenchReport:
    """The encoder path of ``benchmark``: invoke latency per model × thread count."""
    runtime = find_runtime()

    prepared = []
    for p in paths:
        target = resolve(p, verify=config.verify)
        if target.kind == "litertlm":
            raise ConfigError(f"{target.given} is a .litertlm bundle; edgellm bench times .tflite models and export "
                              f"folders (use `edgellm inspect {target.given}` to read its sections)")
        t0 = time.perf_counter()
        model = read_model(target.model_path)
        if not target.verified:  # no hash vouches for it: a first load in a child process, which may crash instead
            probe("edgellm.runtime.probe:load_and_invoke", target.model_path, {"xnnpack": config.xnnpack})
        verify_ms = (time.perf_counter() - t0) * 1000.0
        signature = _choose_signature(target, model, config)
        samples = build_samples(target, model, signature, input_file=config.input_file, text_file=config.text_file,
                                seed=config.seed)
        prepared.append((target, model, samples, verify_ms))

    jobs = [(t, m, s, v, n) for (t, m, s, v) in prepared for n in config.threads]
    results, notes = [], []
    for j, (target, model, samples, verify_ms, threads) in enumerate(jobs):
        label = f"{target.name} @ {threads} thread{'s' if threads > 1 else ''}"

        last = [0.0]

        def tick(fraction: float, force: bool = False, _j=j, _label=label, _last=last) -> None:
            # at most 10 updates a second: a terminal redraw per chunk would cost more than a tiny model's invoke
            if progress is None:
                return
            now = time.perf_counter()
            if force or now - _last[0] >= 0.1:
                _last[0] = now
                progress(_j, len(jobs), _label, fraction)

        tick(0.0, force=True)
        reset_peak_rss()
        baseline = current_rss_mb()
        loaded = _load(runtime, target, threads, config)
        try:
            timing = _time_one(target, model, samples, loaded, config, tick)
        finally:
            peak = peak_rss_mb()
            with native_stderr(loaded.log):  # LiteRT logs each accelerator it tears down
                loaded.handle = None
                gc.collect()
        data = {
            "model": _model_info(target, model),
            "signature": samples.items[0][0] if len({s for s, _ in samples.items}) == 1 else
            sorted({s for s, _ in samples.items}),
            "num_threads": threads,
            "xnnpack": loaded.xnnpack,
            "delegate_partitions": loaded.delegate_partitions,
            "api": loaded.api,
            "accelerator": loaded.accelerator,
            "runtime": runtime.to_dict(),
            "inputs": samples.to_dict(),
            "verify_ms": round(verify_ms, 3),
            "init_ms": round(loaded.init_ms, 3),
            **timing,
            "peak_rss_mb": round(peak, 2) if peak is not None else None,
            "baseline_rss_mb": round(baseline, 2) if baseline is not None else None,
            "fidelity": target.fidelity(),
        }
        # documented key order: the three rss fields together, fidelity last
        data["rss_growth_mb"] = data.pop("rss_growth_mb")
        data["fidelity"] = data.pop("fidelity")
        results.append(BenchResult(data))
        for note in (samples.note, loaded.accelerator.get("note")):
            if note and f"{target.name}: {note}" not in notes:
                notes.append(f"{target.name}: {note}")
        tick(1.0, force=True)
    return BenchReport(tuple(results), host_info(), runtime.to_dict(), config.to_dict(), tuple(notes))

