"""Runtime-only side of edgellm: time (``benchmark``) and look inside (``inspect``) LiteRT models.

Imports nothing heavy: numpy and the interpreter (ai-edge-litert, else tflite-runtime, else tensorflow.lite),
so it runs on a Raspberry Pi with only the runtime installed. Names load on first use, so importing this
package (as ``edgellm bench --help`` does) costs no numpy either.
"""

from __future__ import annotations

import importlib

# The function ``inspect`` shares its name with its module ``edgellm.bench.inspect``; importing that module
# sets the package attribute to the module, so it is imported (stdlib-only, cheap) and rebound here first.
from edgellm.bench.inspect import InspectReport, inspect  # noqa: E402

_EXPORTS = {
    "benchmark": "edgellm.bench.runner",
    "BenchConfig": "edgellm.bench.config",
    "BenchReport": "edgellm.bench.report",
    "BenchResult": "edgellm.bench.report",
}

__all__ = sorted([*_EXPORTS, "inspect", "InspectReport"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgellm.bench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
