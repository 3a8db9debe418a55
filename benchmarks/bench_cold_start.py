"""Cold start of `edgellm bench --help` (target: under 1.5 s with the runtime-only install).
Prints the figure in benchmarks/README.md, "Cold start".

Each start is a fresh process (python -m edgellm bench --help, and the `edgellm` console script when it
sits next to --python); the first start is reported apart since it also fills the OS file cache. Also lists
the heavy modules `-X importtime` shows (must be none) and the time to a first result on a tiny model.

    python benchmarks/bench_cold_start.py [--python /path/to/runtime-only/venv/bin/python] [--n 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "tensorflow", "litert_torch", "ai_edge_quantizer")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--model", default=None, help="a .tflite to time `edgellm bench MODEL --runs 1` too")
    args = ap.parse_args()

    py = args.python
    installed = subprocess.run([py, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    present = sorted(line.split("==")[0] for line in installed.splitlines()
                     if line.split("==")[0].lower().replace("_", "-") in {"torch", "transformers", "tensorflow",
                                                                            "litert-torch"})
    print(f"python: {py}; heavy packages installed: {', '.join(present) or 'none (runtime-only install)'}")
    commands = {"python -m edgellm bench --help": [py, "-m", "edgellm", "bench", "--help"]}
    script = Path(py).with_name("edgellm")
    if script.exists():
        commands["edgellm bench --help"] = [str(script), "bench", "--help"]
    if args.model:
        commands["edgellm bench MODEL --runs 1"] = [py, "-m", "edgellm", "bench", args.model, "--runs", "1",
                                                    "--min-seconds", "0", "--warmup", "0", "--quiet"]
    ok = True
    for label, cmd in commands.items():
        first = timed(cmd)
        times = [timed(cmd) for _ in range(args.n)]
        med = statistics.median(times)
        if "--help" in cmd:
            ok &= med < 1.5
        print(f"{label:<34} first {first * 1000:7.0f} ms, then median {med * 1000:6.0f} ms "
              f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {args.n}")
    r = subprocess.run([py, "-X", "importtime", "-m", "edgellm", "bench", "--help"], capture_output=True, text=True)
    mods = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    top = sorted(((int(line.split("|")[1]), line.split("|")[-1].strip()) for line in r.stderr.splitlines()
                  if "|" in line and line.split("|")[1].strip().isdigit()), reverse=True)[:3]
    print(f"-X importtime: {len(mods)} modules, heavy: {heavy or 'none'}; largest cumulative: "
          + ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in top))
    ok &= not heavy
    print(f"\n{'PASS' if ok else 'FAIL'}: `edgellm bench --help` under 1.5 s and imports nothing heavy")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
