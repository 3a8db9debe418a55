"""--io-type int8: quantized outputs with their scale / zero point in the manifest, dequantized by validation."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.errors import ConfigError
from edgellm.export import ExportConfig, export
from edgellm.quantize.io import int8_params

SEQ = 16


def test_int8_params_is_the_affine_formula():
    scale, zero_point = int8_params(-0.31, 0.29)
    assert scale == pytest.approx(0.6 / 255) and zero_point == 4
    # the range always holds 0, so 0.0 is exactly representable
    scale, zero_point = int8_params(0.5, 2.0)
    assert scale == pytest.approx(2.0 / 255) and zero_point == -128


@pytest.mark.parametrize("model_type,task,outputs", [("bert", "feature-extraction", ("last_hidden_state",)),
                                                      ("bert", "sentence-embedding", ("embedding",))])
def test_int8_io_outputs_are_int8_and_validated(tmp_path, model_type, task, outputs):
    from ai_edge_litert.interpreter import Interpreter
    from tiny import make_model

    folder = make_model(tmp_path / "m", model_type, task)
    argv = ["export", "--model", str(folder), "--task", task, "--sequence-length", str(SEQ), "--quantize", "int8",
            "--num-calibration-samples", "16", "--io-type", "int8", str(tmp_path / "out")]
    assert cli.main(argv) == 0
    m = json.loads((tmp_path / "out" / "edgellm.json").read_text())
    assert m["quantization"]["io_type"] == "int8" and m["validation"]["passed"]
    assert [o["name"] for o in m["outputs"]] == list(outputs)
    for out in m["outputs"]:
        assert out["dtype"] == "int8" and out["quantization"]["scale"] > 0
    assert all(i["dtype"] == "int32" for i in m["inputs"])  # token ids stay int32
    runner = Interpreter(str(tmp_path / "out" / "model.tflite")).get_signature_runner()
    raw = runner(**{i["name"]: np.ones(i["shape"], np.int32) for i in m["inputs"]})
    assert all(v.dtype == np.int8 for v in raw.values())


def test_int8_io_with_a_recipe_without_calibration(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match="--io-type int8 needs a calibrated recipe"):
        export(tiny_bert, tmp_path / "o", quantize="int8-dynamic", io_type="int8")
    with pytest.raises(ConfigError, match="io_type 'uint8' is unknown"):
        ExportConfig(quantize="int8", io_type="uint8")
    assert ExportConfig.from_dict(ExportConfig(quantize="int8", io_type="int8").to_dict()).io_type == "int8"
