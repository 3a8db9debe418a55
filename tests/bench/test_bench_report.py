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


def _llm(name, decode_tps, size, threads=1):
    from edgellm.bench.report import llm_result

    row = {"runtime": "litert", "export": f"/m/{name}", "recipe": name, "threads": threads, "prompt_tokens": 64,
           "new_tokens": 64, "runs": 3, "load_s": 0.5, "time_to_first_token_ms": 80.0,
           "prefill_tokens_per_second": 400.0, "decode_tokens_per_second": decode_tps, "peak_rss_bytes": 200 * 2**20}
    model = {"path": f"/m/{name}/model.tflite", "size_bytes": size, "name": name, "kind": "export-folder"}
    return llm_result(row, model=model, runtime_package={"name": "ai-edge-litert", "version": "2.3.0"})


def test_llm_rows_compare_on_decode_tokens_per_second():
    report = BenchReport((_llm("fp32", 20.0, 500), _llm("fp32", 30.0, 500, threads=2), _llm("int8", 50.0, 130),
                          _llm("int8", 60.0, 130, threads=2)), HOST, {"name": "ai-edge-litert", "version": "2.3.0"})
    rows = report.comparison()
    assert [(r["speedup"], r["size_ratio"], r["is_baseline"]) for r in rows] == [
        (1.0, 1.0, True), (1.0, 1.0, True), (2.5, 0.26, False), (2.0, 0.26, False)]
    assert {r["speedup_of"] for r in rows} == {"decode_tokens_per_second"}
    r = report.results[0]
    assert r.is_llm and r.num_threads == 1 and r["peak_rss_mb"] == 200.0 and r["init_ms"] == 500.0
    assert r.p50_ms is None and not _result("x", 1.0, 1).is_llm
    lines = render_bench(report, "table").splitlines()
    assert "pp64 tok/s" in lines[0] and "speed-up" in lines[0] and "size ×" in lines[0]
    int8_1 = next(line for line in lines if line.startswith("int8") and "  1  " in line)
    assert "2.50×" in int8_1 and "0.26" in int8_1


def test_encoder_and_llm_rows_do_not_share_a_report():
    llm = BenchReport((_llm("fp32", 20.0, 500),), HOST, {})
    with pytest.raises(ConfigError, match="cannot share one bench table"):
        BenchReport.merge([_report(), llm])
    with pytest.raises(ConfigError, match="cannot share one bench table"):
        render_bench(BenchReport((_result("x", 1.0, 1), _llm("fp32", 20.0, 500)), HOST, {}), "table")


def test_load_report_reads_old_llm_and_encoder_files(tmp_path):
    old_llm = {"schema": "edgellm.bench-llm/1", "results": [
        {"runtime": "litertlm", "export": "out/smollm2/", "recipe": "int8-dynamic", "threads": 4, "prompt_tokens": 64,
         "new_tokens": 64, "runs": 3, "mode": None, "load_s": 1.5, "time_to_first_token_ms": 120.0,
         "prefill_tokens_per_second": 500.0, "decode_tokens_per_second": 40.0, "peak_rss_bytes": 300_000_000}]}
    (tmp_path / "llm.json").write_text(json.dumps(old_llm))
    report = load_report(str(tmp_path / "llm.json"))
    (row,) = report.results
    assert row.is_llm and row.name == "smollm2" and row.num_threads == 4 and row["runtime"] == "litertlm"
    assert {k: row[k] for k in old_llm["results"][0]} == old_llm["results"][0]  # every old key, same value
    assert json.loads(render_bench(report, "json"))["schema"] == "edgellm.bench/1"
    assert "host and runtime not recorded" in render_bench(report, "table")
    (tmp_path / "enc.json").write_text(render_bench(_report(), "json"))
    assert load_report(str(tmp_path / "enc.json")).comparison() == _report().comparison()


def test_host_line_of_a_phone_report_names_no_python():
    from edgellm.bench.format import _host_line

    phone = BenchReport(host={"board": "Google Pixel 8", "cpu": "Tensor G3", "cores": 9, "usable_cores": 9,
                              "os": "Android 15 (API 35)", "arch": "arm64-v8a"},
                        runtime={"name": "litert", "version": "2.2.0"}, results=[])
    line = _host_line(phone)
    assert line == ("host: Google Pixel 8, Tensor G3, 9/9 cores, Android 15 (API 35) arm64-v8a; runtime: litert 2.2.0")
    pc = BenchReport(host={**phone.host, "python": "3.11.7", "python_bits": 64}, runtime=phone.runtime, results=[])
    assert "(64-bit Python 3.11.7)" in _host_line(pc)
