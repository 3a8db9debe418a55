"""Tiny LiteRT models for the bench/inspect tests, built once per session (about 15 s in all).

``tiny_tflite``        a random BERT (vocab 100, hidden 32, 1 layer) converted at 16 tokens, named int32 inputs
``tiny_export``        a fake export folder around it: hand-written edgellm.json + a WordPiece tokenizer.json
``bucket_export``      the same BERT exported with two signatures, seq_8 and seq_16 (length buckets)
``tiny_litertlm``      tiny_tflite packed in a .litertlm bundle (skipped without litert-lm-builder)
The builders live in benchmarks/tiny_models.py (shared with the benchmarks and the Pi check); they use torch
and litert-torch (the convert extra), the code under test does not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> Path:
    return tiny_models.make_tflite(tmp_path_factory.mktemp("bench_models") / "tiny.tflite")


@pytest.fixture(scope="session")
def tiny_export(tiny_tflite, tmp_path_factory) -> Path:
    return tiny_models.make_export(tmp_path_factory.mktemp("bench_exports") / "tiny-fp32", tiny_tflite)


@pytest.fixture(scope="session")
def bucket_export(tmp_path_factory) -> Path:
    return tiny_models.make_buckets(tmp_path_factory.mktemp("bench_exports") / "tiny-buckets")


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
    """Write a damaged copy of tiny_tflite: corrupt("truncate", 0.5) / "garbage" / "empty" / "identifier"."""
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
