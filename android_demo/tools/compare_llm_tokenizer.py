"""Compare the app's Kotlin BPE tokenizer (core/Bpe.kt) with Hugging Face `tokenizers` on an LLM's tokenizer.json.

    bash android_demo/run_jvm_tests.sh                 # compiles the Kotlin classes this uses
    python android_demo/tools/compare_llm_tokenizer.py PATH [--random N] [--seed S] [--corpus FILE]

PATH is a tokenizer.json or a folder holding one (an LLM export folder). Every text is encoded by both sides, with
and without the post-processor's special tokens, and decoded back (special tokens skipped); all three must be equal.
Texts: compare_tokenizer.py's hard cases, chat-marker strings, code, N seeded random strings mixing scripts, and the
lines of --corpus (default: calibration/en.txt). Exit 0 when all match, 1 when any differ (the first five are
printed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_tokenizer import CLASSPATH_FILE, HARD_CASES, random_texts  # noqa: E402

EXTRA_CASES = [
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", "<s>[INST] hi [/INST]</s>", "  leading and trailing  ",
    "tabs\t\tand\n\n\nnewlines", "I'm you'll we've THEY'RE it's", "x = f(1, 2)  # comment\n    return y",
    "1234567890 12.5% 3,000", "   ", "\n", "a\u0301 e\u0301 (combining accents) ﬁ",
]


def kotlin_results(tokenizer_json: Path, texts: list[str]) -> list[tuple[list[int], list[int], str]]:
    if not CLASSPATH_FILE.is_file():
        raise SystemExit(f"error: {CLASSPATH_FILE} is missing; run bash android_demo/run_jvm_tests.sh first")
    proc = subprocess.run(["java", "-cp", CLASSPATH_FILE.read_text().strip(), "dev.edgellm.demo.core.LlmCheckKt", "tokenize",
                           str(tokenizer_json)], input=json.dumps(texts).encode(), capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"error: the Kotlin tokenizer failed: {proc.stderr.decode().strip()}")
    lines = proc.stdout.decode("utf-8").split("\n")
    ids = lambda line: [int(x) for x in line.split("\t", 1)[1].split()]  # noqa: E731
    return [(ids(lines[3 * i]), ids(lines[3 * i + 1]), json.loads(lines[3 * i + 2].split("\t", 1)[1]))
            for i in range(len(texts))]


def compare(tokenizer_json: Path, texts: list[str]) -> list[str]:
    """One line per text where Kotlin and `tokenizers` differ."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(tokenizer_json))
    diffs = []
    for text, (ids, plain, decoded) in zip(texts, kotlin_results(tokenizer_json, texts)):
        want = hf.encode(text).ids
        want_plain = hf.encode(text, add_special_tokens=False).ids
        want_decoded = hf.decode(want, skip_special_tokens=True)
        if (ids, plain, decoded) != (want, want_plain, want_decoded):
            diffs.append(f"{text[:40]!r}: kotlin {ids[:12]} {decoded[:30]!r}, tokenizers {want[:12]} {want_decoded[:30]!r}")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--random", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=HERE.parents[1] / "calibration" / "en.txt")
    args = parser.parse_args()
    file = args.path / "tokenizer.json" if args.path.is_dir() else args.path
    if not file.is_file():
        print(f"error: {file} does not exist; pass a tokenizer.json or an export folder", file=sys.stderr)
        return 2
    corpus = args.corpus.read_text("utf-8").splitlines() if args.corpus.is_file() else []
    texts = HARD_CASES + EXTRA_CASES + random_texts(args.random, args.seed) + corpus
    diffs = compare(file, texts)
    for line in diffs[:5]:
        print(line)
    print(f"{len(texts)} texts, {len(diffs)} differ")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
