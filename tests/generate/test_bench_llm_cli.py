"""`edgellm bench` on a text-generation export: time to first token, prefill and decode tokens/s."""

import json

import pytest

from edgellm import cli


def test_bench_llm_json(tiny_llm_export, tmp_path, capsys):
    _, export = tiny_llm_export
    out = tmp_path / "llm.json"
    argv = ["bench", str(export), "--threads", "1,2", "--prompt-tokens", "16", "--new-tokens", "8",
            "--format", "json", "--output", str(out)]
    assert cli.main(argv) == 0
    results = json.loads(out.read_text())["results"]
    assert [r["threads"] for r in results] == [1, 2]
    for r in results:
        assert r["time_to_first_token_ms"] > 0 and r["decode_tokens_per_second"] > 0
        assert r["prefill_tokens_per_second"] > 0 and len(r["tokens"]) == 8
    assert results[0]["tokens"] == results[1]["tokens"]  # greedy: thread count changes nothing
    assert cli.main(argv) == 2  # --output exists, no --overwrite
    assert "exists" in capsys.readouterr().err


def test_bench_llm_table_and_mixing_refused(tiny_llm_export, tiny_bert_export, capsys):
    _, export = tiny_llm_export
    assert cli.main(["bench", str(export), "--prompt-tokens", "16", "--new-tokens", "4"]) == 0
    table = capsys.readouterr().out
    assert "TTFT ms" in table and "tg4 tok/s" in table
    assert cli.main(["bench", str(export), str(tiny_bert_export)]) == 2
    assert "cannot share one bench table" in capsys.readouterr().err


