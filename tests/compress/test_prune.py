"""edgellm.prune on tiny random BERT and llama folders: fewer parameters, the folder loads back in transformers,
exports and validates; the importance ranking removes the unit made unimportant; bad input is refused whole."""

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
from edgellm.compress import PruneConfig, prune  # noqa: E402
from edgellm.errors import CalibrationError, ConfigError, UnsupportedArchitectureError  # noqa: E402

LLM_EXPORT = dict(task="text-generation", cache_length=64, prefill_lengths=(8,), decode_windows=())


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("src") / "bert", "bert")


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return make_llm(tmp_path_factory.mktemp("src") / "llama", "llama")


def _params(folder: Path, decoder: bool) -> int:
    import transformers

    auto = transformers.AutoModelForCausalLM if decoder else transformers.AutoModel
    return sum(p.numel() for p in auto.from_pretrained(folder).parameters())


def _nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial-")]


@pytest.mark.parametrize("method", ["ffn", "layers", "magnitude"])
def test_bert_prunes_loads_and_exports(bert, tmp_path, method):
    out = tmp_path / method
    result = edgellm.prune(bert, out, edgellm.PruneConfig(method=method, amount=0.5, num_samples=8))
    assert isinstance(result, edgellm.PruneResult)
    before, after = _params(bert, False), _params(out, False)
    assert result.params_before == before and result.params_after == after
    if method == "magnitude":
        assert after == before and result.sparsity == pytest.approx(0.5, abs=0.01)
        assert "does not run them faster" in result.summary()
    else:
        assert after < before
    doc = json.loads((out / "compress.json").read_text())
    assert doc["method"] == method and doc["parameters"] == {"before": before, "after": after}
    assert doc["source"]["sha256"] and doc["wall_s"] > 0
    assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()
    exported = edgellm.export(out, tmp_path / f"{method}_export", sequence_length=16)
    assert exported.validation.passed


@pytest.mark.parametrize("method", ["ffn", "layers", "heads", "magnitude"])
def test_llama_prunes_loads_and_exports(llama, tmp_path, method):
    import transformers

    out = tmp_path / method
    result = prune(llama, out, method=method, amount=0.5, num_samples=8)
    before, after = _params(llama, True), _params(out, True)
    assert (after == before) if method == "magnitude" else (after < before)
    config = transformers.AutoConfig.from_pretrained(out)
    if method == "heads":  # one of the two KV groups gone, with its two query heads
        assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (2, 1, 8)
        assert config.num_attention_heads % config.num_key_value_heads == 0
        model = transformers.AutoModelForCausalLM.from_pretrained(out)
        assert model.model.layers[0].self_attn.q_proj.out_features == 2 * 8
    if method == "layers":
        assert config.num_hidden_layers == 1
    if method == "magnitude":
        doc = json.loads((out / "compress.json").read_text())
        assert doc["sparsity"] == pytest.approx(0.5, abs=0.01) and "not" in doc["note"]
        assert result.sparsity == doc["sparsity"]
    exported = edgellm.export(out, tmp_path / f"{method}_export", **LLM_EXPORT)
    assert exported.validation.passed


