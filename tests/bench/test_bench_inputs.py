import builtins
import sys

import numpy as np
import pytest

from edgellm.bench.inputs import build_samples, file_inputs, input_specs, lookup_rows, random_inputs
from edgellm.runtime.modelfile import read_model
from edgellm.bench.target import resolve
from edgellm.errors import ConfigError, ModelFileError


def _specs(path, sig=None):
    m = read_model(path)
    s = m.signature(sig)
    return m, s, input_specs(m, s)


def test_vocabulary_is_read_off_the_graph(tiny_tflite):
    m, s, specs = _specs(tiny_tflite)
    rows = {sp.name: sp.rows for sp in specs}
    assert rows["input_ids"] == 100  # BertConfig(vocab_size=100)
    assert rows["token_type_ids"] == 2  # type_vocab_size
    assert lookup_rows(m, s)[s.inputs["input_ids"]] == 100


def test_random_inputs_are_valid(tiny_tflite):
    _, _, specs = _specs(tiny_tflite)
    arrays, notes = random_inputs(specs, seed=0)
    assert arrays["input_ids"].dtype == np.int32 and arrays["input_ids"].shape == (1, 16)
    assert 0 <= arrays["input_ids"].min() and arrays["input_ids"].max() < 100
    assert set(np.unique(arrays["token_type_ids"])) <= {0, 1}
    assert (arrays["attention_mask"] == 1).all()
    assert notes == []
    again, _ = random_inputs(specs, seed=0)
    assert (again["input_ids"] == arrays["input_ids"]).all()


def test_export_folder_uses_the_tokenizer(tiny_export):
    target = resolve(tiny_export)
    m = read_model(target.model_path)
    samples = build_samples(target, m, "serving_default", input_file=None, text_file=None, seed=0)
    assert samples.source == "text" and samples.note is None
    ids = samples.items[0][1]["input_ids"][0]
    assert ids[0] == 2 and ids[-1] == 3  # [CLS] ... [SEP], truncated to 16 keeping the final [SEP]
    assert samples.info["tokens"] == 16


def test_without_tokenizers_falls_back_to_random_with_a_note(tiny_export, monkeypatch):
    real_import = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name == "tokenizers" or name.startswith("tokenizers."):
            raise ImportError("No module named 'tokenizers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "tokenizers", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    target = resolve(tiny_export)
    samples = build_samples(target, read_model(target.model_path), "serving_default", input_file=None,
                            text_file=None, seed=0)
    assert samples.source == "random"
    assert "tokenizers package is not installed" in samples.note


def test_text_file_picks_the_smallest_signature_that_fits(bucket_export, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("hello world\n\nthe phone is fast\n" + "the model is small and fast " * 3 + "\n")
    target = resolve(bucket_export)
    samples = build_samples(target, read_model(target.model_path), "seq_16", input_file=None,
                            text_file=str(lines), seed=0)
    assert samples.source == "text-file"
    assert [sig for sig, _ in samples.items] == ["seq_8", "seq_8", "seq_16"]
    assert samples.info["truncated"] == 1 and "1 of 3 lines" in samples.note
    assert samples.items[0][1]["input_ids"].shape == (1, 8)
    assert samples.items[0][1]["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0, 0, 0]]  # CLS hello world SEP


def test_text_file_needs_an_export_folder(tiny_tflite, tmp_path):
    (tmp_path / "t.txt").write_text("hello\n")
    target = resolve(tiny_tflite)
    with pytest.raises(ConfigError, match="--text-file needs an export folder"):
        build_samples(target, read_model(tiny_tflite), "serving_default", input_file=None,
                      text_file=str(tmp_path / "t.txt"), seed=0)


def test_empty_text_file(tiny_export, tmp_path):
    (tmp_path / "t.txt").write_text("\n  \n")
    target = resolve(tiny_export)
    with pytest.raises(ConfigError, match="has no non-empty line"):
        build_samples(target, read_model(target.model_path), "serving_default", input_file=None,
                      text_file=str(tmp_path / "t.txt"), seed=0)


def _buckets(path):
    m = read_model(path)
    return {s.name: input_specs(m, s) for s in m.signatures}


def _good(n=16):
    return {"input_ids": np.full((1, n), 5, np.int32), "attention_mask": np.ones((1, n), np.int32),
            "token_type_ids": np.zeros((1, n), np.int32)}


def test_input_file_ok(tiny_tflite, tmp_path):
    np.savez(tmp_path / "in.npz", **_good())
    samples = file_inputs(str(tmp_path / "in.npz"), _buckets(tiny_tflite), None)
    assert samples.source == "file" and samples.items[0][0] == "serving_default"


def test_input_file_picks_the_matching_signature(bucket_export, tmp_path):
    np.savez(tmp_path / "in.npz", **_good(8))
    samples = file_inputs(str(tmp_path / "in.npz"), _buckets(bucket_export / "model.tflite"), None)
    assert samples.items[0][0] == "seq_8"


@pytest.mark.parametrize("change,match", [
    (lambda d: d.pop("token_type_ids"), "missing token_type_ids"),
    (lambda d: d.update(extra=np.zeros(3)), "unexpected extra"),
    (lambda d: d.update(input_ids=np.zeros((1, 8), np.int32)), r"input_ids is int32\[1, 8\], the model takes int32\[1, 16\]"),
    (lambda d: d.update(input_ids=np.zeros((1, 16), np.int64)), r"input_ids is int64\[1, 16\], the model takes int32\[1, 16\]"),
    (lambda d: d.update(input_ids=np.full((1, 16), 100, np.int32)), r"ids in \[100, 100\] but its lookup table has 100 rows"),
])
def test_input_file_mismatch_says_which(tiny_tflite, tmp_path, change, match):
    arrays = _good()
    change(arrays)
    np.savez(tmp_path / "in.npz", **arrays)
    with pytest.raises(ConfigError, match=match):
        file_inputs(str(tmp_path / "in.npz"), _buckets(tiny_tflite), None)


def test_input_file_unreadable(tiny_tflite, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="is not a readable .npz"):
        file_inputs(str(tmp_path / "bad.npz"), _buckets(tiny_tflite), None)
    with pytest.raises(ConfigError, match="does not exist"):
        file_inputs(str(tmp_path / "none.npz"), _buckets(tiny_tflite), None)


def test_folder_without_manifest_and_broken_manifest(tiny_tflite, tmp_path):
    import shutil

    shutil.copy(tiny_tflite, tmp_path / "model.tflite")
    with pytest.raises(ModelFileError, match=r"folder without edgellm.json.*pass the file instead: .*model.tflite"):
        resolve(tmp_path)
    (tmp_path / "edgellm.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="edgellm.json is not valid JSON"):
        resolve(tmp_path)
    (tmp_path / "edgellm.json").write_text('{"model_file": "other.tflite"}')
    with pytest.raises(ModelFileError, match="names model_file 'other.tflite' but .* is missing"):
        resolve(tmp_path)
