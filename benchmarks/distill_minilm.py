"""all-MiniLM-L6-v2 (6 layers) -> a 3-layer student by distillation: fidelity and int8 speed-up.
Prints the figures of benchmarks/README.md, "Distillation: MiniLM to 3 layers".

Target: distilled in <= 45 min on a 2-core machine, mean cosine to the teacher's sentence embeddings >= 0.93 on
text not trained on, the student's int8 export >= 1.8x faster than the teacher's int8 export at the same
sequence length.

Training text (nothing from a model hub): calibration/en.txt plus English sentences from the Python reference
documentation that ships with the interpreter (pydoc_data.topics), the descriptions (METADATA) of the installed
PyPI packages and the docstrings of the standard library and the installed packages; a seeded 2% of the
sentences is held out. Held-out text: calibration/en_eval.txt (60
assistant-style sentences, another register than the training text) and the held-out sentences.

    python benchmarks/distill_minilm.py [--out out/distill_minilm] [--max-minutes 30] [--threads 1]
                                        [--sequence-length 128] [--torch-threads N] [--resume] [--data FILE]

--data FILE trains on FILE's lines instead (benchmarks/registry_corpus.py builds one from registry packages).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

WORDS = re.compile(r"[A-Za-z][a-z']+")
ROUNDS = 3  # timed rounds per export; the median p50 is reported


def sentences(text: str) -> list[str]:
    """Prose sentences of 6 to 40 words, mostly letters (code, tables and links dropped)."""
    out = []
    for line in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        s = " ".join(line.split())
        words = s.split()
        if not 6 <= len(words) <= 40 or not s[0].isupper() or not s.endswith((".", "?", "!")):
            continue
        if any(c in s for c in "{}[]<>|=`*#_\\/") or len(WORDS.findall(s)) < 0.8 * len(words):
            continue
        out.append(s)
    return out


def docstrings(root: Path, limit: int) -> list[str]:
    """Prose sentences of the docstrings of the .py files under ``root`` (sorted walk, at most ``limit``)."""
    import ast
    import warnings

    found = []
    for path in sorted(root.rglob("*.py")):
        if len(found) >= limit or "test" in path.parts[-2:]:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    found += sentences(doc)
    return found[:limit]


def split_file(source: Path, folder: Path, seed: int = 0) -> tuple[Path, list[str]]:
    """(training .txt, held-out lines) of a text file: a seeded 2% of its distinct lines held out."""
    unique = sorted({" ".join(line.split()) for line in source.read_text("utf-8").splitlines()} - {""})
    order = np.random.default_rng(seed).permutation(len(unique))
    held = [unique[i] for i in order[: len(unique) // 50]]
    path = folder / "train.txt"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(unique[i] for i in order[len(unique) // 50:]) + "\n", encoding="utf-8")
    return path, held


def build_corpus(folder: Path, seed: int = 0) -> tuple[Path, list[str]]:
    """(training .txt, held-out sentences); built once into ``folder`` (a few minutes), then read back."""
    path, held_path = folder / "train.txt", folder / "held_out.txt"
    if path.is_file() and held_path.is_file():
        return path, held_path.read_text("utf-8").splitlines()
    import importlib.metadata
    import sysconfig

    import pydoc_data.topics

    from edgellm.calibrate import corpus_path

    found = []
    for text in pydoc_data.topics.topics.values():
        found += sentences(text)
    for dist in importlib.metadata.distributions():
        found += sentences(dist.metadata.get_payload() or "")
    found += docstrings(Path(sysconfig.get_paths()["stdlib"]), 40000)
    found += docstrings(Path(sysconfig.get_paths()["purelib"]), 40000)
    seen, unique = set(), []
    for s in found:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    unique = sorted(unique)
    order = np.random.default_rng(seed).permutation(len(unique))
    held = [unique[i] for i in order[: len(unique) // 50]]
    train = [unique[i] for i in order[len(unique) // 50:]]
    train += [t for t in corpus_path("en").read_text("utf-8").splitlines() if t.strip()]
    folder.mkdir(parents=True, exist_ok=True)
    held_path.write_text("\n".join(held) + "\n", encoding="utf-8")
    path.write_text("\n".join(train) + "\n", encoding="utf-8")
    return path, held


def embed(folder: Path, texts: list[str]) -> np.ndarray:
    """sentence-transformers' own encode() of the HF folder (mean pooling, normalization as its modules say)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    model.max_seq_length = 128
    return model.encode(texts, convert_to_numpy=True, batch_size=32)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/distill_minilm")
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--lr-schedule", default="constant", choices=("constant", "linear"))
    parser.add_argument("--torch-threads", type=int, default=None, help="PyTorch threads for training (default: "
                        "torch's); on a busy shared machine 1 is faster than 2: idle OpenMP threads wait on each other")
    parser.add_argument("--resume", action="store_true", help="continue the student in OUT/student")
    parser.add_argument("--data", type=Path, default=None, help="training text instead of the built corpus, one "
                        "text a line (e.g. benchmarks/registry_corpus.py's); a seeded 2%% of it is held out")
    args = parser.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)

    import edgellm
    from edgellm.calibrate import corpus_path
    from edgellm.convert.source import default_model_path

    out = Path(args.out)
    teacher = default_model_path()
    if args.data is not None:
        train_file, held = split_file(args.data, out / "data_file")
    else:
        train_file, held = build_corpus(out / "data")
    eval_texts = [t for t in corpus_path("en_eval").read_text("utf-8").splitlines() if t.strip()]
    n_train = sum(1 for _ in train_file.open())
    print(f"training text: {n_train} sentences ({train_file}); held out: {len(held)} + {len(eval_texts)} "
          "(en_eval.txt)", file=sys.stderr)

    start = time.perf_counter()
    result = edgellm.distill(teacher, out / "student", student_layers=3, data=str(train_file),
                             max_minutes=args.max_minutes, batch_size=args.batch_size, lr=args.lr,
                             warmup_steps=100, lr_schedule=args.lr_schedule, max_length=128, freeze_embeddings=True, checkpoint_every=200,
                             resume=args.resume, overwrite=not args.resume and (out / "student").exists(),
                             progress=lambda line: print(f"distill: {line}", file=sys.stderr, flush=True))
    print(result.summary(), file=sys.stderr)
    distill_min = (time.perf_counter() - start) / 60

    fidelity = {}
    for name, texts in (("en_eval", eval_texts), ("held_out", held[:500])):
        c = cosines(embed(teacher, texts), embed(out / "student", texts))
        fidelity[name] = {"mean": round(float(c.mean()), 4), "min": round(float(c.min()), 4), "n": len(texts)}

    threads = tuple(int(t) for t in args.threads.split(","))
    exports, runs = {}, {"teacher": [], "student": []}
    for name, folder in (("teacher", teacher), ("student", out / "student")):
        exported = out / f"{name}_int8"
        r = edgellm.export(folder, exported, quantize="int8", sequence_length=args.sequence_length,
                           overwrite=True, allow_validation_failure=True)
        exports[name] = {"validation_passed": r.validation.passed,
                         "bytes": (exported / "model.tflite").stat().st_size}
    for _ in range(ROUNDS):  # teacher and student in turn, so a load spike on a shared machine hits both
        for name in runs:
            bench = edgellm.benchmark(out / f"{name}_int8", edgellm.BenchConfig(threads=threads, runs=200,
                                                                               min_seconds=5.0, warmup=10))
            rows = bench.to_dict()["results"]
            runs[name].append({row["num_threads"]: row["latency_ms"]["p50"] for row in rows})
    latency = {name: {t: float(np.median([r[t] for r in rounds])) for t in threads} for name, rounds in runs.items()}
    report = {
        "teacher_layers": 6, "student_layers": 3, "max_minutes": args.max_minutes,
        "train_minutes": round(result.train_s / 60, 2), "distill_wall_minutes": round(distill_min, 2),
        "steps": result.steps, "epochs": round(result.epochs, 3), "loss": [result.loss_first, result.loss_last],
        "cosine_to_teacher": fidelity, "int8": exports,
        "p50_ms": latency, "p50_ms_rounds": runs,
        "speedup": {t: round(latency["teacher"][t] / latency["student"][t], 2) for t in threads},
        "sequence_length": args.sequence_length,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
