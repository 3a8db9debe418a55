"""int8-full: the integer-only graph (NPUs, DSPs, micro runtimes). Structure checks on the tiny encoder's flatbuffer."""

import json

import numpy as np
import pytest

from edgellm.export import export

SEQ = 16
# Ops allowed to touch float tensors: the input boundary (mask CAST, embedding lookups from int8 tables) and the
# quantize/dequantize pairs there and at the outputs. LayerNorm is traced as BoundedLayerNorm: no float op.
FLOAT_ISLANDS = {"CAST", "EMBEDDING_LOOKUP", "QUANTIZE", "DEQUANTIZE"}


@pytest.fixture(scope="module", params=["float", "int8"])
def full_export(request, tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / request.param
    export(tiny_bert, out, quantize="int8-full", sequence_length=SEQ, num_calibration_samples=16,
           io_type=request.param)
    return out


def _graph(model_file):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(model_file))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    return it, tensors, it._get_ops_details()


def test_int8_full_is_integer_between_ops(full_export):
    m = json.loads((full_export / "edgellm.json").read_text())
    assert m["validation"]["passed"] and m["quantization"]["recipe"] == "int8-full"
    assert set(m["graph"]["float_ops"]) <= {"CAST", "EMBEDDING_LOOKUP"}
    assert m["quantization"]["convert_rewrites"]["bounded_layer_norms"] == 5  # embeddings + 2 per layer
    it, tensors, ops = _graph(full_export / "model.tflite")
    outputs = {d["index"] for d in it.get_signature_runner().get_output_details().values()}
    for op in ops:
        if op["op_name"] in FLOAT_ISLANDS:
            continue
        for i in [*op["inputs"], *op["outputs"]]:
            if i >= 0 and tensors[i]["dtype"] == np.float32:
                raise AssertionError(f"{op['op_name']} touches float tensor {tensors[i]['name']}")
    matmuls = [op for op in ops if op["op_name"] in ("FULLY_CONNECTED", "BATCH_MATMUL")]
    assert matmuls  # (an empty loop would check nothing)
    for op in matmuls:
        assert tensors[op["inputs"][0]]["dtype"] in (np.int8, np.int16)
        assert tensors[op["inputs"][1]]["dtype"] in (np.int8, np.int16)
    dequantized = set()
    for op in ops:
        if op["op_name"] == "DEQUANTIZE" and tensors[op["inputs"][0]]["dtype"] != np.int8:  # not a constant table
            (out,) = op["outputs"]
            if out not in outputs:  # no activation goes back to float inside the graph
                raise AssertionError(f"activation dequantized to float: {tensors[out]['name']}")
            dequantized.add(out)
    io_type = m["quantization"]["io_type"]
    assert io_type == full_export.name
    # float I/O: each output is dequantized at the end; int8 I/O: none is, and the manifest says int8
    assert dequantized == (outputs if io_type == "float" else set())
    assert all((o["dtype"] == "int8") == (io_type == "int8") for o in m["outputs"])


def test_outlier_channel_scaling_replaces_the_16x8_projections(tiny_bert):
    from edgellm.calibrate import load_samples
    from edgellm.convert import ConvertConfig, convert
    from edgellm.quantize import quantize

    data = load_samples(None, str(tiny_bert), num_samples=16, sequence_length=SEQ)
    # ratio 1.5: random weights have no real outliers; a low ratio scales some channels anyway
    config = ConvertConfig(sequence_length=SEQ, bounded_layer_norm=True, outlier_channel_ratio=1.5)
    model = convert(tiny_bert, config, calibration=data)
    scaled = model.rewrites["scaled_channels"]
    assert scaled and all(n > 0 for n in scaled.values())
    q = quantize(model, "int8-full", calibration=data)
    assert q.quantization["convert_rewrites"]["scaled_channels"] == scaled
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=q.content)
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    fc_inputs = [tensors[op["inputs"][0]]["dtype"] for op in it._get_ops_details()
                 if op["op_name"] == "FULLY_CONNECTED"]
    assert fc_inputs and all(d == np.int8 for d in fc_inputs)  # no 16x8 outlier projection left


def test_quantize_warns_when_the_layer_norms_were_not_bounded(tiny_bert):
    import warnings

    from edgellm.calibrate import load_samples
    from edgellm.convert import ConvertConfig, convert
    from edgellm.quantize import QuantizationWarning, quantize

    data = load_samples(None, str(tiny_bert), num_samples=8, sequence_length=SEQ)
    with pytest.warns(QuantizationWarning, match="bounded_layer_norm=True"):
        quantize(convert(tiny_bert, ConvertConfig(sequence_length=SEQ)), "int16x8", calibration=data)
    bounded = convert(tiny_bert, ConvertConfig(sequence_length=SEQ, bounded_layer_norm=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizationWarning)
        quantize(bounded, "int16x8", calibration=data)
        quantize(convert(tiny_bert, ConvertConfig(sequence_length=SEQ)), "int8", calibration=data)  # not needed


@pytest.mark.parametrize("recipe", ["int8-full", "int16x8"])
def test_integer_sentence_embedding_reports_its_xnnpack_partitions(recipe, tiny_bert, tmp_path):
    """Mean pooling divides by the mask's sum; the load probe must not invoke it on an all-zero mask, which quantized
    DIV refuses (the manifest's partition count was null for every integer sentence-embedding export)."""
    from tiny import make_sentence_transformer

    from edgellm.runtime.probe import load_and_invoke

    folder = make_sentence_transformer(tmp_path / "st", tiny_bert)
    export(folder, tmp_path / "out", quantize=recipe, sequence_length=SEQ, num_calibration_samples=16)
    graph = json.loads((tmp_path / "out" / "edgellm.json").read_text())["graph"]
    _, tensors, ops = _graph(tmp_path / "out" / "model.tflite")
    divisions = [op for op in ops if op["op_name"] == "DIV"]
    assert divisions and all(tensors[op["inputs"][1]]["dtype"] != np.float32 for op in divisions)  # quantized
    assert graph["xnnpack_partitions"] >= 1 and graph["total_ops"] > 0
    load_and_invoke(str(tmp_path / "out" / "model.tflite"))  # the probe's own call: no error
