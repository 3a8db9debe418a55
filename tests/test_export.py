"""End to end on tiny random models: export folder contents, validation, CLI exit codes, bad input."""

import json

import numpy as np
import pytest

from edgellm import cli
from edgellm.archs import TASKS
from edgellm.errors import ConfigError, UnsupportedArchitectureError, UnsupportedOpError, ValidationError
from edgellm.export import ExportConfig, export
from tiny import make_model

SEQ = 16


def test_export_folder_contents(tiny_bert_export, tiny_bert):
    names = {p.name for p in tiny_bert_export.iterdir()}
    assert {"model.tflite", "edgellm.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"} <= names
    m = json.loads((tiny_bert_export / "edgellm.json").read_text())
    assert m["format_version"] == 1 and m["task"] == "feature-extraction" and m["model_type"] == "bert"
    assert m["sequence_length"] == SEQ and m["size_bytes"] == (tiny_bert_export / "model.tflite").stat().st_size
    assert m["source"]["sha256"].keys() == {"model.safetensors"}
    assert {i["name"] for i in m["inputs"]} == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(i["dtype"] == "int32" and i["shape"] == [1, SEQ] for i in m["inputs"])
    assert m["outputs"] == [{"name": "last_hidden_state", "dtype": "float32", "shape": [1, SEQ, 32],
                             "quantization": None}]
    assert m["signatures"][0]["name"] == "serving_default"
    assert m["quantization"]["recipe"] == "fp32"
    assert m["validation"]["passed"] is True and m["validation"]["tolerance"]["min_cosine"] == 0.9999
    assert m["validation"]["metrics"]["last_hidden_state"]["mean_cosine"] > 0.9999
    assert {"edgellm", "torch", "litert-torch", "ai-edge-litert"} <= m["versions"].keys()
    assert m["tokenizer"]["kind"] == "wordpiece" and m["tokenizer"]["cls_token"] == "[CLS]"


