"""edgellm's LLM export against litert-torch's own ``export_hf`` output, same model, same prompt, same loop.
Prints the figure in benchmarks/README.md, "edgellm vs litert-torch".

    python benchmarks/llm_baseline.py out/smollm2_int8 --litert-torch lt_out/model_quantized.tflite
        [--threads 1,2] [--prompt-tokens 64] [--new-tokens 64] [--rounds 5] [--bandwidth-gbs 16,31] [--json FILE]

Both exports are driven from Python, the way an app without a C++ runtime would drive them, by one generation
loop (``generate``): the prompt's tokens but the last are prefilled in chunks over the prefill_<T> signatures
(``plan_prefill``, the same chunks for both), the last prompt token goes through ``decode`` and gives the first new
token (time to first token = that prefill + one decode), then ``--new-tokens`` greedy tokens are decoded.

* edgellm: ``edgellm.generate.runner.LlmRunner`` (mode ``compiled``, the default; ``--modes`` adds ``inplace``, ``copy``).
* litert-torch: its signatures take ``tokens``, ``input_pos``, an additive ``mask`` [1, 1, T, C] and the whole
  cache, and return the whole updated cache, which the Python signature runner copies out and the next call copies
  back in (``LitertTorchRunner``; what its own Python examples do).

Per thread count, both run in one process and alternate, one generation each, for ``--rounds`` rounds (after one
burn-in generation each): a busy moment on a shared machine slows both alike, so the per-round ratio is the figure
to quote; at 1 thread the ratio of decode tokens per second of process CPU time is printed too, which a busy
machine disturbs less (it still shares caches and memory bandwidth). Load time is measured once per process (construction, page cache warm), then the first generation's
time to first token, where the runtime's lazy set-up (XNNPACK weight packing for a runner that allocates on first
call) lands: compare load + first TTFT. The bandwidth bound is
bytes read per token (the model file + the whole KV cache) over the read bandwidth given for that thread count.

To make the litert-torch export (about 2 minutes on an idle 2-core machine; no tensorflow needed):

    python benchmarks/llm_baseline.py --make-litert-torch HF_FOLDER OUT_DIR [--cache-length 256] [--prefill-lengths 32,128]

(a ``.gguf`` file cannot be given to export_hf: load it with transformers and ``save_pretrained`` a float copy.)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HELD_TEXT = Path(__file__).resolve().parents[1] / "edgellm" / "calibrate" / "data" / "en_eval.txt"


class LitertTorchRunner:
    """prefill(tokens, start) / decode(token, position) -> logits over an ``export_hf`` flatbuffer."""

    def __init__(self, path: str | Path, *, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.runners = {name: self.interpreter.get_signature_runner(name)
                        for name in self.interpreter.get_signature_list()}
        inputs = self.runners["decode"].get_input_details()
        self.names = sorted(n for n in inputs if n.startswith("kv_cache_"))
        self.cache = {n: np.zeros(inputs[n]["shape"], np.float32) for n in self.names}
        self.cache_length = int(inputs["mask"]["shape"][-1])
        self.prefill_lengths = tuple(sorted(int(n.split("_")[1]) for n in self.runners if n.startswith("prefill_")))

    def _call(self, name: str, tokens: np.ndarray, start: int) -> dict:
        t = tokens.shape[1]
        pos = np.arange(start, start + t, dtype=np.int32)
        mask = np.where(np.arange(self.cache_length)[None, :] <= pos[:, None], 0.0, -1e30)
        mask = mask.astype(np.float32)[None, None]  # [1, 1, T, C]
        out = self.runners[name](tokens=tokens, input_pos=pos, mask=mask, **self.cache)
        self.cache = {n: out[n] for n in self.names}
        return out

    def prefill(self, tokens, *, start: int = 0) -> None:
        from edgellm.generate.runner import plan_prefill

        tokens, pos = list(tokens), start
        for t, take in plan_prefill(len(tokens), self.prefill_lengths, room=self.cache_length - start):
            if t == 1:
                self.decode(tokens[0], position=pos)
            else:
                chunk = np.zeros((1, t), np.int32)
                chunk[0, :take] = tokens[:take]
                self._call(f"prefill_{t}", chunk, pos)
            tokens, pos = tokens[take:], pos + take

    def decode(self, token: int, *, position: int) -> np.ndarray:
        return self._call("decode", np.array([[token]], np.int32), position)["logits"].reshape(-1)


def generate(runner, prompt_ids: list[int], new_tokens: int) -> dict:
    """One greedy generation; times in seconds."""
    t0 = time.perf_counter()
    runner.prefill(prompt_ids[:-1], start=0)
    pos = len(prompt_ids) - 1
    token = int(np.argmax(runner.decode(prompt_ids[-1], position=pos)))
    t_first, cpu_first = time.perf_counter(), time.process_time()
    tokens = [token]
    for _ in range(new_tokens - 1):
        pos += 1
        token = int(np.argmax(runner.decode(token, position=pos)))
        tokens.append(token)
    t_end, cpu_end = time.perf_counter(), time.process_time()
    return {"ttft_s": t_first - t0, "decode_tokens_per_second": (new_tokens - 1) / (t_end - t_first),
            "decode_tokens_per_cpu_second": (new_tokens - 1) / (cpu_end - cpu_first), "tokens": tokens}


def _prompt(folder: Path, n: int) -> list[int]:
    from edgellm.generate.tokenizer import ChatTokenizer

    text = " ".join(line.strip() for line in HELD_TEXT.read_text("utf-8").splitlines() if line.strip())
    ids = ChatTokenizer(folder, special={}).encode(text)[:n]
    if len(ids) < n:
        raise SystemExit(f"the held text has {len(ids)} tokens; pass --prompt-tokens <= {len(ids)}")
    return ids


def child(args) -> int:
    """One thread count: load every runner, alternate generations, print one JSON line."""
    from edgellm.generate.runner import LlmRunner

    folder = args.export
    ids = _prompt(folder, args.prompt_tokens)
    makers = {f"edgellm-{mode}": (lambda mode=mode: LlmRunner(folder / "model.tflite", num_threads=args.one,
                                                              mode=mode)) for mode in args.modes.split(",")}
    if args.litert_torch:
        makers["litert-torch"] = lambda: LitertTorchRunner(args.litert_torch, num_threads=args.one)
    runners, load, first = {}, {}, {}
    for name, make in makers.items():
        t = time.perf_counter()
        runners[name] = make()
        load[name] = time.perf_counter() - t
        first[name] = generate(runners[name], ids, args.new_tokens)["ttft_s"]  # burn-in; lazy init lands here
    runs = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, runner in runners.items():
            runs[name].append(generate(runner, ids, args.new_tokens))
    print(json.dumps({"threads": args.one, "load_s": load, "first_ttft_s": first, "runs": runs,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
    return 0


def make_litert_torch(hf_folder: str, out_dir: str, cache_length: int, prefill_lengths: list[int]) -> None:
    """litert-torch's export_hf with its default recipe (dynamic_wi8_afp32); tensorflow is not needed."""
    export_hf = import_export_hf()
    export_hf.export(hf_folder, out_dir, cache_length=cache_length, prefill_lengths=prefill_lengths,
                     keep_temporary_files=True, bundle_litert_lm=False)


