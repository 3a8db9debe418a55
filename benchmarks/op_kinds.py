"""Per-op-kind time of a .tflite model: which kind of op costs the time.
Prints the figure in benchmarks/README.md, "Where int8-full's time goes".

For each (op, input dtype) kind, a model holding only the ops of that kind (their non-constant inputs
become graph inputs, filled with random values) is timed with the interpreter, XNNPACK on as in the full
model. LiteRT's Python runtime has no op profiler and `litert-benchmark` has no op profiling; this
answers "which kind of op costs the time" (not partition switches: compare the sum with the full model).

    python benchmarks/op_kinds.py MODEL.tflite [--threads 1] [--runs 5] [--kinds FULLY_CONNECTED,ADD]
"""

from __future__ import annotations

import argparse
import collections
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent))


def time_invoke(content: bytes, threads: int, runs: int) -> float:
    """Median invoke time in ms; integer inputs random in their range (int32: ones, valid token ids)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in interpreter.get_input_details():
        dtype, shape = d["dtype"], d["shape"]
        if dtype == np.int32:
            value = np.ones(shape, dtype)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, size=shape).astype(dtype)
        else:
            value = rng.standard_normal(shape).astype(dtype)
        interpreter.set_tensor(d["index"], value)
    for _ in range(2):
        interpreter.invoke()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kinds", default="", help="only these op names (comma-separated)")
    args = parser.parse_args()

    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from edgellm.quantize.io import _pack

    content = Path(args.model).read_bytes()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    kinds = collections.defaultdict(list)
    for i, op in enumerate(graph.operators):
        first = graph.tensors[op.inputs[0]].type if len(op.inputs) and op.inputs[0] >= 0 else None
        kinds[(op_names[codes[op.opcodeIndex]], type_names.get(first, "-"))].append(i)

    def constant(t: int) -> bool:
        buffer = model.buffers[graph.tensors[t].buffer]
        return buffer.offset > 1 or (buffer.data is not None and len(buffer.data) > 0)

    only = set(filter(None, args.kinds.split(",")))
    full = time_invoke(content, args.threads, args.runs)
    print(f"{args.model}: full model {full:.2f} ms at {args.threads} thread(s)")
    rows = []
    for (name, dtype), indices in sorted(kinds.items()):
        if only and name not in only:
            continue
        part = copy.copy(graph)
        part.operators = [graph.operators[i] for i in indices]
        produced = {o for op in part.operators for o in op.outputs}
        part.inputs = sorted({t for op in part.operators for t in op.inputs
                              if t >= 0 and t not in produced and not constant(t)})
        part.outputs = sorted(produced)
        sub = copy.copy(model)
        sub.subgraphs, sub.signatureDefs = [part, *model.subgraphs[1:]], []
        try:
            ms = time_invoke(_pack(sub, content, flatbuffer_utils), args.threads, args.runs)
        except (RuntimeError, ValueError) as e:  # e.g. RSQRT of random negative int16 values
            print(f"{name:<22}{dtype:<9}{len(indices):>4}  not timed: {str(e).splitlines()[0][:80]}")
            continue
        rows.append((ms, name, dtype, len(indices)))
    print(f"{'op':<22}{'input':<9}{'ops':>4}{'ms':>10}{'% of full':>11}")
    for ms, name, dtype, n in sorted(rows, reverse=True):
        print(f"{name:<22}{dtype:<9}{n:>4}{ms:10.2f}{100 * ms / full:10.1f}%")
    print(f"sum of kinds {sum(r[0] for r in rows):.2f} ms, full model {full:.2f} ms")


if __name__ == "__main__":
    main()
