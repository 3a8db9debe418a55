"""Compare the app's Kotlin WordPiece tokenizer with Hugging Face `tokenizers` on a real vocabulary.

    bash android_demo/run_jvm_tests.sh                 # compiles the Kotlin classes this uses
    pip install tokenizers
    python android_demo/tools/compare_tokenizer.py FOLDER [--random N] [--seed S]

FOLDER is an export folder (edgellm.json + tokenizer files) or a Hugging Face model folder with
tokenizer.json / vocab.txt (then a stand-in manifest with one 512-token signature is written to a temp
folder). Every text is encoded by both sides; Kotlin's input_ids (through the app's Inspect command, on the
bucket the app would pick) must equal Hugging Face's, truncated the same way. Texts: a fixed list of hard
cases (accents, CJK, Hangul, punctuation, control and zero-width characters, long words) plus N seeded random
strings mixing scripts. Exit 0 when all match, 1 when any differ (the first five are printed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASSPATH_FILE = HERE.parent / "build" / "jvm-tests" / "classpath"

HARD_CASES = [
    "Hello, world!", "unaffable", "The quick brown fox jumps over the lazy dog.",
    "Café naïve résumé Zürich São Paulo", "ÅNGSTRÖM façade", "你好，世界！今天天气很好。", "日本語のテキストとカタカナ",
    "한국어 문장입니다", "Don't stop-believing!!! (really?) [yes]", "e-mail: someone@example.com, url https://x.y/z?a=1&b=2",
    "$100.50 ^_^ `code` ~tilde~ |pipe| \\back\\slash", "tabs\tand\nnewlines\r\nhere", "zero\u200bwidth\u200djoiner\ufeffbom",
    "emoji 😀👍🏽 and ♥ ★", "ﬁ ligature and Ⅻ roman and ＦＵＬＬＷＩＤＴＨ", "I like [MASK] very much [SEP] ok",
    "İstanbul ΣΊΣΥΦΟΣ straße", "supercalifragilisticexpialidocious antidisestablishmentarianism", "a" * 120, "x" * 100,
    "naïve café — “quotes” and ‘single’ … ellipsis", "numbers 3.14159 1,000,000 42nd 1st", "\u0301accent-first",
    "Ελληνικά Русский текст عربى עברית हिन्दी", "", "   ", "line\u2028sep\u2029para", "control\x07chars\x1bhere",
    "\u00a0nbsp\u3000ideographic space", "unassigned a\u0378b and private use \ue000x",
]

# Code point ranges the random strings draw from (ASCII weighted up); NUL is left out (it cannot be an argument).
POOLS = [range(0x20, 0x7F)] * 6 + [
    range(0xA0, 0x250), range(0x370, 0x400), range(0x400, 0x500), range(0x2000, 0x2070), range(0x3000, 0x3100),
    range(0x4E00, 0x4E80), range(0xAC00, 0xAC40), range(0x1F600, 0x1F650), range(0x300, 0x370), range(1, 0x20),
    range(0xFE00, 0xFF00),
]


def random_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(chr(rng.choice(rng.choice(POOLS))) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def stand_in_export(model_dir: Path, tmp: Path) -> Path:
    """An export folder around a Hugging Face model folder's tokenizer files (the model file is a placeholder)."""
    config = {}
    if (model_dir / "tokenizer_config.json").is_file():
        config = json.loads((model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    files = [name for name in ("tokenizer.json", "vocab.txt") if (model_dir / name).is_file()]
    for name in files:
        shutil.copy(model_dir / name, tmp / name)
    (tmp / "model.tflite").write_bytes(b"\0")
    length = 512
    ids = {"name": "input_ids", "dtype": "int32", "shape": [1, length], "quantization": None}
    manifest = {
        "format_version": 1, "task": "feature-extraction", "model_type": "bert", "model_file": "model.tflite",
        "sequence_length": length,
        "signatures": [{"name": "serving_default", "sequence_length": length, "inputs": [ids],
                        "outputs": [{"name": "last_hidden_state", "dtype": "float32", "shape": [1, length, 1]}]}],
        "tokenizer": {"files": files, "kind": "wordpiece", "do_lower_case": config.get("do_lower_case", True),
                      "strip_accents": config.get("strip_accents")},
    }
    (tmp / "edgellm.json").write_text(json.dumps(manifest), encoding="utf-8")
    return tmp


def hugging_face_tokenizer(folder: Path, tokenizer_spec: dict):
    from tokenizers import Tokenizer
    from tokenizers.implementations import BertWordPieceTokenizer

    if (folder / "tokenizer.json").is_file():
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    else:
        tok = BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=tokenizer_spec.get("do_lower_case", True),
                                     strip_accents=tokenizer_spec.get("strip_accents"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def kotlin_encodings(folder: Path, texts: list[str]) -> list[tuple[int, list[int]]]:
    """(bucket length, input_ids) per text, from the app's Inspect command."""
    classpath = CLASSPATH_FILE.read_text(encoding="utf-8").strip()
    out = subprocess.run(["java", "-cp", classpath, "dev.edgellm.demo.core.InspectKt", str(folder), *texts],
                         capture_output=True, text=True, encoding="utf-8", check=False)
    if out.returncode != 0:
        raise SystemExit(f"compare_tokenizer: Inspect failed: {out.stderr.strip()}")
    lengths = [int(line.split("\t")[2]) for line in out.stdout.splitlines() if line.startswith("bucket\t")]
    ids = [[int(x) for x in line.split("\t")[1].split()] for line in out.stdout.splitlines() if line.startswith("input_ids\t")]
    if len(ids) != len(texts) or len(lengths) != len(texts):
        raise SystemExit(f"compare_tokenizer: expected {len(texts)} encodings from Inspect, got {len(ids)}")
    return list(zip(lengths, ids))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--random", type=int, default=1000, help="number of random strings (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not CLASSPATH_FILE.is_file():
        print(f"compare_tokenizer: {CLASSPATH_FILE} is missing; run bash android_demo/run_jvm_tests.sh first", file=sys.stderr)
        return 2
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        print("compare_tokenizer: the tokenizers package is missing; pip install tokenizers", file=sys.stderr)
        return 2
    folder = args.folder
    if not folder.is_dir():
        print(f"compare_tokenizer: {folder} is not a folder", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        if not (folder / "edgellm.json").is_file():
            folder = stand_in_export(folder, Path(tmp))
        spec = json.loads((folder / "edgellm.json").read_text(encoding="utf-8")).get("tokenizer", {})
        hf = hugging_face_tokenizer(folder, spec)
        texts = HARD_CASES + random_texts(args.random, args.seed)
        differ = 0
        for text, (length, kotlin_ids) in zip(texts, kotlin_encodings(folder, texts)):
            ids = hf.encode(text).ids
            if len(ids) > length:  # what the app does: keep the first pieces, end with [SEP]
                ids = ids[: length - 1] + ids[-1:]
            if ids != kotlin_ids:
                differ += 1
                if differ <= 5:
                    print(f"differs: {text!r}\n  kotlin: {[hf.id_to_token(i) for i in kotlin_ids]}\n"
                          f"  hf:     {[hf.id_to_token(i) for i in ids]}")
    print(f"compare_tokenizer: {len(texts)} texts, {len(texts) - differ} identical, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
