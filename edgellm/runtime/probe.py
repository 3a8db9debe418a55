"""Safe mode: load a model in a child process first, so a file that crashes LiteRT's C++ loader cannot kill ours.

The bounds-checked reader (``modelfile.read_model``) rules out most corrupt files, but not all: a flatbuffer whose
offsets are in range can still hold a shape or an index that makes the native loader or the first invoke read out
of bounds. Loaders use this for every file without a matching hash in edgellm.json (bare .tflite files, exports
from an older edgellm, ``--no-verify``): the child loads the model the way the caller will, allocates and invokes
it once; a child killed by a signal, or failing, becomes a one-line ``ModelFileError`` here. Costs one model load.

    probe("edgellm.runtime.probe:load_and_invoke", "model.tflite")          # an Interpreter with XNNPACK
    probe("edgellm.generate.runner:probe_llm", "model.tflite", {"mode": "compiled"})
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from typing import Any

from edgellm.errors import EdgeLLMError, ModelFileError

_MARK = "edgellm-probe: "
_FAILED = 3  # the child's exit code when the load raised (its message follows _MARK on stderr)


def probe(target: str, path: str | os.PathLike, options: dict[str, Any] | None = None, *,
          timeout: float = 600.0) -> None:
    """Run ``target`` ("module:function", called as function(path, **options)) in a child process; ModelFileError
    when the child dies by a signal, fails or runs past ``timeout`` seconds."""
    path = os.fspath(path)
    cmd = [sys.executable, "-m", "edgellm.runtime.probe", target, path, json.dumps(options or {})]
    try:
        child = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise ModelFileError(f"{path}: loading it in a test process did not finish in {timeout:.0f} s; the file is "
                             "likely corrupt: re-export it") from e
    if child.returncode == 0:
        return
    err = child.stderr.decode("utf-8", "replace")
    if child.returncode < 0:
        try:
            name = signal.Signals(-child.returncode).name
        except ValueError:
            name = f"signal {-child.returncode}"
        raise ModelFileError(f"{path}: LiteRT crashed loading it ({name} in a test process; this one is unharmed): "
                             "the file is corrupt or not a model LiteRT can run; re-export it")
    lines = [line[len(_MARK):] for line in err.splitlines() if line.startswith(_MARK)]
    reason = lines[-1] if lines else (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1][:300]
    raise ModelFileError(f"{path}: LiteRT could not load it ({reason}); re-export it")


def load_and_invoke(path: str, *, threads: int = 1, xnnpack: bool = True) -> None:
    """The bench/inspect load: an Interpreter, every signature allocated and invoked once on zeros, integer masks
    on ones (an all-zero attention mask makes mean pooling divide by zero, which quantized DIV refuses)."""
    import numpy as np

    from edgellm.runtime.litert import find_runtime, load_interpreter

    loaded = load_interpreter(find_runtime(), path, threads=threads, xnnpack=xnnpack)
    interp = loaded.handle
    for name in interp.get_signature_list():
        runner = interp.get_signature_runner(name)
        runner(**{k: (np.ones if "mask" in k.lower() and not np.issubdtype(d["dtype"], np.floating) else np.zeros)(
            d["shape"], d["dtype"]) for k, d in runner.get_input_details().items()})


def _child(target: str, path: str, options: str) -> int:
    module, _, function = target.partition(":")
    try:
        getattr(importlib.import_module(module), function)(path, **json.loads(options))
    except (EdgeLLMError, ValueError, RuntimeError, IndexError, KeyError, TypeError, OSError) as e:
        text = " ".join(str(e).split())[:300] or type(e).__name__
        print(f"{_MARK}{text}", file=sys.stderr, flush=True)
        return _FAILED
    return 0


if __name__ == "__main__":
    sys.exit(_child(*sys.argv[1:4]))
