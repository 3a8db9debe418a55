"""`edgellm inspect` on an LLM export: a short table (per-layer KV tensors folded), a complete json."""

import json

from edgellm import cli


def test_inspect_table_folds_the_kv_cache_tensors(tiny_llm_export, capsys):
    _, export = tiny_llm_export
    assert cli.main(["inspect", str(export), "--no-runtime"]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert len(lines) < 80, table
    sig_lines = [line.split() for line in lines if line.startswith("    in ") or line.startswith("    out ")]
    names = [words[1] for words in sig_lines]
    assert "kv_k_cache_{0,1}" in names and "k_new_{0,1}" in names and "v_new_{0,1}" in names
    assert not {"kv_k_cache_0", "kv_k_cache_1", "k_new_0"} & set(names)
    assert ["in", "kv_k_cache_{0,1}", "×2", "float32[2,", "64,", "8]"] in sig_lines

    assert cli.main(["inspect", str(export), "--no-runtime", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    decode = next(s for s in report["models"][0]["signatures"] if s["name"] == "decode")
    assert {"kv_k_cache_0", "kv_k_cache_1", "kv_v_cache_0", "kv_v_cache_1"} <= {i["name"] for i in decode["inputs"]}
