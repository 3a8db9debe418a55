"""Static recipes (int8, int16x8): calibration, structure of the flatbuffer, validation, bad input."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.errors import CalibrationError, ConfigError
from edgellm.export import export

SEQ = 16


@pytest.fixture(scope="module")
def int8_export(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("static") / "int8"
    export(tiny_bert, out, quantize="int8", sequence_length=SEQ, num_calibration_samples=32)
    return out


def _tensor_types(model_file):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(model_file))
    names = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    return it, names, ops


def test_int8_export_is_validated_and_small(int8_export, tiny_bert_export):
    m = json.loads((int8_export / "edgellm.json").read_text())
    assert m["quantization"]["recipe"] == "int8" and m["validation"]["passed"]
    assert m["validation"]["tolerance"]["min_cosine"] == 0.99
    assert 0.99 <= m["validation"]["metrics"]["last_hidden_state"]["mean_cosine"] < 1.0
    cal = m["quantization"]["calibration"]
    assert cal["num_samples"] == 32 and cal["ranges"]["kind"] == "minmax" and cal["ranges"]["bits"] == 8
    # int8 weights everywhere that holds weights: well under the float file even on a tiny model (whose size the
    # per-op overhead of smoothing's MULs, ~1 KB each, weighs on: 0.81 of it, 0.76 without)
    assert m["size_bytes"] < 0.85 * (tiny_bert_export / "model.tflite").stat().st_size


def test_int8_linear_layers_run_on_int8_activations_in_one_xnnpack_partition(int8_export):
    m = json.loads((int8_export / "edgellm.json").read_text())
    graph = m["graph"]
    assert graph["ops_by_kind"]["integer"] > 0 and graph["xnnpack_partitions"] == 1
    assert graph["partition_breakers"] == []
    _, tensors, ops = _tensor_types(int8_export / "model.tflite")
    fc = [op for op in ops if op["op_name"] == "FULLY_CONNECTED"]
    int8_in = [op for op in fc if tensors[op["inputs"][0]]["dtype"] == np.int8]
    dynamic = [op for op in fc if tensors[op["inputs"][0]]["dtype"] == np.float32]
    # bert: the two output.dense projections of each of the 2 layers stay dynamic-range (archs outlier_linears)
    assert len(dynamic) == 4 and len(int8_in) == len(fc) - 4
    assert all(tensors[op["inputs"][1]]["dtype"] == np.int8 for op in fc)
    # Embedding tables are stored int8; the runtime dequantizes a constant once, at load.
    producer = {int(o): op for op in ops for o in op["outputs"]}
    lookups = [op for op in ops if op["op_name"] == "EMBEDDING_LOOKUP"]
    tables = [producer[int(op["inputs"][1])] for op in lookups]
    assert lookups and all(t["op_name"] == "DEQUANTIZE" and tensors[int(t["inputs"][0])]["dtype"] == np.int8
                           for t in tables)


def test_int8_smooths_the_linear_inputs_by_default(int8_export, tiny_bert, tmp_path):
    m = json.loads((int8_export / "edgellm.json").read_text())
    # bert, 2 layers: query/key/value share one input, so 4 groups of 6 linears a layer (q/k/v, attention
    # output.dense, intermediate, output.dense); and the pooler, which runs in PyTorch but not in the graph
    assert m["quantization"]["convert_rewrites"]["smoothed_inputs"] == {"layers": 13, "groups": 9, "alpha": 0.75}
    assert cli.main(["export", "--model", str(tiny_bert), "--quantize", "int8", "--sequence-length", str(SEQ),
                     "--num-calibration-samples", "32", "--no-smooth", str(tmp_path / "plain")]) == 0
    plain = json.loads((tmp_path / "plain" / "edgellm.json").read_text())
    assert plain["validation"]["passed"] and "smoothed_inputs" not in plain["quantization"].get("convert_rewrites", {})

    def count(folder, kind):
        return sum(op["op_name"] == kind for op in _tensor_types(folder / "model.tflite")[2])

    # one MUL by 1/s per group in front of its FULLY_CONNECTEDs (the converter shares it between q/k/v)
    assert count(int8_export, "MUL") == count(tmp_path / "plain", "MUL") + 8
    assert count(int8_export, "FULLY_CONNECTED") == count(tmp_path / "plain", "FULLY_CONNECTED") == 12


@pytest.mark.parametrize("argv, message", [
    (["--quantize", "int8-dynamic", "--smooth"], "encoders smooth the linear layers' inputs for int8 and int8-full; "
                                                 "this export is 'int8-dynamic'"),
    (["--quantize", "int8", "--no-smooth", "--smooth-alpha", "0.5"], "which --no-smooth turns off"),
    (["--quantize", "int8", "--smooth-alpha", "0"], "smooth_alpha is a migration strength"),
])
def test_smoothing_options_that_do_not_apply_exit_2(tiny_bert, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert cli.main(["export", "--model", str(tiny_bert), *argv, str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_int16x8_keeps_int16_activations(tiny_bert, tmp_path):
    export(tiny_bert, tmp_path / "q", quantize="int16x8", sequence_length=SEQ, num_calibration_samples=16)
    m = json.loads((tmp_path / "q" / "edgellm.json").read_text())
    assert m["validation"]["passed"] and m["validation"]["tolerance"]["min_cosine"] == 0.995
    assert m["quantization"]["calibration"]["ranges"] == {**m["quantization"]["calibration"]["ranges"],
                                                          "bits": 16, "symmetric": True}
    _, tensors, ops = _tensor_types(tmp_path / "q" / "model.tflite")
    assert any(t["dtype"] == np.int16 for t in tensors.values())


def test_calibration_file_and_column(tiny_bert, tmp_path, capsys):
    data = tmp_path / "cal.jsonl"
    data.write_text("\n".join(json.dumps({"body": f"how is the weather {i} in the train"}) for i in range(10)))
    argv = ["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), "--quantize", "int8",
            "--calibration-data", str(data), "--text-column", "body", "--num-calibration-samples", "8",
            "--calibration-range", "percentile", str(tmp_path / "out")]
    assert cli.main(argv) == 0
    cal = json.loads((tmp_path / "out" / "edgellm.json").read_text())["quantization"]["calibration"]
    assert cal["num_samples"] == 8 and cal["ranges"]["kind"] == "percentile"
    assert cli.main([*argv[:-1], "--text-column", "text", "--overwrite", str(tmp_path / "out")]) == 2
    assert "text" in capsys.readouterr().err


def test_empty_calibration_file_exits_2_and_writes_nothing(tiny_bert, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    argv = ["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), "--quantize", "int8",
            "--calibration-data", str(empty), str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "empty" in capsys.readouterr().err.lower()
    assert not (tmp_path / "out").exists()


def test_calibration_data_with_a_recipe_that_needs_none(tiny_bert, tmp_path):
    with pytest.raises(ConfigError, match="--calibration-data is only used by the static recipes"):
        export(tiny_bert, tmp_path / "o", quantize="int8-dynamic", calibration_data="calibration/en.txt")


def test_non_finite_activation_names_the_tensor(tiny_bert, tmp_path, monkeypatch):
    class Fake:
        def __init__(self, *args, **kwargs):
            pass

        def calibrate(self, *args):
            pass

        def get_model_qsvs(self):
            return {"layer_0/softmax": {"min": np.array([0.0]), "max": np.array([np.inf])}}

    import ai_edge_quantizer.calibrator

    monkeypatch.setattr(ai_edge_quantizer.calibrator, "Calibrator", Fake)
    with pytest.raises(CalibrationError, match="tensor 'layer_0/softmax' saw NaN or inf"):
        export(tiny_bert, tmp_path / "o", quantize="int8", sequence_length=SEQ)
    assert not (tmp_path / "o").exists()
