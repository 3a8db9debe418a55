import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random-weight BERT (feature-extraction head) with a WordPiece tokenizer, saved with save_pretrained."""
    from tiny import make_model

    return make_model(tmp_path_factory.mktemp("tiny") / "bert", "bert")


@pytest.fixture(scope="session")
def tiny_bert_export(tiny_bert, tmp_path_factory) -> Path:
    """tiny_bert exported at fp32, sequence length 16 (shared by tests that only read an export)."""
    import edgellm.export

    out = tmp_path_factory.mktemp("exports") / "bert_fp32"
    edgellm.export.export(tiny_bert, out, sequence_length=16)
    return out


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from edgellm.convert.source import default_model_path

    return default_model_path()
