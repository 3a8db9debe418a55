"""benchmark() on the tiny models. No assertion on a timing value: only on structure and consistency."""

import pytest

from edgellm.bench import BenchConfig, BenchReport, benchmark
from edgellm.errors import ConfigError, ModelFileError

FAST = dict(runs=5, min_seconds=0.0, warmup=1)

RESULT_KEYS = {"model", "num_threads", "xnnpack", "delegate_partitions", "runtime", "latency_ms", "init_ms",
               "first_invoke_ms", "peak_rss_mb"}


def test_json_schema(tiny_tflite):
    report = benchmark(tiny_tflite, BenchConfig(threads=(1, 2), **FAST))
    d = report.to_dict()
    assert d["schema"] == "edgellm.bench/1"
    assert {"cpu", "cores", "os", "arch", "python"} <= set(d["host"])
    assert d["runtime"]["name"] in ("ai-edge-litert", "tflite-runtime", "tensorflow")
    assert [r["num_threads"] for r in d["results"]] == [1, 2]
    for r in d["results"]:
        assert RESULT_KEYS <= set(r)
        assert set(r["latency_ms"]) == {"p50", "p90", "p99", "mean", "std", "min", "max"}
        lat = r["latency_ms"]
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        assert set(r["model"]) >= {"path", "size_bytes"} and r["model"]["size_bytes"] == tiny_tflite.stat().st_size
        assert set(r["runtime"]) == {"name", "version"}
        assert r["runs"] >= 5 and r["xnnpack"] is True and r["delegate_partitions"] >= 1
        assert r["inputs"]["source"] == "random"
        assert r["init_ms"] > 0 and r["first_invoke_ms"] > 0 and r["peak_rss_mb"] > 0


def test_export_folder_runs_tokenized_text_and_carries_fidelity(tiny_export):
    r = benchmark(tiny_export, BenchConfig(**FAST)).results[0]
    assert r["inputs"]["source"] == "text"
    assert r["model"]["name"] == "tiny-fp32" and r["model"]["recipe"] == "fp32"
    assert r["fidelity"]["passed"] is True and r["fidelity"]["metrics"]["cosine_min"] == 0.99991


def test_text_file_statistics_per_sample(bucket_export, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("hello\nthe phone\n" + "small fast model " * 4 + "\n")
    r = benchmark(bucket_export, BenchConfig(text_file=str(lines), runs=3, min_seconds=0.0, warmup=0)).results[0]
    assert r["inputs"]["source"] == "text-file" and r["inputs"]["lines"] == 3
    per = r["per_signature"]
    assert per["seq_8"]["samples"] == 2 and per["seq_16"]["samples"] == 1
    assert per["seq_8"]["runs"] + per["seq_16"]["runs"] == r["runs"]
    assert r["runs"] % 3 == 0  # whole passes over the file
    assert sorted(r["signature"]) == ["seq_16", "seq_8"]


def test_default_signature_follows_the_manifest(bucket_export):
    r = benchmark(bucket_export, BenchConfig(**FAST)).results[0]
    assert r["signature"] == "seq_16"
    r = benchmark(bucket_export, BenchConfig(signature="seq_8", **FAST)).results[0]
    assert r["signature"] == "seq_8"
    with pytest.raises(ConfigError, match="signature 'seq_4' is not in model.tflite; it has: seq_8, seq_16"):
        benchmark(bucket_export, BenchConfig(signature="seq_4", **FAST))


def test_no_xnnpack(tiny_tflite):
    r = benchmark(tiny_tflite, BenchConfig(xnnpack=False, **FAST)).results[0]
    assert r["xnnpack"] is False and r["delegate_partitions"] == 0


def test_comparison_ratios(tiny_tflite, tiny_export):
    report = benchmark([tiny_export, tiny_tflite], BenchConfig(**FAST))
    base, other = report.results
    rows = report.comparison()
    assert rows[0]["speedup"] == 1.0 and rows[0]["baseline"] == "tiny-fp32"
    assert rows[1]["speedup"] == pytest.approx(base.p50_ms / other.p50_ms, rel=1e-2)
    assert rows[1]["size_ratio"] == pytest.approx(1.0)


@pytest.mark.parametrize("accelerator", ["gpu", "npu"])
def test_unavailable_accelerator_falls_back_to_cpu_and_says_why(tiny_tflite, accelerator):
    pytest.importorskip("ai_edge_litert.compiled_model")
    report = benchmark(tiny_tflite, BenchConfig(accelerator=accelerator, **FAST))
    r = report.results[0]
    assert r["api"] == "compiled_model"
    acc = r["accelerator"]
    assert acc["used"] in ("cpu", accelerator)
    if acc["used"] == "cpu":  # this machine has no such accelerator
        assert f"{accelerator.upper()} not available here" in acc["note"] and "Fell back to CPU" in acc["note"]
        assert "it needs" in acc["note"]
        assert any("Fell back to CPU" in n for n in report.notes)
    else:  # it has one: no fallback is claimed
        assert not any("Fell back to CPU" in n for n in report.notes)
    assert r["delegate_partitions"] is None


def test_cpu_accelerator_runs_compiled_model(tiny_tflite):
    pytest.importorskip("ai_edge_litert.compiled_model")
    r = benchmark(tiny_tflite, BenchConfig(accelerator="cpu", **FAST)).results[0]
    assert r["api"] == "compiled_model" and r["accelerator"]["used"] == "cpu" and r["xnnpack"] is True


def test_unknown_interpreter_option_lists_what_exists(tiny_tflite):
    with pytest.raises(ConfigError, match=r"unknown interpreter option\(s\) bogus .*it accepts: .*"
                                          r"experimental_disable_delegate_clustering"):
        benchmark(tiny_tflite, BenchConfig(interpreter_options={"bogus": 1}, **FAST))


def test_known_interpreter_option_is_passed(tiny_tflite):
    r = benchmark(tiny_tflite, BenchConfig(interpreter_options={"experimental_disable_delegate_clustering": True},
                                           **FAST)).results[0]
    assert r["latency_ms"]["p50"] > 0


def test_corrupted_model_fails_before_anything_runs(tiny_tflite, corrupt):
    calls = []
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        benchmark([tiny_tflite, corrupt("truncate", 0.5)], BenchConfig(**FAST),
                  progress=lambda *a: calls.append(a))
    assert calls == []  # the second PATH was checked before the first one ran


def test_progress_reports_each_job(tiny_tflite):
    seen = []
    benchmark(tiny_tflite, BenchConfig(threads=(1, 2), **FAST), progress=lambda j, n, label, f: seen.append((j, n, f)))
    assert {(j, n) for j, n, _ in seen} == {(0, 2), (1, 2)}
    assert seen[-1][2] == 1.0


def test_report_round_trips_through_json(tiny_tflite):
    import json

    report = benchmark(tiny_tflite, BenchConfig(**FAST))
    again = BenchReport.from_dict(json.loads(report.to_json()))
    assert again.to_dict() == report.to_dict()
