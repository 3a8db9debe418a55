"""GPTQ for int4 from float weights: better outputs than rounding, grids that read back exactly, shared Hessians."""

import ml_dtypes
import numpy as np
import pytest

from edgellm.quantize.gptq import GptqConfig, _repair_unrecoverable, gptq_decoder, gptq_grid, gptq_layers, \
    input_hessians
from edgellm.errors import ConfigError
from generate.tiny_llm import make_llm


def _layer(seed: int = 0, out: int = 96, n: int = 128, tokens: int = 512):
    """A weight [out, n] and inputs [tokens, n] whose channels differ in scale and are partly correlated, as an
    LLM's normed hidden states are."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, n)).astype(np.float32) * np.linspace(0.2, 3.0, n, dtype=np.float32)
    x[:, :16] += rng.standard_normal((tokens, 1)).astype(np.float32) * 2
    w = rng.standard_normal((out, n)).astype(np.float32) * 0.05
    return w, x


def test_gptq_grid_moves_outputs_less_than_rounding():
    from ai_edge_quantizer.algorithms.uniform_quantize import dequantized_weight_recovery

    w, x = _layer()
    grid, repaired = gptq_grid(w, 2.0 / len(x) * x.T @ x, clip=False)
    assert grid.minimum is None and grid.k.dtype == np.int8 and -8 <= grid.k.min() and grid.k.max() <= 7
    assert np.array_equal(grid.scale, grid.scale.astype(ml_dtypes.bfloat16).astype(np.float32))
    q = grid.symmetric_weight()
    rounded = (np.clip(np.rint(w.reshape(96, -1, 32) / grid.scale[..., None]), -8, 7)
               * grid.scale[..., None]).reshape(w.shape)

    def output_error(v):
        return float(np.mean((x @ (v - w).T) ** 2))

    assert output_error(q) < 0.95 * output_error(rounded)  # measured 0.91
    # what the int4 recipe's dequantized_weight_recovery row reads back: the same scales (so the same ints)
    _, scales = dequantized_weight_recovery.get_zp_scale_from_dequantized_symmetric_weights(q, 1, 32)
    assert repaired == 0 and np.array_equal(scales, grid.scale)


def test_clipped_scales_beat_the_block_maximum_on_heavy_tailed_weights():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2048, 256)).astype(np.float32) * np.linspace(0.2, 3.0, 256, dtype=np.float32)
    w = (rng.standard_t(4, (256, 256)) * 0.02).astype(np.float32)  # LLM weights have tails: a few large values
    h = 2.0 / len(x) * x.T @ x
    clipped, _ = gptq_grid(w, h)
    full, _ = gptq_grid(w, h, clip=False)
    assert (clipped.scale < full.scale).mean() > 0.5  # OCTAV clips most blocks (all of them here)

    def output_error(g):
        return float(np.mean((x @ (g.symmetric_weight() - w).T) ** 2))

    assert output_error(clipped) < 0.98 * output_error(full)  # measured 0.958


def test_unrecoverable_block_is_repaired():
    k = np.zeros((2, 1, 32), np.int8)
    k[0, 0, :4] = [0, 2, -2, 5]  # magnitudes {0, 2, 5}: no two one step apart, recovery would read a scale of 2
    k[1, 0, :4] = [0, 1, -3, 7]  # has 0 and 1: fine
    steps = k.astype(np.float32) + np.float32(0.1)
    steps[0, 0, 2] = -1.7  # the nonzero weight nearest 0
    assert _repair_unrecoverable(k, steps) == 1
    assert k[0, 0, :4].tolist() == [0, 2, -1, 5] and k[1, 0, :4].tolist() == [0, 1, -3, 7]


def test_hessians_are_shared_by_layers_reading_one_input(tmp_path):
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(make_llm(tmp_path / "m", tokenizer=False)).eval()
    names = list(gptq_layers(model))
    assert not any(n.endswith("down_proj") for n in names) and len(names) == 12  # 2 layers x q k v o gate up
    chunks = [[3, 9, 27, 81 % 160, 17], [5, 6, 7]]
    leader, hessians = input_hessians(model, chunks, names)
    attn = "model.layers.1.self_attn."
    assert leader[attn + "k_proj"] == leader[attn + "v_proj"] == attn + "q_proj"
    assert leader["model.layers.1.mlp.up_proj"] == "model.layers.1.mlp.gate_proj"
    assert leader[attn + "o_proj"] == attn + "o_proj" and len(hessians) == 6
    # H = 2 / N * X^T X over every calibration token of the layer's input
    rows = []
    hook = model.model.layers[1].self_attn.o_proj.register_forward_pre_hook(
        lambda m, args: rows.append(args[0].reshape(-1, args[0].shape[-1])))
    with torch.no_grad():
        for c in chunks:
            model(torch.tensor([c]))
    hook.remove()
    x = torch.cat(rows)
    torch.testing.assert_close(hessians[attn + "o_proj"], 2.0 / len(x) * x.T @ x)


def test_gptq_decoder_puts_every_layer_on_a_grid(tmp_path):
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(
        make_llm(tmp_path / "m", tokenizer=False, intermediate_size=64)).eval()
    down = model.model.layers[0].mlp.down_proj.weight.detach().clone()
    report = gptq_decoder(model, [[1, 2, 3, 4, 5, 6, 7, 8]] * 4, exclude=["model.layers.0.self_attn.o_proj"])
    assert report["weights"] == 11 and report["hessians"] == 5 and report["calibration_tokens"] == 32
    q = model.model.layers[1].self_attn.q_proj.weight.detach().numpy()
    assert max(len(np.unique(block)) for block in q.reshape(-1, 32)) <= 16  # a symmetric 4-bit grid a block
    assert np.array_equal(model.model.layers[0].mlp.down_proj.weight.detach(), down)  # skipped: int8 later
    with pytest.raises(ConfigError, match="GPTQ needs calibration text"):
        gptq_decoder(model, [])


def test_gptq_config_round_trip_and_bad_skip():
    c = GptqConfig(skip=("mlp.down_proj", "self_attn.v_proj"), clip=False)
    assert GptqConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="tuple of module-name suffixes"):
        GptqConfig(skip="mlp.down_proj")
