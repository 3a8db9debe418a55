import json
import shutil

import pytest

from edgellm.convert.source import read_source
from edgellm.errors import MissingDependencyError, ModelFileError, UnsupportedArchitectureError, require


@pytest.fixture
def folder(tiny_bert, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_bert, dst)
    return dst


def test_reads_a_saved_folder(folder):
    source = read_source(folder)
    assert source.model_type == "bert"
    assert [f.name for f in source.weight_files] == ["model.safetensors"]
    assert source.sentence_transformers is None
    assert len(source.weight_sha256()["model.safetensors"]) == 64
    assert source.max_sequence_length == 64


def test_missing_path(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist; pass a local Hugging Face model folder"):
        read_source(tmp_path / "nope")


def test_file_instead_of_folder(folder):
    with pytest.raises(ModelFileError, match="is a file; pass the Hugging Face model folder"):
        read_source(folder / "config.json")


def test_folder_without_config(folder):
    (folder / "config.json").unlink()
    with pytest.raises(ModelFileError, match="has no config.json"):
        read_source(folder)


def test_config_that_is_not_json(folder):
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="is not valid JSON"):
        read_source(folder)


def test_unsupported_model_type(folder):
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "mamba"}))
    with pytest.raises(UnsupportedArchitectureError, match="'mamba' is not supported; supported: .*bert"):
        read_source(folder)


def test_no_weights(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelFileError, match="no weights"):
        read_source(folder)


def test_truncated_safetensors(folder):
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="is truncated or corrupt: its header describes"):
        read_source(folder)


def test_corrupt_safetensors_header(folder):
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage garbage}")
    with pytest.raises(ModelFileError, match="is not a valid safetensors file"):
        read_source(folder)


def test_sentence_transformers_head(folder):
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    head = read_source(folder).sentence_transformers
    assert head.pooling == "cls_token" and head.normalize


def test_sentence_transformers_dense_module_is_refused(folder):
    (folder / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]))
    with pytest.raises(UnsupportedArchitectureError, match="module 'Dense' .* is not supported"):
        read_source(folder)


def test_missing_dependency_names_the_extra():
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgellm\[convert\]'"):
        require("surely_not_an_installed_module", "convert")
