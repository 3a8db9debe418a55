"""Tiny LiteRT models for the bench/inspect tests, built once per session (about 10 s in all).

``tiny_tflite``        a random BERT (vocab 100, hidden 32, 1 layer) converted at 16 tokens, named int32 inputs
``tiny_export``        a fake export folder around it: hand-written edgellm.json + a WordPiece tokenizer.json
``bucket_export``      the same BERT exported with two signatures, seq_8 and seq_16 (length buckets)
``tiny_litertlm``      tiny_tflite packed in a .litertlm bundle (skipped without litert-lm-builder)
These use torch and litert-torch (the convert extra); the code under test does not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

VOCAB_SIZE = 100
SEQ = 16
# 5 specials + 26 letters + 26 "##" letters + a few words = 75 tokens < VOCAB_SIZE
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)] + \
    ["##" + chr(c) for c in range(97, 123)] + "the a is of to and in on phone model fast small hello world".split()


def _tiny_bert():
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB_SIZE, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    bert = transformers.BertModel(config).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    return Encoder(bert).eval()


def _sample(length: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(length)
    return {
        "input_ids": torch.randint(0, VOCAB_SIZE, (1, length), dtype=torch.int32, generator=g),
        "attention_mask": torch.ones(1, length, dtype=torch.int32),
        "token_type_ids": torch.zeros(1, length, dtype=torch.int32),
    }


def _tokenizer_json(path: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.save(str(path))


def _manifest(signatures: list[tuple[str, int]], sequence_length: int, *, recipe="fp32", passed=True) -> dict:
    io = lambda n: [{"name": k, "dtype": "int32", "shape": [1, n], "quantization": None}  # noqa: E731
                    for k in ("input_ids", "attention_mask", "token_type_ids")]
    return {
        "format_version": 1,
        "task": "feature-extraction",
        "model_type": "bert",
        "model_file": "model.tflite",
        "sequence_length": sequence_length,
        "signatures": [{"name": name, "sequence_length": n, "inputs": io(n),
                        "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, n, 32]}]}
                       for name, n in signatures],
        "inputs": io(sequence_length),
        "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, sequence_length, 32], "quantization": None}],
        "tokenizer": {"files": ["tokenizer.json"], "pad_token_id": 0},
        "quantization": {"recipe": recipe},
        "size_bytes": 0,
        "validation": {"passed": passed, "tolerance": {"cosine_min": 0.99},
                       "metrics": {"cosine_min": 0.99991, "max_abs": 0.0021}},
        "versions": {"edgellm": "0.1.0"},
    }


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    import litert_torch

    path = tmp_path_factory.mktemp("bench_models") / "tiny.tflite"
    litert_torch.convert(_tiny_bert(), sample_kwargs=_sample(SEQ)).export(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_export(tiny_tflite, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bench_exports") / "tiny-fp32"
    folder.mkdir()
    shutil.copy(tiny_tflite, folder / "model.tflite")
    _tokenizer_json(folder / "tokenizer.json")
    manifest = _manifest([("serving_default", SEQ)], SEQ)
    manifest["size_bytes"] = (folder / "model.tflite").stat().st_size
    (folder / "edgellm.json").write_text(json.dumps(manifest, indent=2))
    return folder


@pytest.fixture(scope="session")
def bucket_export(tmp_path_factory) -> Path:
    import litert_torch

    folder = tmp_path_factory.mktemp("bench_exports") / "tiny-buckets"
    folder.mkdir()
    model = _tiny_bert()
    converter = litert_torch.signature("seq_8", model, sample_kwargs=_sample(8))
    converter = converter.signature("seq_16", model, sample_kwargs=_sample(16))
    converter.convert().export(str(folder / "model.tflite"))
    _tokenizer_json(folder / "tokenizer.json")
    (folder / "edgellm.json").write_text(json.dumps(_manifest([("seq_8", 8), ("seq_16", 16)], 16), indent=2))
    return folder


@pytest.fixture(scope="session")
def tiny_litertlm(tiny_tflite, tmp_path_factory) -> Path:
    builder_mod = pytest.importorskip("litert_lm_builder.litertlm_builder")
    path = tmp_path_factory.mktemp("bench_bundles") / "tiny.litertlm"
    builder = builder_mod.LitertLmFileBuilder()
    builder.add_tflite_model(str(tiny_tflite), builder_mod.TfLiteModelType.EMBEDDER)
    with open(path, "wb") as f:
        builder.build(f)
    return path


@pytest.fixture()
def corrupt(tiny_tflite, tmp_path):
    """Write a damaged copy of tiny_tflite: corrupt("truncate", 0.5) / corrupt("garbage") / corrupt("empty")."""
    import random

    data = tiny_tflite.read_bytes()

    def make(kind: str, fraction: float = 0.5) -> Path:
        path = tmp_path / f"{kind}.tflite"
        if kind == "truncate":
            path.write_bytes(data[: int(len(data) * fraction)])
        elif kind == "garbage":
            path.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(4096)))
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "identifier":
            path.write_bytes(data[:4] + b"XXXX" + data[8:])
        else:
            raise ValueError(kind)
        return path

    return make
