"""CLI paths no other test reaches: --debug, Ctrl-C, the default-model export, and the success paths of
`bench --text-file`, `bench --no-xnnpack`, `bench --runtime litertlm` and `generate --threads`."""

import json

import pytest

from edgellm import cli
from edgellm.errors import EdgeLLMError

FAST = ["--runs", "3", "--min-seconds", "0", "--warmup", "0"]


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    """(model folder, fp32 export) of the tiny llama, shared with tests/generate through cached_export."""
    from generate.tiny_llm import cached_export

    return cached_export(tmp_path_factory)


# ---------------------------------------------------------------------------------------------- errors and signals
def test_debug_raises_instead_of_one_line(tmp_path, capsys):
    argv = ["export", "--model", str(tmp_path / "missing"), str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgellm export: error: ") and len(err.strip().splitlines()) == 1
    with pytest.raises(EdgeLLMError) as e:
        cli.main(["--debug", *argv])
    assert str(e.value) in err  # the same error, as a traceback instead of one line
    assert not (tmp_path / "out").exists()


def test_ctrl_c_exits_130_and_leaves_no_output(tiny_bert, tmp_path, monkeypatch, capsys):
    import edgellm.bundle

    def interrupted(*args, **kwargs):  # Ctrl-C while the bundle is being written
        raise KeyboardInterrupt

    monkeypatch.setattr(edgellm.bundle, "build_manifest", interrupted)
    out = tmp_path / "exports" / "out"
    out.parent.mkdir()
    assert cli.main(["export", "--model", str(tiny_bert), "--sequence-length", "16", str(out)]) == 130
    err = capsys.readouterr().err
    assert "stopped by SIGINT" in err and "Traceback" not in err
    assert list(out.parent.iterdir()) == []  # neither the folder nor its temporary sibling


# ---------------------------------------------------------------------------------------------- export
@pytest.mark.slow
def test_export_without_model_exports_the_packaged_minilm(minilm_path, tmp_path, capsys):
    out = tmp_path / "minilm"
    assert cli.main(["export", str(out)]) == 0
    manifest = json.loads((out / "edgellm.json").read_text())
    assert manifest["source"]["path"] == str(minilm_path)
    assert (manifest["model_type"], manifest["task"], manifest["quantization"]["recipe"]) == \
        ("bert", "sentence-embedding", "fp32")
    assert [o["shape"] for o in manifest["outputs"]] == [[1, 384]] and manifest["sequence_length"] == 128
    assert manifest["validation"]["passed"]
    assert (out / "model.tflite").stat().st_size > 0.9 * 4 * 22_000_000  # fp32, 22 M parameters


# ---------------------------------------------------------------------------------------------- bench
def test_bench_text_file(tiny_bert_export, tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("hello world\nthe quick brown fox\nwhat time is it\n")
    assert cli.main(["bench", str(tiny_bert_export), "--text-file", str(lines), *FAST]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith(tiny_bert_export.name))
    assert row.split()[1] == "1"  # threads
    assert "inputs: text-file" in table and "3 lines" in table


def test_bench_no_xnnpack(tiny_bert_export, capsys):
    assert cli.main(["bench", str(tiny_bert_export), *FAST]) == 0
    on = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(tiny_bert_export.name))
    assert cli.main(["bench", str(tiny_bert_export), "--no-xnnpack", *FAST]) == 0
    off = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(tiny_bert_export.name))
    assert on.endswith("part.") and off.split()[-1] == "no"  # the XNNPACK column
    assert cli.main(["bench", str(tiny_bert_export), "--no-xnnpack", "--format", "json", "--quiet", *FAST]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["xnnpack"] is False and result["delegate_partitions"] == 0


def test_bench_runtime_litertlm(tiny_llm, capsys):
    _, export = tiny_llm
    argv = ["bench", str(export), "--runtime", "litertlm", "--prompt-tokens", "8", "--new-tokens", "4"]
    assert cli.main([*argv, "--format", "json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    assert result["runtime"] == "litertlm"
    assert result["decode_tokens_per_second"] > 0 and result["prefill_tokens_per_second"] > 0
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "litertlm" in table and "tg4 tok/s" in table


# ---------------------------------------------------------------------------------------------- generate
def test_generate_threads(tiny_llm, capsys):
    _, export = tiny_llm
    argv = ["generate", str(export), "--prompt", "hello world", "--max-new-tokens", "12"]
    assert cli.main([*argv, "--threads", "1"]) == 0
    one = capsys.readouterr().out
    assert cli.main([*argv, "--threads", "2"]) == 0
    two = capsys.readouterr().out
    assert two == one and len(one.strip()) > 0  # greedy: the thread count changes nothing