@pytest.mark.parametrize("prompt, new", [(60, 8), (0, 8)])
def test_bench_llm_bad_lengths(tiny_llm_export, capsys, prompt, new):
    _, export = tiny_llm_export
    assert cli.main(["bench", str(export), "--prompt-tokens", str(prompt), "--new-tokens", str(new)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


LLM_ROW_KEYS = {"runtime", "export", "recipe", "threads", "prompt_tokens", "new_tokens", "runs", "mode", "weight_cache",
                "runner_mode", "runner_fallback_reason", "load_s", "time_to_first_token_ms", "prefill_tokens_per_second",
                "decode_tokens_per_second", "bytes_read_per_token", "peak_rss_bytes", "tokens"}  # the bench-llm/1 row
SHORT = ["--prompt-tokens", "16", "--new-tokens", "8"]


def test_benchmark_returns_a_bench_report_for_an_llm_export(tiny_llm_export):
    import edgellm
    from edgellm.bench.report import SCHEMA

    _, export = tiny_llm_export
    report = edgellm.benchmark(export, edgellm.BenchConfig(prompt_tokens=16, new_tokens=8))
    assert isinstance(report, edgellm.BenchReport)
    (row,) = report.results
    assert row.is_llm and row.num_threads == 1 and row.name == export.name
    assert LLM_ROW_KEYS <= set(row.data)  # every key users' scripts read from the former LLM JSON
    assert row["runtime"] == "litert" and row["threads"] == 1 and row["prompt_tokens"] == 16 and len(row["tokens"]) == 8
    assert row["time_to_first_token_ms"] > 0 and row["prefill_tokens_per_second"] > 0
    assert row["decode_tokens_per_second"] > 0 and row["load_s"] > 0 and row["peak_rss_bytes"] > 0
    assert row["runner_mode"] in ("compiled", "copy")
    assert row["model"]["task"] == "text-generation" and row["model"]["path"].endswith("model.tflite")
    assert row["model"]["size_bytes"] == (export / "model.tflite").stat().st_size
    assert row["runtime_package"]["name"] and row["runtime_package"]["version"]
    assert row["peak_rss_mb"] == pytest.approx(row["peak_rss_bytes"] / 2**20, abs=0.01)
    d = report.to_dict()
    assert d["schema"] == SCHEMA and d["host"]["cpu"] and d["runtime"] == row["runtime_package"]
    assert set(d) == {"schema", "created", "host", "runtime", "config", "notes", "results", "comparison"}


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_llm_rows_in_csv_and_markdown(tiny_llm_export, capsys, fmt):
    import csv
    import io

    _, export = tiny_llm_export
    assert cli.main(["bench", str(export), "--threads", "1,2", *SHORT, "--format", fmt, "--quiet"]) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [r["threads"] for r in rows] == ["1", "2"] and rows[0]["host.cpu"]
        assert all(float(r["decode_tokens_per_second"]) > 0 and r["model.task"] == "text-generation" for r in rows)
        assert rows[0]["speedup"] == rows[1]["speedup"] == "1.0"  # each is its thread count's baseline
    else:
        lines = out.splitlines()
        assert lines[0].startswith("| export |") and "| TTFT ms |" in lines[0] and "| tg8 tok/s |" in lines[0]
        assert lines[1].startswith("|---|") and len(lines[2].split("|")) == len(lines[0].split("|"))
        assert sum(line.startswith(f"| {export.name} |") for line in lines) == 2


def test_saved_llm_json_joins_a_live_export(tiny_llm_export, tmp_path, capsys):
    _, export = tiny_llm_export
    saved = tmp_path / "pi.json"
    assert cli.main(["bench", str(export), *SHORT, "--format", "json", "--output", str(saved), "--quiet"]) == 0
    assert cli.main(["bench", str(saved), str(export), *SHORT, "--format", "json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["export"] for r in d["results"]] == [str(export)] * 2
    assert d["results"][0] == json.loads(saved.read_text())["results"][0]  # the saved row, not re-run
    assert [c["is_baseline"] for c in d["comparison"]] == [True, False]
    # a report of the LLM bench before it was a BenchReport (edgellm.bench-llm/1) joins too
    old = tmp_path / "old.json"
    row = {k: v for k, v in d["results"][0].items() if k in LLM_ROW_KEYS}
    old.write_text(json.dumps({"schema": "edgellm.bench-llm/1", "results": [{**row, "decode_tokens_per_second": 1.0}]}))
    assert cli.main(["bench", str(old), str(export), *SHORT]) == 0
    table = capsys.readouterr().out
    assert "speed-up" in table and "(base)" in table and "host not recorded" in table
    # an encoder's saved report cannot join an LLM export: one line, exit 2, before any generation
    encoder = tmp_path / "encoder.json"
    encoder.write_text(json.dumps({"schema": "edgellm.bench/1", "results": [
        {"model": {"path": "m.tflite", "size_bytes": 1, "name": "m.tflite", "task": None}, "num_threads": 1,
         "latency_ms": {"p50": 1.0}}]}))
    assert cli.main(["bench", str(export), str(encoder), *SHORT]) == 2
    err = capsys.readouterr().err
    assert "cannot share one bench table" in err and err.count("\n") == 1


def test_two_llm_exports_get_ratio_columns(tiny_llm_export, tmp_path, capsys):
    import shutil

    _, export = tiny_llm_export
    copy = tmp_path / "tiny_copy"
    shutil.copytree(export, copy)
    assert cli.main(["bench", str(export), str(copy), *SHORT, "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "speed-up" in lines[0] and "size ×" in lines[0] and "fidelity" in lines[0]
    base = next(line for line in lines if line.startswith(export.name + " "))
    other = next(line for line in lines if line.startswith("tiny_copy "))
    assert base.count("(base)") == 2 and "(base)" not in other
    assert "1.00 " in other and "×" in other and "pass" in other  # same file: size × 1.00; fidelity from edgellm.json
    assert cli.main(["bench", str(export), str(copy), *SHORT, "--format", "json", "--quiet"]) == 0
    d = json.loads(capsys.readouterr().out)
    first, second = d["results"]
    c = d["comparison"][1]
    assert c["speedup_of"] == "decode_tokens_per_second" and c["size_ratio"] == 1.0
    assert c["speedup"] == pytest.approx(second["decode_tokens_per_second"] / first["decode_tokens_per_second"],
                                         abs=1e-3)


_BLOCKED_LLM = """
import sys, json
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "tensorflow", "litert_torch", "ai_edge_quantizer"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import edgellm
report = edgellm.benchmark(sys.argv[1], edgellm.BenchConfig(prompt_tokens=8, new_tokens=4))
print(json.dumps({"tps": report.results[0]["decode_tokens_per_second"],
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers"))}))
"""


def test_llm_benchmark_runs_with_heavy_packages_blocked(tiny_llm_export):
    import subprocess
    import sys

    _, export = tiny_llm_export
    r = subprocess.run([sys.executable, "-c", _BLOCKED_LLM, str(export)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["tps"] > 0 and result["heavy"] == []
