"""Quantization-aware int4 (edgellm qat): the fake-quantized grid is the export's (ints -8..7, bfloat16 block scales,
recovered exactly by the int4 export path), a tiny llama's block reconstruction error falls with training, the
trained weights land bit for bit in the int4 flatbuffer, bad input is refused whole."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "generate"))

from tiny_llm import fused_grids, int4_tensors, make_llm  # noqa: E402

import edgellm  # noqa: E402
from edgellm import cli  # noqa: E402
from edgellm.compress.qat import QatConfig, fake_quant_int4, grid_of, grid_weight, initial_scales, qat  # noqa: E402
from edgellm.errors import ConfigError  # noqa: E402

FAST = dict(max_steps=25, num_samples=24, seq_len=32, lr=1e-4)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/compress/conftest.py


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return make_llm(tmp_path_factory.mktemp("src") / "llama", "llama", intermediate_size=64)  # 64: blocks of 32


@pytest.fixture(scope="module")
def trained(llama, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qat") / "out"
    import torch

    torch.set_num_threads(1)
    assert cli.main(["qat", "--model", str(llama), "--quantization-aware", "int4", "--num-samples", "16",
                     "--max-steps", "25", "--lr", "1e-4", str(out)]) == 0
    return out


def test_fake_quant_is_the_export_grid_and_passes_gradients():
    import torch

    from edgellm.quantize.int4 import recover_q4_grid

    torch.manual_seed(0)
    w = (torch.randn(8, 64) * 0.05).requires_grad_(True)
    s0 = initial_scales(w)
    t = torch.zeros_like(s0, requires_grad=True)
    q = fake_quant_int4(w, t, s0)
    k, s = grid_of(w, t, s0)
    assert int(k.min()) >= -8 and int(k.max()) <= 7
    # scales are bfloat16 numbers (what ai-edge-quantizer stores); the weight is exactly s * k
    assert np.array_equal(s.numpy(), s.numpy().astype(ml_dtypes.bfloat16).astype(np.float32))
    assert torch.equal(q.detach(), grid_weight(k, s))
    q.pow(2).sum().backward()
    assert w.grad.abs().sum() > 0 and t.grad.abs().sum() > 0  # straight-through rounding
    # the int4 export recovers every block's grid from the float values bit for bit
    grid = recover_q4_grid(q.detach().numpy())
    assert grid is not None and np.array_equal(grid.dequantized(), q.detach().numpy())


def test_block_error_falls_and_every_linear_lands_on_the_grid(trained, llama):
    import torch
    import transformers

    from edgellm.quantize.int4 import recovered_module_grids

    doc = json.loads((trained / "compress.json").read_text())
    blocks = doc["training"]["blocks"]
    assert len(blocks) == 2 and all(b["steps"] == 25 for b in blocks)
    assert all(b["loss_end"] < 0.9 * b["loss_start"] for b in blocks), blocks  # measured about 0.6x and 0.8x
    assert doc["grid"]["block_size"] == 32 and doc["source"]["sha256"] and doc["data"]["tokens"] > 0
    model = transformers.AutoModelForCausalLM.from_pretrained(trained).eval()
    linears = {n: m for n, m in model.model.layers.named_modules() if isinstance(m, torch.nn.Linear)}
    grids = recovered_module_grids(model)
    assert len(grids) == len(linears) == 14  # down_proj included
    for name, grid in grids.items():
        assert np.array_equal(grid.dequantized(), dict(model.named_modules())[name].weight.detach().numpy())
    teacher = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    assert not torch.equal(linears["0.mlp.down_proj"].weight, teacher.model.layers[0].mlp.down_proj.weight)


@pytest.mark.slow
def test_export_int4_keeps_the_trained_weights_bit_for_bit(trained, tmp_path):
    import torch
    import transformers

    from edgellm.quantize.int4 import recover_q4_grid

    result = edgellm.export(trained, tmp_path / "int4", task="text-generation", quantize="int4", cache_length=64,
                            prefill_lengths=(8,), decode_windows=(), smooth=False)
    assert result.validation.passed
    model = transformers.AutoModelForCausalLM.from_pretrained(trained)
    grids = {n: recover_q4_grid(m.weight.detach().numpy()) for n, m in model.model.layers.named_modules()
             if isinstance(m, torch.nn.Linear)}
    manifest = json.loads((tmp_path / "int4" / "edgellm.json").read_text())
    assert manifest["quantization"]["int4"]["grid_weights"] == {"Q4_1": 14}  # every decoder linear, none by GPTQ
    expected = fused_grids(grids)  # q/k/v and gate/up fused, as the export converts them
    matched = set()
    for ints, scales in int4_tensors(tmp_path / "int4" / "model.tflite"):
        name = next((n for n, (k, _) in expected.items() if k.shape == ints.shape and np.array_equal(k, ints)), None)
        assert name is not None
        assert np.array_equal(scales, expected[name][1])  # exact: the trained scales are bfloat16 numbers
        matched.add(name)
    assert matched == set(expected)


def test_config_round_trip_and_checks():
    config = QatConfig(max_steps=3, lr=1e-4, data="x.txt")
    assert QatConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="int8-dynamic is not built yet.*--quantization-aware int4"):
        QatConfig(quantization_aware="int8-dynamic")
    assert (config.num_samples, QatConfig().max_steps, QatConfig().lr) == (128, 200, 3e-4)  # int4's defaults
    with pytest.raises(ConfigError, match="not a recipe"):
        QatConfig(quantization_aware="int3")
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        QatConfig(lr=0)
    with pytest.raises(ConfigError, match="max_steps must be a positive integer"):
        QatConfig(max_steps=0)
    with pytest.raises(ConfigError, match="init 'best' is not known"):
        QatConfig(init="best")


def test_bad_input_exit_2_and_nothing_written(llama, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    out = tmp_path / "out"
    assert cli.main(["qat", "--model", str(llama), "--quantization-aware", "int8-dynamic", str(out)]) == 2
    assert "not built yet" in capsys.readouterr().err
    assert cli.main(["qat", "--model", str(llama), "--quantization-aware", "int4", "--data", str(empty), str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    short = make_llm(tmp_path / "short", "llama")  # intermediate 48: not a multiple of the block of 32
    with pytest.raises(ConfigError, match="blocks of 32"):
        qat(short, out, **FAST)
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))
