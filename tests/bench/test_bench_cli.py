"""The bench and inspect subcommands, in-process through cli.main."""

import json

import numpy as np
import pytest

from edgellm import cli

FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "0", "--quiet"]


def test_bench_json_to_file(tiny_tflite, tiny_export, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["bench", str(tiny_export), str(tiny_tflite), "--threads", "1,2", "--format", "json",
                     "--output", str(out), *FAST]) == 0
    d = json.loads(out.read_text())
    assert [(r["model"]["name"], r["num_threads"]) for r in d["results"]] == [
        ("tiny-fp32", 1), ("tiny-fp32", 2), ("tiny.tflite", 1), ("tiny.tflite", 2)]
    assert d["config"]["threads"] == [1, 2]
    # an existing output is not replaced without --overwrite
    assert cli.main(["bench", str(tiny_tflite), "--output", str(out), *FAST]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_bench_table_and_saved_report_join(tiny_tflite, tmp_path, capsys):
    saved = tmp_path / "pi.json"
    assert cli.main(["bench", str(tiny_tflite), "--format", "json", "--output", str(saved), *FAST]) == 0
    capsys.readouterr()
    assert cli.main(["bench", str(saved), str(tiny_tflite), *FAST]) == 0
    table = capsys.readouterr().out
    assert table.count("tiny.tflite") == 2 and "speed-up" in table and "(base)" in table


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_bench_formats(tiny_tflite, capsys, fmt):
    assert cli.main(["bench", str(tiny_tflite), "--format", fmt, *FAST]) == 0
    out = capsys.readouterr().out
    assert ("latency_ms.p50" in out) if fmt == "csv" else out.startswith("| model |")


@pytest.mark.parametrize("kind", ["truncate", "garbage", "empty", "identifier"])
def test_bench_corrupted_file_one_line_exit_2(corrupt, capsys, kind):
    assert cli.main(["bench", str(corrupt(kind)), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgellm bench: error: ") and "\n" not in err
    assert "Traceback" not in err


def test_bench_input_file_mismatch(tiny_tflite, tmp_path, capsys):
    np.savez(tmp_path / "in.npz", input_ids=np.zeros((1, 16), np.int32))
    assert cli.main(["bench", str(tiny_tflite), "--input-file", str(tmp_path / "in.npz"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "missing attention_mask, token_type_ids" in err


def test_bench_unknown_accelerator_and_option(tiny_tflite, capsys):
    assert cli.main(["bench", str(tiny_tflite), "--accelerator", "tpu", *FAST]) == 2
    assert "unknown accelerator 'tpu'; choose one of cpu, gpu, npu" in capsys.readouterr().err
    assert cli.main(["bench", str(tiny_tflite), "--interpreter-option", "warp_speed=9", *FAST]) == 2
    err = capsys.readouterr().err
    assert "unknown interpreter option(s) warp_speed" in err and "it accepts:" in err


def test_unknown_flag_is_an_argparse_error(tiny_tflite, capsys):
    # not a prefix of any bench flag (argparse would take --thread for --threads)
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", str(tiny_tflite), "--no-such-flag"])
    assert e.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_bench_missing_path(tmp_path, capsys):
    assert cli.main(["bench", str(tmp_path / "nope.tflite"), *FAST]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_inspect_fail_on_partitions(tiny_tflite, capsys):
    assert cli.main(["inspect", str(tiny_tflite), "--fail-on", "partitions:0"]) == 1
    captured = capsys.readouterr()
    assert "--fail-on exceeded: partitions: 1 > 0" in captured.err
    assert "xnnpack: 1 partition" in captured.out
    assert cli.main(["inspect", str(tiny_tflite), "--fail-on", "partitions:1", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "edgellm.inspect/1"
    assert cli.main(["inspect", str(tiny_tflite), "--fail-on", "partitons:1"]) == 2
    assert "is not METRIC:N" in capsys.readouterr().err


def test_inspect_corrupted(corrupt, capsys):
    assert cli.main(["inspect", str(corrupt("garbage"))]) == 2
    assert "is not a TFLite flatbuffer" in capsys.readouterr().err
