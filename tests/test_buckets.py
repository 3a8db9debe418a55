"""Length buckets: one signature per sequence length, inputs routed to the shortest that fits."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.convert import ConvertConfig
from edgellm.errors import ConfigError
from edgellm.validate import route

SIGNATURES = (("seq_8", 8), ("seq_16", 16), ("seq_32", 32))


def _sample(real: int, length: int = 32):
    mask = np.zeros((1, length), np.int32)
    mask[0, :real] = 1
    return {"input_ids": np.arange(length, dtype=np.int32)[None] * mask, "attention_mask": mask}


@pytest.mark.parametrize("real, expected", [(1, "seq_8"), (8, "seq_8"), (9, "seq_16"), (16, "seq_16"),
                                            (17, "seq_32"), (32, "seq_32")])
def test_route_picks_the_shortest_signature_that_fits(real, expected):
    name, cut = route(_sample(real), SIGNATURES)
    assert name == expected
    length = dict(SIGNATURES)[expected]
    assert cut["input_ids"].shape == (1, length) and int(cut["attention_mask"].sum()) == real


def test_convert_config_signatures():
    assert ConvertConfig(sequence_length=64).signatures() == (("serving_default", 64),)
    config = ConvertConfig(sequence_lengths=(64, 16, 32, 16))
    assert config.signatures() == (("seq_16", 16), ("seq_32", 32), ("seq_64", 64))
    assert ConvertConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="sequence lengths must be integers >= 2"):
        ConvertConfig(sequence_lengths=(16, 1))


def test_a_single_bucket_keeps_its_seq_name(tiny_bert, tmp_path):
    from edgellm.export import export

    result = export(tiny_bert, tmp_path / "one", sequence_lengths=(16,))
    assert result.validation.passed and result.model.signatures == (("seq_16", 16),)
    m = json.loads((tmp_path / "one" / "edgellm.json").read_text())
    assert [s["name"] for s in m["signatures"]] == ["seq_16"]


def test_bucketed_export_validates_every_signature(tiny_bert, tmp_path):
    out = tmp_path / "out"
    argv = ["export", "--model", str(tiny_bert), "--sequence-lengths", "8,16,32", "--quantize", "int8",
            "--num-calibration-samples", "24", str(out)]
    assert cli.main(argv) == 0
    m = json.loads((out / "edgellm.json").read_text())
    assert [(s["name"], s["sequence_length"]) for s in m["signatures"]] == list(SIGNATURES)
    assert all(i["shape"] == [1, s["sequence_length"]] for s in m["signatures"] for i in s["inputs"])
    assert m["sequence_length"] == 32 and m["validation"]["passed"]

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(out / "model.tflite"))
    assert set(interpreter.get_signature_list()) == {"seq_8", "seq_16", "seq_32"}
    sample = _sample(5, 8)
    sample["token_type_ids"] = np.zeros_like(sample["input_ids"])
    short = interpreter.get_signature_runner("seq_8")(**sample)["last_hidden_state"]
    long = {k: np.pad(v, ((0, 0), (0, 24))) for k, v in sample.items()}
    full = interpreter.get_signature_runner("seq_32")(**long)["last_hidden_state"]
    np.testing.assert_allclose(short[0, :5], full[0, :5], atol=0.05)  # same weights, same answer on real tokens
