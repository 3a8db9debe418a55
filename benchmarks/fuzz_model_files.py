"""Seeded fuzz of model files: no corrupt model.tflite may kill `edgellm inspect`, `bench` or `generate`.

Copies of a tiny encoder export and a tiny LLM export, each with ``--flips`` random bytes of model.tflite changed,
go through every command as a subprocess (with a timeout), with ``--no-verify`` (the hash would refuse them all
first: this exercises the structural check and the safe-mode child load behind it). Each run is counted as
ok (exit 0), error (exit 1/2 ending in edgellm's one-line error), traceback, signal (killed), hang or other (any
other failure). The target is 0 of the last four.

    python benchmarks/fuzz_model_files.py --copies 100            # the full 200-copy run (about 4 min on 2 cores)
    python benchmarks/fuzz_model_files.py --copies 50 --seed 1    # what tests/bundle/test_file_safety.py runs

The suite's fuzz test imports ``fuzz`` from here.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "encoder": (["inspect", "--no-verify"], ["bench", "--no-verify", "--runs", "2", "--min-seconds", "0",
                                             "--warmup", "0"]),
    "llm": (["inspect", "--no-verify"], ["bench", "--no-verify", "--runs", "1", "--prompt-tokens", "4",
                                         "--new-tokens", "4"],
            ["generate", "--no-verify", "--prompt", "hello", "--max-new-tokens", "4"]),
}


def mutate(data: bytes, rng: random.Random, flips: int) -> bytes:
    """``flips`` random bytes changed; one copy in five is also truncated at a random point."""
    out = bytearray(data)
    for _ in range(flips):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.2:
        del out[rng.randrange(8, len(out)):]
    return bytes(out)


def run(argv: list[str], timeout: float) -> tuple[str, str]:
    """(outcome, stderr) of one `edgellm` run: ok, error, traceback, signal, hang or other."""
    try:
        r = subprocess.run([sys.executable, "-m", "edgellm.cli", *argv], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        return "hang", str(e.stderr or "")
    if r.returncode < 0:
        return "signal", r.stderr
    if "Traceback (most recent call last)" in r.stderr:
        return "traceback", r.stderr
    if r.returncode == 0:
        return "ok", r.stderr
    last = (r.stderr.strip().splitlines() or [""])[-1]
    return ("error" if last.startswith(f"edgellm {argv[0]}: error: ") else "other"), r.stderr


def fuzz(export: Path, kind: str, copies: int, *, seed: int, flips: int = 20, timeout: float = 120.0,
         work: Path) -> tuple[Counter, list[tuple[str, str, str]]]:
    """Counts of outcomes over ``copies`` mutated copies of ``export`` through every command of ``kind``, and
    the (copy, command, stderr) of each run that ended otherwise than ok or one-line error."""
    rng = random.Random(seed)
    data = (export / "model.tflite").read_bytes()
    counts, bad = Counter(), []
    for i in range(copies):
        copy = work / f"{kind}-{i}"
        shutil.copytree(export, copy)
        (copy / "model.tflite").write_bytes(mutate(data, rng, flips))
        for command in COMMANDS[kind]:
            outcome, err = run([*command, str(copy)], timeout)
            counts[outcome] += 1
            if outcome not in ("ok", "error"):
                bad.append((copy.name, command[0], err[-2000:]))
        shutil.rmtree(copy)
    return counts, bad


def tiny_exports(work: Path) -> dict[str, Path]:
    """The tiny encoder (BERT, 16 tokens) and LLM (llama, cache 64) exports of the test suite."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "generate")]
    from tiny import make_model
    from tiny_llm import CACHE, DECODE_WINDOWS, PREFILL, make_llm

    from edgellm.export import export

    export(make_model(work / "bert", "bert"), work / "bert-export", sequence_length=16)
    export(make_llm(work / "llama"), work / "llama-export", task="text-generation", cache_length=CACHE,
           prefill_lengths=PREFILL, decode_windows=DECODE_WINDOWS)
    return {"encoder": work / "bert-export", "llm": work / "llama-export"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100, help="mutated copies per export kind (default 100)")
    parser.add_argument("--flips", type=int, default=20, help="random bytes changed per copy (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgellm-fuzz-") as tmp:
        work = Path(tmp)
        exports = tiny_exports(work)
        total = 0
        for kind, export in exports.items():
            counts, bad = fuzz(export, kind, args.copies, seed=args.seed, flips=args.flips, work=work)
            total += sum(n for k, n in counts.items() if k not in ("ok", "error"))
            runs = sum(counts.values())
            print(f"{kind}: {args.copies} copies x {len(COMMANDS[kind])} commands = {runs} runs: "
                  + ", ".join(f"{k} {counts[k]}" for k in ("ok", "error", "traceback", "signal", "hang", "other")))
            for name, command, err in bad[:5]:
                print(f"  {name} {command}: {err.strip().splitlines()[-1] if err.strip() else '(no stderr)'}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
