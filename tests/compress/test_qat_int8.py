"""Quantization-aware int8 for encoders (compress/qat_int8.py): the simulation is the export's graph, training
lowers the simulated error, and the folder exports and validates."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.compress.qat import QatConfig, qat
from edgellm.compress.qat_int8 import Int8Simulation, fake_quant_weight, scope_names
from edgellm.errors import ConfigError

SEQ = 16


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/compress/conftest.py


def test_fake_quant_weight_is_ai_edge_quantizers_int8_grid():
    import torch
    from ai_edge_quantizer import qtyping
    from ai_edge_quantizer.algorithms.uniform_quantize import uniform_quantize_tensor as uqt

    torch.manual_seed(0)
    w = torch.randn(16, 40) * torch.linspace(0.01, 2.0, 16)[:, None]
    ours = fake_quant_weight(w.requires_grad_(True))
    array = w.detach().numpy()
    zp, scale = uqt.tensor_zp_scale_from_min_max(array.min(1, keepdims=True), array.max(1, keepdims=True), 8,
                                                 symmetric=True, granularity=qtyping.QuantGranularity.CHANNELWISE)
    params = qtyping.UniformQuantParams(num_bits=8, quantized_dimension=0, scale=scale, zero_point=zp,
                                        symmetric=True)
    ints = uqt.uniform_quantize(array, params)
    assert np.abs(ints).max() <= 127
    np.testing.assert_allclose(ours.detach().numpy(), ints * scale, rtol=1e-6, atol=1e-9)
    ours.sum().backward()  # straight through
    assert torch.equal(w.grad, torch.ones_like(w))


def test_the_simulation_is_the_exported_int8_graph(tiny_bert, tmp_path):
    """The simulated int8 encoder sits much closer to the int8 flatbuffer's outputs than the float model does."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    from edgellm.calibrate import load_samples
    from edgellm.convert import read_source
    from edgellm.convert.encoder import load_reference, smooth_linear_inputs
    from edgellm.export import export

    export(tiny_bert, tmp_path / "int8", quantize="int8", sequence_length=SEQ, num_calibration_samples=32)
    source = read_source(tiny_bert)
    calibration = load_samples(None, str(tiny_bert), num_samples=32, sequence_length=SEQ)
    inputs = {k: torch.from_numpy(v) for k, v in calibration.inputs().items()}
    model = load_reference(source, "feature-extraction")
    smooth_linear_inputs(model, inputs, 0.75)
    sim = Int8Simulation(model, source.arch.outlier_linears)
    assert len(sim.dynamic) == 4  # the two output.dense projections of each layer, as the export keeps them
    sim.calibrate(model, inputs)
    runner = Interpreter(str(tmp_path / "int8" / "model.tflite")).get_signature_runner()
    rows = {k: v[:8] for k, v in inputs.items()}
    tflite = np.concatenate([runner(**{k: v[i:i + 1].numpy() for k, v in rows.items()})["last_hidden_state"]
                             for i in range(8)])
    with torch.no_grad():
        sim.mode = "float"
        fp = model(**rows)["last_hidden_state"].numpy()
        sim.mode = "int8"
        simulated = model(**rows)["last_hidden_state"].numpy()
    assert np.abs(simulated - tflite).mean() < 0.25 * np.abs(fp - tflite).mean()


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "mpnet", "albert", "mobilebert"])
def test_scope_names_are_the_flatbuffers_tensor_names(model_type, tmp_path):
    """The layers the simulation runs dynamic-range are, by scope, exactly the flatbuffer's linear layers (names up
    to the ';') that the export's outlier regex picks."""
    import re
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tiny import make_model

    from edgellm.archs import ARCHS
    from edgellm.convert import ConvertConfig, convert, read_source
    from edgellm.convert.encoder import load_reference
    from edgellm.quantize.sensitivity import linear_layers

    folder = make_model(tmp_path / model_type, model_type)
    source = read_source(folder)
    wrapper = load_reference(source, "feature-extraction")
    flat = {n.split(";")[0] for n in linear_layers(convert(str(folder), ConvertConfig(sequence_length=8)).content)}
    scopes = scope_names(wrapper)
    picked = {n for n in flat if re.fullmatch(ARCHS[model_type].outlier_linears, n + ";")}
    dynamic = Int8Simulation(wrapper, ARCHS[model_type].outlier_linears).dynamic
    assert {scopes[n] for n in dynamic} == picked and len(picked) > 0


def test_qat_int8_trains_and_exports(tiny_bert, tmp_path):
    out = tmp_path / "qat"
    result = qat(tiny_bert, out, quantization_aware="int8", max_steps=60, lr=1e-3)
    doc = json.loads((out / "compress.json").read_text())
    assert doc["method"] == "quantization-aware int8" and doc["training"]["steps"] == 60
    assert doc["grid"]["smoothing"]["alpha"] == 0.75 and len(doc["grid"]["dynamic_layers"]) == 4
    assert doc["training"]["ranges_measured_again_at"] == [50]  # every 50 steps
    curve = [loss for _, loss in doc["training"]["loss_curve"]]
    assert curve[-1] < curve[0], curve  # the simulated int8 model moves toward the float one
    assert "quantization-aware int8" in result.summary()
    from transformers import AutoModel

    AutoModel.from_pretrained(out)  # a plain HF folder again: no smoothing buffers, no hooks
    assert cli.main(["export", "--model", str(out), "--quantize", "int8", "--sequence-length", str(SEQ),
                     "--num-calibration-samples", "32", str(tmp_path / "int8")]) == 0
    manifest = json.loads((tmp_path / "int8" / "edgellm.json").read_text())
    assert manifest["validation"]["passed"]


def test_qat_int8_defaults_and_bad_input(tiny_bert, tmp_path, capsys):
    config = QatConfig(quantization_aware="int8")
    assert (config.num_samples, config.max_steps, config.lr) == (None, 600, 5e-6)
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        QatConfig(quantization_aware="int8", lr=-1.0)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    out = tmp_path / "out"
    assert cli.main(["qat", "--model", str(tiny_bert), "--quantization-aware", "int8", "--data", str(empty),
                     str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty.txt" in err[0]
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))
