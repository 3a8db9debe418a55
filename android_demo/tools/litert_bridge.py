"""A LiteRT Interpreter in a child process, for the app's Kotlin LLM code on the JVM (no Android, no LiteRT jar).

    python android_demo/tools/litert_bridge.py MODEL.tflite [--threads N]

The JVM side (app/src/test/.../LiteRtBridge.kt, a ModelBackend) writes one request per model call on stdin: a
JSON line {"signature": name, "inputs": [[tensor, bytes], ...], "outputs": [[tensor, bytes], ...]} followed by
the inputs' raw bytes (native order, in that order). This process runs the signature with ai-edge-litert's
signature runner (XNNPACK, as the app's Interpreter.runSignature does: every input copied in, every output
out) and answers "ok" and the outputs' raw bytes, or "error <one line>". It stops at the end of stdin.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
    runners, details = {}, {}
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while line := stdin.readline():
        request = json.loads(line)
        name = request["signature"]
        raw = [stdin.read(n) for _, n in request["inputs"]]
        try:
            if name not in runners:
                runners[name] = interpreter.get_signature_runner(name)
                details[name] = runners[name].get_input_details()
            inputs = {}
            for (tensor, n), data in zip(request["inputs"], raw):
                spec = details[name][tensor]
                inputs[tensor] = np.frombuffer(data, dtype=spec["dtype"]).reshape(spec["shape"])
            out = runners[name](**inputs)
            blobs = []
            for tensor, n in request["outputs"]:
                blob = np.ascontiguousarray(out[tensor]).tobytes()
                if len(blob) != n:
                    raise ValueError(f"output {tensor} has {len(blob)} bytes, the app expects {n}")
                blobs.append(blob)
        except Exception as e:  # noqa: BLE001  reported to the JVM side as its TensorException
            stdout.write(f"error {' '.join(str(e).split())[:300]}\n".encode())
            stdout.flush()
            continue
        stdout.write(b"ok\n" + b"".join(blobs))
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
