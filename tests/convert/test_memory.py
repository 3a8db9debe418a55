"""The LLM exporter's memory estimate and the refusal of an export the machine cannot hold."""

import pytest

from edgellm import cli
from edgellm.convert.decoder import memory
from edgellm.convert.decoder.source import read_decoder_source
from edgellm.errors import InsufficientMemoryError
from generate.tiny_llm import make_llm


def test_parameter_count_matches_the_loaded_model(tmp_path):
    from transformers import AutoModelForCausalLM

    folder = make_llm(tmp_path / "m")
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    assert memory.parameter_count(read_decoder_source(folder).config) == sum(p.numel() for p in loaded.parameters())


def test_estimate_grows_with_the_weights_and_depends_on_the_recipe():
    one, two = memory.estimate_peak_bytes(10**9, "int8-dynamic"), memory.estimate_peak_bytes(2 * 10**9, "int8-dynamic")
    assert one > 4 * 10**9 and two - one == pytest.approx(one - memory.FIXED_BYTES, rel=1e-6)
    assert memory.estimate_peak_bytes(10**9, "fp32") > one


def test_refused_export_names_the_size_and_writes_nothing(tmp_path, monkeypatch, capsys):
    folder = make_llm(tmp_path / "m")
    monkeypatch.setattr(memory, "available_bytes", lambda: 100_000_000)
    out = tmp_path / "out"
    capsys.readouterr()
    assert cli.main(["export", "--model", str(folder), "--task", "text-generation", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs about 2.0 GB of memory at its peak; 0.1 GB is available" in err[0], err
    assert "--no-memory-check" in err[0]
    assert not out.exists()
    with pytest.raises(InsufficientMemoryError):
        memory.check_memory(read_decoder_source(folder).config, "fp32", name="m")


def test_available_bytes_reads_this_machine():
    available = memory.available_bytes()
    assert available is None or available > 0


def test_no_memory_check_estimates_without_refusing_and_a_config_transformers_cannot_build_skips_the_check():
    config = {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2}
    needed = memory.check_memory(config, "int8-dynamic", name="m", refuse=False, available=1)
    assert needed == memory.estimate_peak_bytes(memory.parameter_count(config), "int8-dynamic")
    with pytest.raises(InsufficientMemoryError):
        memory.check_memory(config, "int8-dynamic", name="m", available=1)
    assert memory.check_memory({"model_type": "no-such-family"}, "fp32", name="m", available=1) is None