def test_exported_model_runs_in_the_interpreter_like_pytorch(tiny_bert_export, tiny_bert):
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from transformers import AutoModel, AutoTokenizer

    enc = AutoTokenizer.from_pretrained(tiny_bert)("what is the weather", padding="max_length", max_length=SEQ,
                                                   return_tensors="np")
    inputs = {k: v.astype(np.int32) for k, v in enc.items()}
    got = Interpreter(str(tiny_bert_export / "model.tflite")).get_signature_runner()(**inputs)["last_hidden_state"]
    with torch.no_grad():
        want = AutoModel.from_pretrained(tiny_bert)(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    np.testing.assert_allclose(got, want.last_hidden_state.numpy(), atol=1e-4)


@pytest.mark.parametrize("task", [t for t in TASKS if t != "feature-extraction"])
def test_every_task_on_bert(task, tmp_path):
    model = make_model(tmp_path / "m", "bert", task)
    result = export(model, tmp_path / "out", task=task, sequence_length=SEQ)
    assert result.validation.passed, result.validation.summary()
    manifest = json.loads((tmp_path / "out" / "edgellm.json").read_text())
    assert [o["name"] for o in manifest["outputs"]] == sorted(TASKS[task][1])
    if task == "text-classification":
        assert manifest["labels"] == {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}


@pytest.mark.parametrize("model_type", ["distilbert", "roberta", "xlm-roberta", "electra", "mpnet", "albert",
                                        "deberta-v2", "mobilebert"])
def test_every_family_feature_extraction(model_type, tmp_path):
    model = make_model(tmp_path / "m", model_type, "feature-extraction")
    result = export(model, tmp_path / "out", sequence_length=SEQ)
    assert result.validation.passed, result.validation.summary()
    names = {i["name"] for i in json.loads((tmp_path / "out" / "edgellm.json").read_text())["inputs"]}
    assert ("token_type_ids" in names) == (model_type not in ("distilbert", "roberta", "xlm-roberta", "mpnet"))


@pytest.mark.parametrize("recipe, max_ratio", [("fp16", 0.55), ("int8-dynamic", 0.3)])
def test_quantized_exports_are_validated_too(recipe, max_ratio, tiny_bert, tiny_bert_export, tmp_path):
    export(tiny_bert, tmp_path / "q", quantize=recipe, sequence_length=SEQ)
    m = json.loads((tmp_path / "q" / "edgellm.json").read_text())
    assert m["quantization"]["recipe"] == recipe and m["validation"]["passed"]
    assert m["validation"]["tolerance"]["min_cosine"] < 0.9999
    assert 0.99 < m["validation"]["metrics"]["last_hidden_state"]["mean_cosine"] < 1.0  # quantized: not identical
    # Weight bytes, not file bytes: a tiny model's file is mostly graph metadata (tensor names).
    import edgellm

    def weights(path):
        return edgellm.inspect(path, runtime=False).models[0]["size"]["weights_bytes"]

    assert weights(tmp_path / "q") < max_ratio * weights(tiny_bert_export)


def test_sentence_transformers_folder_exports_pooled_normalized_embedding(tiny_bert, tmp_path):
    from tiny import make_sentence_transformer

    folder = make_sentence_transformer(tmp_path / "st", tiny_bert)
    export(folder, tmp_path / "out", sequence_length=SEQ)
    m = json.loads((tmp_path / "out" / "edgellm.json").read_text())
    assert m["task"] == "sentence-embedding"
    assert m["sentence_transformers"] == {"pooling": "mean_tokens", "normalize": True}
    assert m["outputs"][0]["name"] == "embedding" and m["outputs"][0]["shape"] == [1, 32]


# ------------------------------------------------------------------------------------------- CLI and bad input
def test_cli_export_success_and_not_empty_output(tiny_bert, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), str(out)]) == 0
    assert "validation passed" in capsys.readouterr().out
    before = (out / "model.tflite").stat().st_mtime_ns
    assert cli.main(["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), str(out)]) == 2
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert (out / "model.tflite").stat().st_mtime_ns == before
    assert cli.main(["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ), "--overwrite",
                     "--quantize", "int8-dynamic", str(out)]) == 0
    assert json.loads((out / "edgellm.json").read_text())["quantization"]["recipe"] == "int8-dynamic"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary or old folders left


@pytest.mark.parametrize("args, message", [
    (["--model", "{missing}"], "does not exist"),
    (["--task", "summarization"], "task 'summarization' is unknown"),
    (["--quantize", "int3"], "recipe 'int3' is unknown; available: fp32, fp16, int8-dynamic"),
    (["--sequence-length", "65"], r"sequence length 65 is above what the model's position embeddings allow \(64\)"),
    (["--sequence-length", "1"], "sequence lengths must be integers >= 2"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message, tiny_bert, tmp_path, capsys):
    args = [a.format(missing=tmp_path / "missing") for a in args]
    argv = ["export", *(["--model", str(tiny_bert)] if "--model" not in args else []), *args, str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgellm export: error: ")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "o").exists()


def test_task_the_family_does_not_support(tiny_bert, monkeypatch, tmp_path):
    from edgellm import archs

    bert = archs.ARCHS["bert"]
    limited = type(bert)(model_type="bert", tasks=("feature-extraction",), gaps={
        t: "not checked yet" for t in archs.TASKS if t != "feature-extraction"})
    monkeypatch.setattr(archs, "ARCHS", {**archs.ARCHS, "bert": limited})
    with pytest.raises(UnsupportedArchitectureError, match="'fill-mask' is not supported for model_type 'bert' "
                                                           r"\(not checked yet\)"):
        export(tiny_bert, tmp_path / "o", task="fill-mask", sequence_length=SEQ)
    assert not (tmp_path / "o").exists()


def test_validation_failure_exits_1_and_writes_nothing_unless_allowed(tiny_bert, monkeypatch, tmp_path, capsys):
    from edgellm.validate import report

    strict = {**report.TOLERANCES, (report.ENCODER, "fp32"): report.Tolerance(min_cosine=1.01, min_top1=1.0)}
    monkeypatch.setattr(report, "TOLERANCES", strict)
    argv = ["export", "--model", str(tiny_bert), "--sequence-length", str(SEQ)]
    assert cli.main([*argv, str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "mean cosine" in err and "< 1.01" in err and "nothing was written" in err
    assert not (tmp_path / "a").exists()
    assert cli.main([*argv, "--allow-validation-failure", str(tmp_path / "b")]) == 1
    m = json.loads((tmp_path / "b" / "edgellm.json").read_text())
    assert m["validation"]["passed"] is False and m["validation"]["failures"]
    with pytest.raises(ValidationError, match=r"validation FAILED: last_hidden_state mean cosine"):
        export(tiny_bert, tmp_path / "c", sequence_length=SEQ)


def test_failure_mid_export_leaves_no_partial_output(tiny_bert, monkeypatch, tmp_path):
    import edgellm.bundle

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(edgellm.bundle, "build_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export(tiny_bert, tmp_path / "out", sequence_length=SEQ)
    assert list(tmp_path.iterdir()) == []


def test_conversion_failure_is_an_unsupported_op_error(tiny_bert, monkeypatch, tmp_path):
    import litert_torch

    def broken(*args, **kwargs):
        raise RuntimeError("aten::weird_op has no lowering\nmore trace")

    monkeypatch.setattr(litert_torch, "convert", broken)
    with pytest.raises(UnsupportedOpError, match="could not convert bert for feature-extraction: aten::weird_op"):
        export(tiny_bert, tmp_path / "out", sequence_length=SEQ)
    assert not (tmp_path / "out").exists()


def test_export_config_round_trip_and_checks():
    config = ExportConfig(task="fill-mask", quantize="fp16", sequence_length=32, overwrite=True)
    assert ExportConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="recipe 'int2' is unknown"):
        ExportConfig(quantize="int2")
    with pytest.raises(ConfigError, match="task 'poetry' is unknown"):
        ExportConfig(task="poetry")
