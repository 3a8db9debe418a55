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
