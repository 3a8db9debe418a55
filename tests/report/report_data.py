"""Fabricated bench reports (no model runs): encoder and LLM rows as `edgellm bench --format json` writes them."""

from __future__ import annotations

from edgellm.report import ReportEntry

X86 = {"cpu": "AMD EPYC 7B13", "board": None, "cores": 2, "usable_cores": 2, "os": "Debian GNU/Linux 12 (bookworm)",
       "arch": "x86_64", "python": "3.11.7", "python_bits": 64}
PI4 = {**X86, "cpu": "Cortex-A72", "board": "Raspberry Pi 4 Model B Rev 1.4", "cores": 4, "usable_cores": 4,
       "arch": "aarch64"}
PI5 = {**PI4, "cpu": "Cortex-A76", "board": "Raspberry Pi 5 Model B Rev 1.0"}
RUNTIME = {"name": "ai-edge-litert", "version": "2.3.0"}


def validation(cosine: float, top1: float | None = None, passed: bool = True) -> dict:
    out = {"mean_cosine": cosine, "min_cosine": cosine - 0.002, "max_abs": 0.01}
    if top1 is not None:
        out["top1"] = top1
    return {"passed": passed, "recipe": "x", "tolerance": {"min_cosine": 0.99}, "metrics": {"last_hidden_state": out},
            "failures": [] if passed else ["mean cosine below 0.99"]}


def encoder_row(name: str, p50: float, size: int, threads: int = 1, *, recipe: str = "int8", partitions: int = 1,
                fidelity: dict | None = None) -> dict:
    return {
        "model": {"path": f"/m/{name}/model.tflite", "size_bytes": size, "name": name, "kind": "export-folder",
                  "model_type": "bert", "task": "feature-extraction", "recipe": recipe},
        "num_threads": threads, "xnnpack": True, "delegate_partitions": partitions, "api": "interpreter",
        "accelerator": {"requested": None, "used": "cpu", "note": None}, "runtime": RUNTIME,
        "inputs": {"source": "text", "samples": 22}, "init_ms": 10.0, "first_invoke_ms": 30.0,
        "latency_ms": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.3, "mean": p50 * 1.02, "std": 0.5,
                       "min": p50 * 0.9, "max": p50 * 1.6},
        "runs": 100, "inferences_per_s": 1000 / p50, "peak_rss_mb": 120.0 + size / 1e6, "fidelity": fidelity,
    }


def llm_row(name: str, decode: float, size: int, threads: int = 1, *, recipe: str = "int8-dynamic",
            fidelity: dict | None = None) -> dict:
    return {
        "model": {"path": f"/m/{name}", "size_bytes": size, "name": name, "kind": "export-folder",
                  "model_type": "llama", "task": "text-generation", "recipe": recipe},
        "runtime": "litert", "export": f"/m/{name}", "recipe": recipe, "threads": threads, "prompt_tokens": 64,
        "new_tokens": 64, "runs": 3, "load_s": 0.5, "time_to_first_token_ms": 9000 / decode,
        "prefill_tokens_per_second": decode * 6, "decode_tokens_per_second": decode, "peak_rss_bytes": size * 2,
        "num_threads": threads, "runtime_package": RUNTIME, "init_ms": 500.0, "peak_rss_mb": size * 2 / 2**20,
        "fidelity": fidelity,
    }


def bench(rows: list[dict], host: dict = X86) -> dict:
    return {"schema": "edgellm.bench/1", "created": "2026-12-06T00:00:00+00:00", "host": host, "runtime": RUNTIME,
            "config": {}, "notes": [], "results": rows, "comparison": []}


def llm_validation(ppl: float, top1: float, passed: bool = True) -> dict:
    return {"passed": passed, "recipe": "x", "tolerance": {}, "failures": [],
            "metrics": {"top1": top1, "perplexity_ratio": ppl, "kl": 0.01}}


def encoders() -> list:
    """fp32 (reference), int8 (best), int8-full (failed validation); fp32 and int8 at 1 and 2 threads."""
    return [
        ReportEntry(label="fp32", bench=bench([encoder_row("fp32", 20.0, 90_000_000, recipe="fp32"),
                                               encoder_row("fp32", 12.0, 90_000_000, 2, recipe="fp32")]),
                    fidelity=validation(0.99999, 1.0)),
        ReportEntry(label="int8", bench=bench([encoder_row("int8", 8.0, 23_000_000),
                                               encoder_row("int8", 5.0, 23_000_000, 2)]),
                    fidelity=validation(0.995, 0.97), status="best", reason="fastest inside cosine 0.99"),
        ReportEntry(label="int8-full", bench=bench([encoder_row("int8full", 30.0, 22_000_000, recipe="int8-full",
                                                                partitions=3)]),
                    fidelity=validation(0.96, passed=False), status="failed validation", reason="cosine 0.96 < 0.99"),
    ]


def llms() -> list:
    """fp32 (reference), int8-dynamic (best), int4 (slower) at 1 and 2 threads."""
    return [
        ReportEntry(label="fp32", bench=bench([llm_row("fp32", 20.0, 540_000_000, recipe="fp32"),
                                               llm_row("fp32", 32.0, 540_000_000, 2, recipe="fp32")]),
                    fidelity=llm_validation(1.0, 1.0)),
        ReportEntry(label="int8-dynamic", bench=bench([llm_row("i8", 50.0, 148_000_000),
                                                       llm_row("i8", 80.0, 148_000_000, 2)]),
                    fidelity=llm_validation(1.03, 0.93), status="best"),
        ReportEntry(label="int4", bench=bench([llm_row("i4", 46.0, 108_000_000, recipe="int4"),
                                               llm_row("i4", 70.0, 108_000_000, 2, recipe="int4")]),
                    fidelity=llm_validation(1.02, 0.94), status="slower", reason="46.0 < 50.0 decode tok/s"),
    ]