def import_export_hf():
    """litert_torch.generative.export_hf.export, importable without tensorflow and beside `kernels`."""
    import importlib
    import importlib.machinery
    import types

    try:
        import tensorflow  # noqa: F401
    except ImportError:  # export_hf imports tensorflow.lite.python.schema_py_generated; LiteRT ships the same module
        schema = importlib.import_module("ai_edge_litert.schema_py_generated")
        for name in ("tensorflow", "tensorflow.lite", "tensorflow.lite.python"):
            sys.modules[name] = types.ModuleType(name)
            sys.modules[name].__spec__ = importlib.machinery.ModuleSpec(name, None)
        sys.modules["tensorflow"].lite = sys.modules["tensorflow.lite"]
        sys.modules["tensorflow.lite"].python = sys.modules["tensorflow.lite.python"]
        sys.modules["tensorflow.lite.python"].schema_py_generated = schema
        sys.modules["tensorflow.lite.python.schema_py_generated"] = schema
    # litert-torch swaps transformers' use_kernel_forward_from_hub for one that leaves functions plain, which the
    # `kernels` package (0.19) then refuses in use_kernelized_func: export without hub kernels (no-op decorator)
    import transformers.integrations
    import transformers.integrations.hub_kernels as hub_kernels

    def no_kernels(*functions):
        return lambda cls: cls

    transformers.integrations.use_kernelized_func = hub_kernels.use_kernelized_func = no_kernels
    from litert_torch.generative.export_hf import export as export_hf

    return export_hf


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export", type=Path, nargs="?", help="an edgellm text-generation export folder")
    p.add_argument("--litert-torch", type=Path, default=None, help="model_quantized.tflite written by export_hf")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--modes", default="compiled", help="edgellm runner modes to include (compiled,inplace,copy)")
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--bandwidth-gbs", default="16,31", help="read bandwidth per thread count, GB/s")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--make-litert-torch", nargs=2, metavar=("HF_FOLDER", "OUT_DIR"), default=None)
    p.add_argument("--cache-length", type=int, default=256)
    p.add_argument("--prefill-lengths", default="32,128")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child: thread count
    args = p.parse_args(argv)
    if args.make_litert_torch:
        make_litert_torch(*args.make_litert_torch, args.cache_length,
                          [int(t) for t in args.prefill_lengths.split(",")])
        return 0
    if args.export is None:
        p.error("give an edgellm export folder (or --make-litert-torch)")
    if args.one:
        return child(args)
    threads = [int(t) for t in args.threads.split(",")]
    bandwidth = dict(zip(threads, [float(b) for b in args.bandwidth_gbs.split(",")]))
    manifest = json.loads((args.export / "edgellm.json").read_text())
    kv_bytes = manifest["llm"]["kv_cache"]["bytes"]
    files = {f"edgellm-{m}": args.export / "model.tflite" for m in args.modes.split(",")}
    if args.litert_torch:
        files["litert-torch"] = args.litert_torch
    results = []
    for t in threads:
        cmd = [sys.executable, __file__, str(args.export), "--one", str(t), "--modes", args.modes,
               "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
               "--rounds", str(args.rounds)]
        if args.litert_torch:
            cmd += ["--litert-torch", str(args.litert_torch)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        results.append(row)
        base = row["runs"].get("litert-torch")
        for name, runs in row["runs"].items():
            tps = statistics.median(r["decode_tokens_per_second"] for r in runs)
            ttft = 1e3 * statistics.median(r["ttft_s"] for r in runs)
            bound = bandwidth.get(t, float("nan")) * 1e9 / (files[name].stat().st_size + kv_bytes)
            line = (f"threads {t} {name:<16} load {row['load_s'][name]:5.2f} s + first TTFT "
                    f"{row['first_ttft_s'][name]:5.2f} s  TTFT {ttft:7.1f} ms  decode "
                    f"{tps:6.1f} tok/s ({100 * tps / bound:3.0f}% of the {bound:.0f} tok/s bound)")
            if base and name != "litert-torch":
                ratios = [a["decode_tokens_per_second"] / b["decode_tokens_per_second"] for a, b in zip(runs, base)]
                ttft_ratios = [a["ttft_s"] / b["ttft_s"] for a, b in zip(runs, base)]
                line += (f"  vs litert-torch: decode x{statistics.median(ratios):.2f} "
                         f"(rounds {min(ratios):.2f}-{max(ratios):.2f}), TTFT x{statistics.median(ttft_ratios):.2f}")
                if t == 1:  # one thread: the process's CPU time is the step's own work, whatever else runs
                    cpu = [a["decode_tokens_per_cpu_second"] / b["decode_tokens_per_cpu_second"]
                           for a, b in zip(runs, base)]
                    line += f", decode per CPU second x{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f})"
            print(line, flush=True)
        same = {name: runs[0]["tokens"] == row["runs"][next(iter(row["runs"]))][0]["tokens"]
                for name, runs in row["runs"].items()}
        print(f"threads {t} greedy tokens equal to the first runner's: {same}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
