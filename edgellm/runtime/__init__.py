"""The LiteRT runtime, the one place that finds it and makes Interpreters and CompiledModels.

Runtime only (numpy and a LiteRT runtime; no torch, no transformers): ``bench``, ``inspect`` and ``generate`` run
on a Raspberry Pi with it.
    litert.py      which runtime package is installed; Interpreter / CompiledModel loading; XNNPACK partitions
    modelfile.py   a bounds-checked reader of .tflite and .litertlm files (the structural check before loading)
"""

from edgellm.runtime.litert import (NUMPY_DTYPES, Loaded, Runtime, find_runtime, load_compiled_model,
                                    load_interpreter, new_interpreter)

__all__ = ["NUMPY_DTYPES", "Loaded", "Runtime", "find_runtime", "load_compiled_model", "load_interpreter",
           "new_interpreter"]
