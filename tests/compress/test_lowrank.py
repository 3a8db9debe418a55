"""prune --method lowrank: the rank kept for an energy share, the factors' accuracy, a factorised folder that loads
back in transformers (through edgellm's registered loader), exports with two FULLY_CONNECTED ops per factorised
linear and validates; refusals write nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "generate"))

from tiny import make_model  # noqa: E402
from tiny_llm import make_llm  # noqa: E402

import edgellm  # noqa: E402
from edgellm import cli  # noqa: E402
from edgellm.compress import lowrank  # noqa: E402
from edgellm.convert.lowrank import QUANT_METHOD, low_rank_linear_class, register  # noqa: E402
from edgellm.errors import ConfigError  # noqa: E402

RANK = 3  # of the block linears' weights below


def _make_low_rank(folder: Path, decoder: bool) -> Path:
    """Overwrite every block linear with a rank-RANK matrix plus 1e-3 noise (random weights have a flat spectrum,
    trained ones do not); saved back with save_pretrained."""
    import torch
    import transformers

    auto = transformers.AutoModelForCausalLM if decoder else transformers.AutoModel
    model = auto.from_pretrained(folder)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and ".layer" in name:
                out_f, in_f = module.weight.shape
                w = torch.randn(out_f, RANK, generator=g) @ torch.randn(RANK, in_f, generator=g) / in_f ** 0.5
                module.weight.copy_(w + 1e-3 * torch.randn(out_f, in_f, generator=g))
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return _make_low_rank(make_model(tmp_path_factory.mktemp("src") / "bert", "bert"), decoder=False)


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return _make_low_rank(make_llm(tmp_path_factory.mktemp("src") / "llama", "llama"), decoder=True)


def test_rank_for_energy_worked_example():
    import torch

    s = torch.tensor([3.0, 2.0, 1.0])  # energies 9, 4, 1 of 14
    assert lowrank.rank_for_energy(s, 0.5) == 1  # 9/14 = 0.64
    assert lowrank.rank_for_energy(s, 0.9) == 2  # 13/14 = 0.93
    assert lowrank.rank_for_energy(s, 0.95) == 3
    assert lowrank.rank_for_energy(s, 13 / 14) == 2  # exactly reached counts


def test_factorise_keeps_the_function_and_skips_what_would_grow():
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Linear(32, 8))
    with torch.no_grad():
        model[0].weight.copy_(torch.randn(32, 2) @ torch.randn(2, 64))  # rank 2: factorised at r = 2
    x = torch.randn(5, 64)
    before = model(x)
    record = lowrank.factorise(model, ["0", "1"], 0.999)
    assert record["0"]["factorised"] and record["0"]["rank"] == 2
    assert record["0"]["params_after"] == 2 * (64 + 32) + 32
    assert not record["1"]["factorised"] and isinstance(model[1], torch.nn.Linear)  # full rank 8: would grow
    cls = low_rank_linear_class()
    assert isinstance(model[0], cls) and model[0].down.weight.shape == (2, 64) and model[0].up.weight.shape == (32, 2)
    torch.testing.assert_close(model(x), before, atol=1e-4, rtol=1e-4)


def _factorised_in_memory(auto, folder: Path):
    """The source model factorised in memory, as prune did: what the saved folder must load back as."""
    from edgellm.compress.families import family_of

    model = auto.from_pretrained(folder).eval()
    lowrank.factorise(model, lowrank.block_linears(model, family_of(model.config.model_type)), 0.99)
    return model


def _fc_weight_shapes(export_dir: Path) -> list[tuple[int, ...]]:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(next(export_dir.glob("*.tflite"))))
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in it.get_tensor_details()}
    return [shapes[op["inputs"][1]] for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED"]


def test_bert_lowrank_loads_exports_two_fully_connected_and_validates(bert, tmp_path):
    import torch
    import transformers

    out = tmp_path / "lr"
    result = edgellm.prune(bert, out, method="lowrank", amount=0.99)
    assert result.params_after < result.params_before and result.bytes_after < result.bytes_before
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["quantization_config"]["quant_method"] == QUANT_METHOD
    ranks = config["quantization_config"]["ranks"]
    assert len(ranks) == 12 and set(ranks.values()) == {RANK}  # 2 layers x (q, k, v, o, intermediate, output)
    doc = json.loads((out / "compress.json").read_text())
    assert doc["method"] == "lowrank" and doc["data"] is None
    assert all(r["factorised"] and r["energy_kept"] >= 0.99 for r in doc["removed"].values())

    register()
    model = transformers.AutoModel.from_pretrained(out).eval()
    assert model.config.model_type == "bert"
    assert sum(p.numel() for p in model.parameters()) == result.params_after
    reference = _factorised_in_memory(transformers.AutoModel, bert)
    ids = torch.tensor([[2, 30, 40, 50, 3]])
    torch.testing.assert_close(model(ids).last_hidden_state, reference(ids).last_hidden_state, atol=1e-5, rtol=0)

    exported = edgellm.export(out, tmp_path / "export", sequence_length=16)
    assert exported.validation.passed
    shapes = _fc_weight_shapes(tmp_path / "export")
    downs = [s for s in shapes if s[0] == RANK]
    ups = [s for s in shapes if len(s) == 2 and s[1] == RANK]
    assert len(downs) == len(ups) == 12  # each factorised linear: two FULLY_CONNECTED ops, [r, in] then [out, r]
    assert len(shapes) == 12 * 2  # where there was one per linear (feature-extraction uses no pooler)


def test_llama_lowrank_loads_in_transformers(llama, tmp_path):
    import torch
    import transformers

    out = tmp_path / "lr"
    result = edgellm.prune(llama, out, method="lowrank", amount=0.99)
    assert result.params_after < result.params_before
    register()
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    cls = low_rank_linear_class()
    layer = model.model.layers[0]
    assert all(isinstance(m, cls) for m in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.mlp.down_proj))
    reference = _factorised_in_memory(transformers.AutoModelForCausalLM, llama)
    ids = torch.tensor([[1, 20, 30, 40, 50]])
    torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_llama_lowrank_exports_and_validates(llama, tmp_path):
    out = tmp_path / "lr"
    edgellm.prune(llama, out, method="lowrank", amount=0.99)
    exported = edgellm.export(out, tmp_path / "export", task="text-generation", cache_length=64,
                              prefill_lengths=(8,), decode_windows=())
    assert exported.validation.passed
    shapes = _fc_weight_shapes(tmp_path / "export")
    assert len([s for s in shapes if s[0] == RANK]) == len([s for s in shapes if s[1] == RANK]) > 0


def test_nothing_smaller_is_refused_and_nothing_written(tmp_path):
    src = make_model(tmp_path / "random", "bert")  # random weights: a flat spectrum, 0.99 needs nearly full rank
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="no linear layer gets smaller.*lower --amount"):
        edgellm.prune(src, out, method="lowrank", amount=0.99)
    assert not out.exists() and not list(tmp_path.glob(".out.partial-*"))


def test_lowrank_reads_no_data_and_a_factorised_folder_is_not_pruned_again(bert, tmp_path):
    with pytest.raises(ConfigError, match="lowrank pruning reads no data"):
        edgellm.PruneConfig(method="lowrank", amount=0.9, data="x.txt")
    first = tmp_path / "first"
    edgellm.prune(bert, first, method="lowrank", amount=0.99)
    with pytest.raises(ConfigError, match="already low-rank factorised"):
        edgellm.prune(first, tmp_path / "second", method="ffn", amount=0.5)
    assert not (tmp_path / "second").exists()


def test_cli_prune_lowrank(bert, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["prune", "--model", str(bert), "--method", "lowrank", "--amount", "0.99", str(out)]) == 0
    assert "pruned lowrank 0.99" in capsys.readouterr().out
    assert cli.main(["prune", "--model", str(bert), "--method", "lowrank", "--amount", "0.99", "--data", "x.txt",
                     str(tmp_path / "bad")]) == 2
    assert "reads no data" in capsys.readouterr().err