def test_ffn_removes_the_dead_neuron(tmp_path):
    import torch
    import transformers

    src = make_llm(tmp_path / "llama", tokenizer=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        for i, dead in enumerate((7, 30)):  # act(gate) * up = 0 for this neuron on every token
            model.model.layers[i].mlp.up_proj.weight[dead] = 0
    model.save_pretrained(src)
    for refit, score in ((True, "optimal brain surgeon"), (False, "mean |activation|")):
        out = tmp_path / f"out_{refit}"
        prune(src, out, method="ffn", amount=1 / 48, num_samples=8, refit=refit)
        doc = json.loads((out / "compress.json").read_text())
        assert doc["removed"] == {"0": [7], "1": [30]}
        assert score in doc["importance"]
        assert transformers.AutoConfig.from_pretrained(out).intermediate_size == 47


def test_bert_ffn_removes_the_dead_neuron(tmp_path):
    import torch
    import transformers

    src = make_model(tmp_path / "bert", "bert")
    model = transformers.AutoModel.from_pretrained(src)
    with torch.no_grad():  # GELU(0) = 0
        model.encoder.layer[1].intermediate.dense.weight[11] = 0
        model.encoder.layer[1].intermediate.dense.bias[11] = 0
    model.save_pretrained(src)
    out = tmp_path / "out"
    prune(src, out, method="ffn", amount=1 / 37, num_samples=8)
    assert json.loads((out / "compress.json").read_text())["removed"]["1"] == [11]


def test_layers_removes_the_identity_layer_and_heads_the_silent_group(tmp_path):
    import torch
    import transformers

    src = make_llm(tmp_path / "llama", tokenizer=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        layer = model.model.layers[0]  # layer 0 adds nothing to the residual stream: output = input
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
        model.model.layers[1].self_attn.v_proj.weight[8:16] = 0  # KV group 1 of layer 1 outputs zeros
    model.save_pretrained(src)
    prune(src, tmp_path / "layers", method="layers", amount=0.5, num_samples=8)
    doc = json.loads((tmp_path / "layers" / "compress.json").read_text())
    assert doc["removed"]["layers"] == [0] and doc["removed"]["scores"][0] == pytest.approx(0, abs=1e-6)
    held = doc["fidelity"]["after"]  # the removed layer did nothing: the held text scores as before
    assert held["perplexity_ratio"] == pytest.approx(1, abs=1e-4) and held["top1_agreement"] == 1.0
    prune(src, tmp_path / "heads", method="heads", amount=0.5, num_samples=8)
    doc = json.loads((tmp_path / "heads" / "compress.json").read_text())
    assert doc["removed"]["1"] == {"kv_groups": [1], "query_heads": [2, 3]}


def _silence_heads(src: Path, *, layer: int, rows: int) -> None:
    """Zero the first ``rows`` value rows (weights and bias) of encoder layer ``layer``: those heads output zeros."""
    import torch
    import transformers

    model = transformers.AutoModel.from_pretrained(src)
    with torch.no_grad():
        model.encoder.layer[layer].attention.self.value.weight[:rows] = 0
        model.encoder.layer[layer].attention.self.value.bias[:rows] = 0
    model.save_pretrained(src)


@pytest.mark.parametrize("model_type", ["bert", "roberta", "electra"])
def test_encoder_heads_removes_the_silent_head_loads_and_exports(tmp_path, model_type):
    import torch
    import transformers

    from edgellm.convert.lowrank import register

    src = make_model(tmp_path / model_type, model_type)  # 2 heads of 16 over hidden 32
    _silence_heads(src, layer=1, rows=16)  # head 0 of layer 1 outputs zeros
    out = tmp_path / "heads"
    result = prune(src, out, method="heads", amount=0.5, num_samples=8)
    doc = json.loads((out / "compress.json").read_text())
    assert doc["removed"]["1"] == [0] and doc["config_changes"]["attention heads per layer"] == [[2, 2], [1, 1]]
    assert doc["fidelity"]["after"]["cosine_min"] == pytest.approx(1, abs=1e-4)  # the silent head changed nothing
    config = json.loads((out / "config.json").read_text())
    assert config["num_attention_heads"] == 2  # the head size stays hidden_size / 2
    assert config["quantization_config"]["shapes"]["encoder.layer.1.attention.self.query"] == [32, 16]
    assert config["quantization_config"]["shapes"]["encoder.layer.1.attention.output.dense"] == [16, 32]
    register()
    loaded = transformers.AutoModel.from_pretrained(out)
    assert sum(p.numel() for p in loaded.parameters()) == result.params_after == result.params_before - 2 * (
        3 * (16 * 32 + 16) + 16 * 32)
    ids = torch.tensor([[2, 7, 9, 11, 3]])
    with torch.no_grad():
        kept = loaded(ids).last_hidden_state
    assert torch.isfinite(kept).all() and kept.shape == (1, 5, 32)
    exported = edgellm.export(out, tmp_path / "export", sequence_length=16)
    assert exported.validation.passed


def test_encoder_heads_go_where_they_cost_least_and_the_folder_exports(tmp_path):
    """Three of layer 0's four heads are silent: 3 of the 8 heads go, all from layer 0 (the same count from every
    layer would also take one of layer 1's); the folder with 1 and 4 heads loads back and exports."""
    import transformers

    from edgellm.convert.lowrank import register

    src = make_model(tmp_path / "bert", "bert", num_attention_heads=4)  # 4 heads of 8 over hidden 32
    _silence_heads(src, layer=0, rows=24)  # heads 0, 1 and 2 of layer 0
    out = tmp_path / "heads"
    result = prune(src, out, method="heads", amount=0.375, num_samples=8)
    doc = json.loads((out / "compress.json").read_text())
    assert doc["removed"] == {"0": [0, 1, 2], "1": []}
    assert doc["config_changes"]["attention heads per layer"] == [[4, 4], [1, 4]]
    assert "spread over the layers" in doc["importance"]
    register()
    loaded = transformers.AutoModel.from_pretrained(out)
    assert sum(p.numel() for p in loaded.parameters()) == result.params_after
    assert [layer.attention.self.query.out_features for layer in loaded.encoder.layer] == [8, 32]
    assert edgellm.export(out, tmp_path / "export", sequence_length=16).validation.passed
    uniform = prune(src, tmp_path / "uniform", method="heads", amount=0.375, num_samples=8, refit=False)
    assert [len(drop) for drop in uniform.removed.values()] == [2, 2]  # round(0.375 x 4) from each layer


def test_no_refit_refuses_layers_with_different_head_counts(tmp_path):
    src = make_model(tmp_path / "bert", "bert", num_attention_heads=4)
    _silence_heads(src, layer=0, rows=24)
    prune(src, tmp_path / "once", method="heads", amount=0.375, num_samples=8)
    with pytest.raises(ConfigError, match=r"different head counts \(\[1, 4\]\).*drop --no-refit"):
        prune(tmp_path / "once", tmp_path / "twice", method="heads", amount=0.5, num_samples=8, refit=False)
    _nothing_written(tmp_path / "twice")


def test_encoder_heads_pruned_then_layers_and_ffn_load_back(bert, tmp_path):
    import transformers

    from edgellm.convert.lowrank import register

    prune(bert, tmp_path / "heads", method="heads", amount=0.5, num_samples=4)
    prune(tmp_path / "heads", tmp_path / "layers", method="layers", amount=0.5, num_samples=4)
    result = prune(tmp_path / "layers", tmp_path / "ffn", method="ffn", amount=0.5, num_samples=4,
                   recover_steps=2)
    shapes = json.loads((tmp_path / "ffn" / "config.json").read_text())["quantization_config"]["shapes"]
    assert sorted(shapes) == ["encoder.layer.0.attention.output.dense", "encoder.layer.0.attention.self.key",
                              "encoder.layer.0.attention.self.query", "encoder.layer.0.attention.self.value"]
    register()
    model = transformers.AutoModel.from_pretrained(tmp_path / "ffn")
    assert sum(p.numel() for p in model.parameters()) == result.params_after
    assert model.encoder.layer[0].attention.self.query.out_features == 16
    assert model.encoder.layer[0].intermediate.dense.out_features == model.config.intermediate_size < 37


@pytest.mark.parametrize("amount", [0, 1, 1.5, -0.2, True])
def test_amount_outside_0_1(amount):
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        PruneConfig(method="ffn", amount=amount)


def test_config_round_trip_and_checks():
    config = PruneConfig(method="layers", amount=0.25, data="x.txt", num_samples=4)
    assert PruneConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="not known"):
        PruneConfig(method="svd", amount=0.5)
    with pytest.raises(ConfigError, match="reads no data"):
        PruneConfig(method="magnitude", amount=0.5, data="x.txt")
    with pytest.raises(ConfigError, match="unknown PruneConfig keys"):
        PruneConfig.from_dict({"method": "ffn", "amount": 0.5, "recover_step": 3})


def _bad_data(tmp_path: Path, kind: str) -> dict:
    if kind == "empty":
        (tmp_path / "empty.txt").write_text("\n\n")
        return {"data": str(tmp_path / "empty.txt")}
    if kind == "binary":
        (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 4)
        return {"data": str(tmp_path / "bin.txt")}
    (tmp_path / "rows.jsonl").write_text('{"text": "hello world"}\n')
    return {"data": str(tmp_path / "rows.jsonl"), "text_column": "body"}


@pytest.mark.parametrize("kind", ["empty", "binary", "column"])
def test_bad_data_writes_nothing(bert, tmp_path, kind):
    out = tmp_path / "out"
    with pytest.raises((CalibrationError, ConfigError)):
        prune(bert, out, method="ffn", amount=0.3, **_bad_data(tmp_path, kind))
    _nothing_written(out)


@pytest.mark.parametrize("model, method, amount, error, match", [
    ("llama", "layers", 0.9, ConfigError, "every one of the 2 layers"),
    ("llama", "heads", 0.9, ConfigError, "every one of the 2 KV groups"),
    ("bert", "ffn", 0.001, ConfigError, "removes none"),
    ("bert", "heads", 0.9, ConfigError, "every one of the 4 attention heads"),
    ("bert", "heads", 0.7, ConfigError, "leaving a layer without any"),
])
def test_refusals_write_nothing(request, tmp_path, model, method, amount, error, match):
    out = tmp_path / "out"
    with pytest.raises(error, match=match):
        prune(request.getfixturevalue(model), out, method=method, amount=amount, num_samples=4)
    _nothing_written(out)


def test_unsupported_family(tmp_path):
    src = make_model(tmp_path / "distilbert", "distilbert")
    with pytest.raises(UnsupportedArchitectureError, match="supported: bert, .*llama"):
        prune(src, tmp_path / "out", method="ffn", amount=0.5)
    _nothing_written(tmp_path / "out")


def test_existing_output_is_kept(bert, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        prune(bert, out, method="ffn", amount=0.5)
    assert (out / "notes.txt").read_text() == "mine"


def test_default_uses_every_text_up_to_a_cap_and_few_tokens_warn(bert, tmp_path, monkeypatch):
    import warnings

    from edgellm.calibrate import corpus_path
    from edgellm.calibrate.samples import CalibrationWarning

    lines = [t for t in corpus_path("en").read_text(encoding="utf-8").splitlines() if t.strip()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prune(bert, tmp_path / "all", method="ffn", amount=0.5)
    assert not [w for w in caught if "the refit sees" in str(w.message)]
    doc = json.loads((tmp_path / "all" / "compress.json").read_text())
    assert doc["data"]["samples"] == len(lines) and doc["config"]["num_samples"] is None
    monkeypatch.setattr(sys.modules["edgellm.compress.prune"], "DEFAULT_SAMPLES", 1)
    with pytest.warns(CalibrationWarning, match=r"the refit sees \d+ tokens for linears of 37 inputs"):
        prune(bert, tmp_path / "few", method="ffn", amount=0.5)
    assert json.loads((tmp_path / "few" / "compress.json").read_text())["data"]["samples"] == 1


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_fidelity_and_latency_before_and_after_are_reported(request, tmp_path, family):
    """90% of the weights zeroed moves the held-text figures, which compress.json and the summary report beside a
    PyTorch latency before and after (exact cases: the silent head and the identity layer above)."""
    result = prune(request.getfixturevalue(family), tmp_path / "out", method="magnitude", amount=0.9)
    doc = json.loads((tmp_path / "out" / "compress.json").read_text())
    fidelity, latency = doc["fidelity"], doc["latency_ms"]
    assert fidelity == result.fidelity and latency == result.latency_ms
    assert fidelity["held"]["text"] == "calibration/en_eval.txt"
    if family == "llama":
        assert fidelity["held"]["tokens"] > 100
        assert fidelity["after"]["perplexity"] != pytest.approx(fidelity["before"]["perplexity"], rel=1e-3)
        assert fidelity["after"]["perplexity_ratio"] == pytest.approx(
            fidelity["after"]["perplexity"] / fidelity["before"]["perplexity"], rel=1e-3)
        assert fidelity["after"]["top1_agreement"] < 1
        assert "decode step" in latency["what"]
    else:
        assert fidelity["held"]["texts"] > 10
        assert fidelity["before"]["cosine_mean"] == 1.0 and fidelity["after"]["cosine_mean"] < 1
        assert fidelity["after"]["cosine_min"] <= fidelity["after"]["cosine_mean"]
        assert "forward of one" in latency["what"]
    assert latency["before"] > 0 and latency["after"] > 0 and "in turn with the original" in latency["what"]
    assert "held-text" in result.summary() and " ms" in result.summary()


def test_a_folder_without_tokenizer_prunes_without_figures_or_is_refused_for_data(tmp_path):
    src = make_llm(tmp_path / "bare", tokenizer=False)
    result = prune(src, tmp_path / "mag", method="magnitude", amount=0.5)
    assert result.fidelity is None and json.loads((tmp_path / "mag" / "compress.json").read_text())["fidelity"] is None
    with pytest.raises(ConfigError, match="has no tokenizer to read --data with"):
        prune(src, tmp_path / "ffn", method="ffn", amount=0.25)
    _nothing_written(tmp_path / "ffn")


def test_cli_prune(bert, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["prune", "--model", str(bert), "--method", "layers", "--amount", "0.5", "--num-samples", "4",
                     str(out)]) == 0
    printed = capsys.readouterr().out
    assert "parameters" in printed and "held-text cosine" in printed and (out / "compress.json").is_file()


@pytest.mark.parametrize("extra", [["--amount", "1.0"], ["--amount", "0.5", "--data", "EMPTY"],
                                   ["--amount", "0.5", "--data", "ROWS", "--text-column", "body"]])
def test_cli_bad_input_one_line_exit_2(bert, tmp_path, capsys, extra):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "rows.jsonl").write_text('{"text": "hello world"}\n')
    extra = [{"EMPTY": str(tmp_path / "empty.txt"), "ROWS": str(tmp_path / "rows.jsonl")}.get(a, a) for a in extra]
    out = tmp_path / "out"
    assert cli.main(["prune", "--model", str(bert), "--method", "ffn", *extra, str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgellm prune: error:") and "\n" not in err
    _nothing_written(out)


@pytest.mark.parametrize("model_type, method", [("qwen2", "heads"), ("qwen3", "heads"), ("mistral", "heads"),
                                                ("qwen2", "ffn"), ("qwen3", "layers")])
def test_other_decoder_families_load_and_run(tmp_path, model_type, method):
    import torch
    import transformers

    src = make_llm(tmp_path / model_type, model_type)
    out = tmp_path / "out"
    result = prune(src, out, method=method, amount=0.5, num_samples=4)
    assert result.params_after < result.params_before
    model = transformers.AutoModelForCausalLM.from_pretrained(out)
    assert sum(p.numel() for p in model.parameters()) == result.params_after
    logits = model(torch.tensor([[1, 7, 9, 11]])).logits
    assert logits.shape == (1, 4, 160) and torch.isfinite(logits).all()


@pytest.mark.parametrize("model_type", ["roberta", "electra"])
def test_other_encoder_families_load(tmp_path, model_type):
    import transformers

    src = make_model(tmp_path / model_type, model_type)
    result = prune(src, tmp_path / "out", method="ffn", amount=0.5, num_samples=4)
    model = transformers.AutoModel.from_pretrained(tmp_path / "out")
    assert sum(p.numel() for p in model.parameters()) == result.params_after < result.params_before


def test_prune_help_documents_every_option(capsys):
    import argparse

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    p = sub.choices["prune"]
    for action in p._actions:
        assert action.help, action.option_strings
    with pytest.raises(SystemExit):
        cli.main(["prune", "--help"])
    out = capsys.readouterr().out
    assert "magnitude" in out and "(default: all" in out and "--recover-steps N" in out


def test_import_is_light():
    import subprocess

    code = "import sys, edgellm.compress; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_overwrite_replaces_an_earlier_prune_output(tmp_path):
    model = make_llm(tmp_path / "m")
    out = tmp_path / "pruned"
    prune(model, out, PruneConfig(method="ffn", amount=0.25))
    with pytest.raises(ConfigError, match="exists and is not empty"):
        prune(model, out, PruneConfig(method="ffn", amount=0.5))
    prune(model, out, PruneConfig(method="ffn", amount=0.5, overwrite=True))
    assert json.loads((out / "compress.json").read_text())["amount"] == 0.5


def test_refit_reproduces_what_the_kept_units_span():
    """Column 5 is a linear function of columns 0 and 1 plus a constant: refit on the other columns and the bias
    gives back the original outputs; cutting the column alone does not."""
    import torch

    from edgellm.compress.refit import input_grams, refit_columns

    torch.manual_seed(0)
    x = torch.randn(400, 6)
    x[:, 5] = 2 * x[:, 0] - x[:, 1] + 0.5
    original = torch.nn.Linear(6, 3)
    keep = torch.arange(5)
    refit, cut = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    refit.load_state_dict(original.state_dict())
    cut.load_state_dict(original.state_dict())

    class Run:  # input_grams runs "the model" on the texts: here one text of 400 tokens, x, through the linear
        def __call__(self, **_):
            refit(x[None])

    tokens = lambda text, **_: {"input_ids": list(range(400))}  # noqa: E731
    (gram,) = input_grams(Run(), [refit], tokens, ["batch"], 400)
    assert gram.shape == (7, 7) and gram[6, 6] == 400  # the ones column counts the tokens
    refit_columns(refit, keep, gram)
    with torch.no_grad():
        want = original(x)
        cut_error = (x[:, keep] @ cut.weight[:, keep].T + cut.bias - want).norm()
        refit_error = (refit(x[:, keep]) - want).norm()
    assert refit.weight.shape == (3, 5) and refit.in_features == 5
    assert refit_error < 0.05 * cut_error


def test_gram_weights_each_token_by_the_layer_norm_it_feeds():
    """A post-LN block: an output error at a token whose residual sum has a large spread is divided by it in the
    LayerNorm, so that token counts less (1 / variance) in the Gram the refit and the choice read."""
    import torch

    from edgellm.compress.refit import input_grams

    torch.manual_seed(0)
    x, residual = torch.randn(5, 4), torch.randn(5, 3) * torch.tensor([[1.0], [3.0], [0.5], [10.0], [2.0]])
    linear, norm = torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)

    class Run:  # a post-LN block: norm(linear(x) + residual), on one text of 5 tokens
        def __call__(self, **_):
            norm(linear(x[None]) + residual[None])

    tokens = lambda text, **_: {"input_ids": list(range(5))}  # noqa: E731
    (plain,) = input_grams(Run(), [linear], tokens, ["batch"], 8)
    (weighted,) = input_grams(Run(), [linear], tokens, ["batch"], 8, norms=[norm])
    with torch.no_grad():
        ones = torch.cat([x, torch.ones(5, 1)], 1).double()
        var = (linear(x) + residual).double().var(-1, unbiased=False) + norm.eps
    torch.testing.assert_close(plain, ones.T @ ones)
    torch.testing.assert_close(weighted, (ones / var[:, None]).T @ ones)


@pytest.mark.parametrize("method", ["ffn", "heads"])
def test_refit_keeps_the_pruned_model_closer_to_the_original(bert, tmp_path, method):
    import torch
    import transformers

    from edgellm.calibrate import corpus_path
    from edgellm.convert.lowrank import register_for

    texts = corpus_path("en").read_text(encoding="utf-8").splitlines()[:8]
    tok = transformers.AutoTokenizer.from_pretrained(bert)
    batch = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=32)

    def hidden(folder):
        register_for(transformers.AutoConfig.from_pretrained(folder))
        with torch.no_grad():
            return transformers.AutoModel.from_pretrained(folder)(**batch).last_hidden_state[batch["attention_mask"]
                                                                                             .bool()]

    want = hidden(bert)
    errors = {}
    for refit in (True, False):
        out = tmp_path / str(refit)
        prune(bert, out, method=method, amount=0.5, num_samples=8, refit=refit)
        errors[refit] = float((hidden(out) - want).norm() / want.norm())
        assert (json.loads((out / "compress.json").read_text())["refit"] or "").startswith("least squares") is refit
    assert errors[True] < 0.8 * errors[False], errors


def test_removed_decoder_layer_is_absorbed_by_the_block_before(tmp_path):
    """Layer 2 of a tiny llama adds little (its outputs scaled down), so it goes; the down projection of layer 1 is
    refit to add what it added, which brings the pruned model's hidden states closer to the original's on the
    calibration text than removal alone."""
    import torch
    import transformers

    from edgellm.calibrate import corpus_path

    src = make_llm(tmp_path / "llama", tokenizer=True, num_hidden_layers=4)
    model = transformers.AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        model.model.layers[2].self_attn.o_proj.weight.mul_(0.3)
        model.model.layers[2].mlp.down_proj.weight.mul_(0.3)
    model.save_pretrained(src)
    data = tmp_path / "data.txt"
    data.write_text("\n".join(corpus_path("en").read_text(encoding="utf-8").splitlines()[:16]) + "\n")
    tok = transformers.AutoTokenizer.from_pretrained(src)
    batch = [tok(t, return_tensors="pt") for t in data.read_text().splitlines()]

    def hidden(folder):
        m = transformers.AutoModelForCausalLM.from_pretrained(folder)
        with torch.no_grad():
            return torch.cat([m.model(**b).last_hidden_state[0] for b in batch])

    want = hidden(src)
    errors = {}
    for refit in (True, False):
        out = tmp_path / str(refit)
        prune(src, out, method="layers", amount=0.25, data=str(data), num_samples=16, refit=refit)
        doc = json.loads((out / "compress.json").read_text())
        assert doc["removed"]["layers"] == [2]
        assert doc["removed"].get("absorbed_into") == ({"1": [2]} if refit else None)
        assert (doc["refit"] or "").startswith("least squares") is refit
        errors[refit] = float((hidden(out) - want).norm() / want.norm())
    assert errors[True] < 0.9 * errors[False], errors


def test_obs_drops_the_unit_the_others_make_up_for_not_the_smallest():
    """Column 2 is column 0 + column 1, column 3 is small but independent: OBS removes one of the first three, which
    costs nothing once the others are refit; a ranking by mean |activation| would remove column 3."""
    import torch

    from edgellm.compress.refit import obs_drop

    torch.manual_seed(0)
    x = torch.randn(500, 4, dtype=torch.float64)
    x[:, 2] = x[:, 0] + x[:, 1]
    x[:, 3] *= 0.3
    linear = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        linear.weight.fill_(1.0)
    gram = torch.cat([x, torch.ones(500, 1, dtype=x.dtype)], 1)
    gram = gram.T @ gram
    assert int(x.abs().mean(0).argmin()) == 3
    (dropped,) = obs_drop(linear, gram, 1, 1)
    assert dropped in (0, 1, 2)  # each of the three is the sum or difference of the other two
    # units of two columns: without (0, 1) the outputs are 2 x2 + x3, still exact; without (2, 3) x3 is lost
    assert obs_drop(linear, gram, 2, 1) == [0]


def test_spread_splits_the_total_at_the_least_summed_cost():
    from edgellm.compress.refit import spread

    assert spread([[1, 5], [2, 3]], 2) == [1, 1]
    # not convex: taking the cheapest next removal each time (2, 2, 2 = 6) loses to all of layer 0's (5 + 0 + 0)
    assert spread([[5, 0, 0], [2, 2, 2]], 3) == [3, 0]
    assert spread([[1], [1]], 0) == [0, 0]
    with pytest.raises(ValueError, match="cannot go"):
        spread([[1], [1]], 3)


def test_grams_gathered_a_layer_per_pass_give_the_same_model(bert, tmp_path, monkeypatch):
    """A large model's Gram matrices do not fit in memory at once: gathered one layer per pass, the pruned weights
    are the same bit for bit."""
    import importlib

    import safetensors.torch

    prune_module = importlib.import_module("edgellm.compress.prune")  # the package exports the function by that name
    prune(bert, tmp_path / "one", method="ffn", amount=0.25, num_samples=8)
    monkeypatch.setattr(prune_module, "GRAM_BYTES", 1)
    prune(bert, tmp_path / "each", method="ffn", amount=0.25, num_samples=8)
    one, each = (safetensors.torch.load_file(tmp_path / name / "model.safetensors") for name in ("one", "each"))
    assert one.keys() == each.keys() and all(one[k].equal(each[k]) for k in one)
    assert json.loads((tmp_path / "one" / "compress.json").read_text())["removed"] == \
        json.loads((tmp_path / "each" / "compress.json").read_text())["removed"]


@pytest.mark.parametrize("family_name", ["bert", "llama"])
def test_batched_calibration_pass_matches_one_text_at_a_time(request, family_name, monkeypatch):
    """Texts of different lengths, right-padded into one batch: the Gram matrices and layer scores equal those of
    one forward per text (the padding rows are dropped, the masks keep them from the real tokens)."""
    import torch
    import transformers

    from edgellm.compress import importance
    from edgellm.compress.families import family_of
    from edgellm.compress.refit import input_grams

    src = request.getfixturevalue(family_name)
    auto = transformers.AutoModelForCausalLM if family_name == "llama" else transformers.AutoModel
    model, tokenizer = auto.from_pretrained(src).eval(), transformers.AutoTokenizer.from_pretrained(src)
    family = family_of(family_name)
    texts = ["the book is small", "my world is good and the time is fast when you set it", "hello",
             "when can you set the time of the small book"]
    linears = [family.ffn_out(x) for x in family.layers(model)]

    def measured():
        return input_grams(model, linears, tokenizer, texts, 32), importance.layer_scores(
            model, family, tokenizer, texts, 32)

    grams, scores = measured()
    monkeypatch.setattr(importance, "BATCH_TOKENS", 1)  # a batch of one text each
    alone, alone_scores = measured()
    tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts)
    for g, a in zip(grams, alone):
        assert g[-1, -1] == a[-1, -1] == tokens  # the corner counts the real tokens only
        torch.testing.assert_close(g, a, rtol=1e-4, atol=1e-6 * float(a.abs().max()))  # float32 forwards
    assert scores == pytest.approx(alone_scores, rel=1e-4)
