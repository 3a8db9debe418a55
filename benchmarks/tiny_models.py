"""Tiny LiteRT models for the bench tests, the overhead benchmark and scripts/pi_runtime_check.sh.
Prints no figure: a helper, kept here because tests/bench/conftest.py and the Pi check load it by this path.

Workstation side (torch + litert-torch, the convert extra). Run as a script to write them into a folder:
    python benchmarks/tiny_models.py OUT_DIR   ->  OUT_DIR/tiny.tflite, OUT_DIR/tiny-export/ (edgellm.json,
                                                   model.tflite, tokenizer.json), OUT_DIR/add.tflite,
                                                   OUT_DIR/tiny-llm/ (a text-generation export)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

VOCAB_SIZE = 100
HIDDEN = 32
SEQ = 16
# 5 specials + 26 letters + 26 "##" letters + a few words = 75 tokens < VOCAB_SIZE
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(97, 123)] + \
    ["##" + chr(c) for c in range(97, 123)] + "the a is of to and in on phone model fast small hello world".split()


def tiny_bert():
    """BertConfig(vocab_size=100, hidden_size=32, 1 layer, 2 heads, intermediate 37) after manual_seed(0),
    wrapped so its inputs are named input_ids / attention_mask / token_type_ids (int32 [1, N])."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=VOCAB_SIZE, hidden_size=HIDDEN, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=37, max_position_embeddings=64)
    bert = transformers.BertModel(config).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state  # [1, N, 32]

    return Encoder(bert).eval()


def sample(length: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(length)
    return {
        "input_ids": torch.randint(0, VOCAB_SIZE, (1, length), dtype=torch.int32, generator=g),
        "attention_mask": torch.ones(1, length, dtype=torch.int32),
        "token_type_ids": torch.zeros(1, length, dtype=torch.int32),
    }


def write_tokenizer(path: Path) -> None:
    """A WordPiece tokenizer.json over WORDS, BERT-style ([CLS] ... [SEP]), built with `tokenizers` alone."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.save(str(path))


def manifest(signatures: list[tuple[str, int]], sequence_length: int, *, recipe: str = "fp32") -> dict:
    """A hand-written edgellm.json with the keys the export writes."""
    def io(n):
        return [{"name": k, "dtype": "int32", "shape": [1, n], "quantization": None}
                for k in ("input_ids", "attention_mask", "token_type_ids")]

    return {
        "format_version": 1,
        "task": "feature-extraction",
        "model_type": "bert",
        "model_file": "model.tflite",
        "sequence_length": sequence_length,
        "signatures": [{"name": name, "sequence_length": n, "inputs": io(n),
                        "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, n, HIDDEN]}]}
                       for name, n in signatures],
        "inputs": io(sequence_length),
        "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, sequence_length, HIDDEN],
                     "quantization": None}],
        "tokenizer": {"files": ["tokenizer.json"], "pad_token_id": 0},
        "quantization": {"recipe": recipe},
        "size_bytes": 0,
        "validation": {"passed": True, "tolerance": {"cosine_min": 0.99},
                       "metrics": {"cosine_min": 0.99991, "max_abs": 0.0021}},
        "versions": {"edgellm": "0.1.0"},
    }


def make_tflite(path: Path, length: int = SEQ) -> Path:
    import litert_torch

    litert_torch.convert(tiny_bert(), sample_kwargs=sample(length)).export(str(path))
    return path


def make_export(folder: Path, tflite: Path | None = None) -> Path:
    """An export folder around the tiny BERT: model.tflite, tokenizer.json, edgellm.json."""
    folder.mkdir(parents=True, exist_ok=True)
    if tflite is None:
        make_tflite(folder / "model.tflite")
    else:
        shutil.copy(tflite, folder / "model.tflite")
    write_tokenizer(folder / "tokenizer.json")
    m = manifest([("serving_default", SEQ)], SEQ)
    m["size_bytes"] = (folder / "model.tflite").stat().st_size
    (folder / "edgellm.json").write_text(json.dumps(m, indent=2))
    return folder


def make_buckets(folder: Path, lengths=(8, 16)) -> Path:
    """An export folder with one signature per length: seq_8, seq_16 (length buckets)."""
    import litert_torch

    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_bert()
    converter = None
    for n in lengths:
        converter = (litert_torch if converter is None else converter).signature(f"seq_{n}", model,
                                                                                  sample_kwargs=sample(n))
    converter.convert().export(str(folder / "model.tflite"))
    write_tokenizer(folder / "tokenizer.json")
    m = manifest([(f"seq_{n}", n) for n in lengths], max(lengths))
    (folder / "edgellm.json").write_text(json.dumps(m, indent=2))
    return folder


def make_add(path: Path) -> Path:
    """One ADD on float32 [1, 16]: an invoke that costs next to nothing, to time the runner itself."""
    import litert_torch
    import torch

    class Add(torch.nn.Module):
        def forward(self, x):
            return x + 1.0

    litert_torch.convert(Add().eval(), (torch.zeros(1, 16),)).export(str(path))
    return path


def make_llm_export(folder: Path) -> Path:
    """The tests' tiny random llama (tests/generate/tiny_llm.py), exported fp32 for text generation: cache 64,
    prefill_8, decode_16 and decode_32."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path[:0] = [str(tests), str(tests / "generate")]
    from tiny_llm import CACHE, DECODE_WINDOWS, PREFILL, make_llm

    from edgellm.export import ExportConfig, export

    model = make_llm(folder.with_name(folder.name + "-hf"))
    export(model, folder, ExportConfig(task="text-generation", cache_length=CACHE, prefill_lengths=PREFILL,
                                              decode_windows=DECODE_WINDOWS, overwrite=True))
    shutil.rmtree(model)
    return folder


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/tiny_models")
    out.mkdir(parents=True, exist_ok=True)
    make_tflite(out / "tiny.tflite")
    make_export(out / "tiny-export", out / "tiny.tflite")
    make_add(out / "add.tflite")
    make_llm_export(out / "tiny-llm")
    print(f"wrote {out}/tiny.tflite, {out}/tiny-export/, {out}/add.tflite, {out}/tiny-llm/")
