"""Comparison table, csv, markdown and merge on synthetic reports (no model runs)."""

import csv
import io
import json

import pytest

from edgellm.bench.format import render_bench, write_output
from edgellm.bench.report import BenchReport, BenchResult, load_report
from edgellm.errors import ConfigError

HOST = {"cpu": "Cortex-A72", "board": "Raspberry Pi 4 Model B Rev 1.4", "cores": 4, "usable_cores": 4,
        "os": "Debian GNU/Linux 12 (bookworm)", "arch": "aarch64", "python": "3.11.2", "python_bits": 64}


def _result(name, p50, size, threads=1, fidelity=None):
    return BenchResult({
        "model": {"path": f"/m/{name}/model.tflite", "size_bytes": size, "name": name, "kind": "export-folder"},
        "num_threads": threads, "xnnpack": True, "delegate_partitions": 1, "api": "interpreter",
        "accelerator": {"requested": None, "used": "cpu", "note": None},
        "runtime": {"name": "ai-edge-litert", "version": "2.3.0"}, "inputs": {"source": "text", "samples": 1},
        "init_ms": 10.0, "first_invoke_ms": 30.0, "latency_ms": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.3,
                                                                  "mean": p50, "std": 0.5, "min": p50 * 0.9,
                                                                  "max": p50 * 1.5},
        "runs": 100, "inferences_per_s": 1000 / p50, "peak_rss_mb": 120.0, "fidelity": fidelity,
    })


def _report():
    fid = {"recipe": "int8-dynamic", "passed": True, "tolerance": {}, "metrics": {"cosine_min": 0.9987}}
    return BenchReport((_result("fp32", 20.0, 90_000_000), _result("fp32", 12.0, 90_000_000, threads=2),
                        _result("int8", 8.0, 23_000_000, fidelity=fid), _result("int8", 5.0, 23_000_000, threads=2,
                                                                                fidelity=fid)),
                       HOST, {"name": "ai-edge-litert", "version": "2.3.0"})


def test_comparison_is_against_the_first_model_at_the_same_thread_count():
    rows = _report().comparison()
    assert [(r["name"], r["num_threads"], r["speedup"], r["size_ratio"]) for r in rows] == [
        ("fp32", 1, 1.0, 1.0), ("fp32", 2, 1.0, 1.0), ("int8", 1, 2.5, 0.256), ("int8", 2, 2.4, 0.256)]
    assert rows[2]["fidelity"]["metrics"]["cosine_min"] == 0.9987


def test_table_has_ratio_and_fidelity_columns():
    text = render_bench(_report(), "table")
    lines = text.splitlines()
    assert "speed-up" in lines[0] and "size ×" in lines[0] and "fidelity" in lines[0]
    int8_2 = next(line for line in lines if line.startswith("int8") and "  2  " in line)
    assert "2.40×" in int8_2 and "0.26" in int8_2 and "pass cosine_min=0.9987" in int8_2
    assert "Raspberry Pi 4" in text and "ai-edge-litert 2.3.0" in text


def test_single_model_table_has_no_ratio_columns():
    report = BenchReport((_result("fp32", 20.0, 1000),), HOST, {"name": "x", "version": "1"})
    assert "speed-up" not in render_bench(report, "table")


def test_markdown_is_a_pipe_table():
    lines = render_bench(_report(), "markdown").splitlines()
    assert lines[0].startswith("| model |") and lines[1].startswith("|---|")
    assert len(lines[2].split("|")) == len(lines[0].split("|"))


def test_csv_flattens_nested_keys():
    rows = list(csv.DictReader(io.StringIO(render_bench(_report(), "csv"))))
    assert len(rows) == 4
    assert float(rows[2]["latency_ms.p50"]) == 8.0 and float(rows[2]["speedup"]) == 2.5
    assert rows[0]["host.cpu"] == "Cortex-A72"


def test_json_round_trip_and_merge():
    report = _report()
    d = json.loads(render_bench(report, "json"))
    assert d["comparison"][2]["speedup"] == 2.5
    pi = BenchReport.from_dict(d)
    x86 = BenchReport((_result("fp32", 4.0, 90_000_000),), {**HOST, "cpu": "AMD EPYC", "arch": "x86_64"},
                      {"name": "ai-edge-litert", "version": "2.3.0"})
    merged = BenchReport.merge([x86, pi])
    assert len(merged.results) == 5
    assert merged.results[1]["host"]["board"].startswith("Raspberry Pi")
    assert any("different hosts" in n for n in merged.notes)
    assert merged.comparison()[1]["speedup"] == pytest.approx(0.2)  # the Pi's fp32 is 5x slower


def test_from_dict_rejects_other_json(tmp_path):
    with pytest.raises(ConfigError, match="not an edgellm bench report"):
        BenchReport.from_dict({"hello": 1})
    with pytest.raises(ConfigError, match="schema 'edgellm.bench/9' is not supported"):
        BenchReport.from_dict({"schema": "edgellm.bench/9"})
    (tmp_path / "r.json").write_text("{oops")
    with pytest.raises(ConfigError, match="could not be read"):
        load_report(str(tmp_path / "r.json"))


def test_write_output_is_atomic_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "r.txt"
    write_output(str(out), "one", overwrite=False)
    with pytest.raises(ConfigError, match="exists; pass --overwrite"):
        write_output(str(out), "two", overwrite=False)
    write_output(str(out), "two", overwrite=True)
    assert out.read_text() == "two\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_fidelity_cell_reads_nested_metrics_as_export_writes_them():
    from edgellm.bench.format import _fidelity

    nested = {"passed": True, "metrics": {"embedding": {"max_abs": 0.0369, "mean_cosine": 0.99356,
                                                         "min_cosine": 0.97583, "snr_db": 18.9}}}
    assert _fidelity(nested) == "pass min_cosine=0.9758 mean_cosine=0.9936"
    assert _fidelity(None) == "-"
