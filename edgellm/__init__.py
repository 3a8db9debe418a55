"""edgellm: ship Hugging Face language models to phones and small boards with LiteRT.

The public API is the verbs below and their config/result types. Names are imported on first use, so
``import edgellm`` (and ``edgellm bench`` on a Raspberry Pi) never loads torch or transformers.

    result = edgellm.export("path/to/hf_model", "out/", quantize="int8-dynamic")
    model  = edgellm.convert("path/to/hf_model", edgellm.ConvertConfig(sequence_length=128))
    qmodel = edgellm.quantize(model, "int8-dynamic")
    report = edgellm.validate(qmodel)
    edgellm.bundle("out/", qmodel, validation=report)
    bench  = edgellm.benchmark(["out/"], edgellm.BenchConfig(threads=(1, 2)))
    llm    = edgellm.load_llm("out/smollm2")  # an export made with task="text-generation"
    text   = "".join(llm.generate("Hello", edgellm.GenerateConfig(max_new_tokens=32)))
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # convert/ quantize/ validate/ bundle/ and the pipeline that chains them
    "export": "edgellm.export", "ExportConfig": "edgellm.export", "ExportResult": "edgellm.export",
    "convert": "edgellm.convert", "ConvertConfig": "edgellm.convert", "EdgeModel": "edgellm.convert",
    "quantize": "edgellm.quantize", "RECIPES": "edgellm.quantize",
    "validate": "edgellm.validate", "ValidationReport": "edgellm.validate", "Tolerance": "edgellm.validate",
    "bundle": "edgellm.bundle", "pack": "edgellm.bundle.pack", "PackResult": "edgellm.bundle.pack",
    # compress/ (PyTorch side, before conversion)
    "prune": "edgellm.compress", "PruneConfig": "edgellm.compress", "PruneResult": "edgellm.compress",
    "distill": "edgellm.compress", "DistillConfig": "edgellm.compress", "DistillResult": "edgellm.compress",
    "qat": "edgellm.compress.qat", "QatConfig": "edgellm.compress.qat", "QatResult": "edgellm.compress.qat",
    # calibrate/
    "load_samples": "edgellm.calibrate", "load_texts": "edgellm.calibrate", "CalibrationSet": "edgellm.calibrate",
    "CalibrationReport": "edgellm.calibrate", "RangeConfig": "edgellm.calibrate",
    "RangeEstimator": "edgellm.calibrate", "save_stats": "edgellm.calibrate", "load_stats": "edgellm.calibrate",
    # bench/ (runtime only)
    "benchmark": "edgellm.bench", "BenchConfig": "edgellm.bench", "BenchReport": "edgellm.bench",
    "inspect": "edgellm.bench", "InspectReport": "edgellm.bench",
    # report/ (tables and plots comparing recipes or devices)
    "ReportEntry": "edgellm.report", "write_report": "edgellm.report", "entries_from_bench": "edgellm.report",
    # optimize/ (recipe search) and the lock (edgellm verify)
    "optimize": "edgellm.optimize", "OptimizeConfig": "edgellm.optimize", "OptimizeResult": "edgellm.optimize",
    "verify": "edgellm.lock", "VerifyReport": "edgellm.lock",
    # generate/ (runtime only)
    "load_llm": "edgellm.generate", "Llm": "edgellm.generate", "GenerateConfig": "edgellm.generate",
    "SamplingConfig": "edgellm.generate", "GenerationStats": "edgellm.generate",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'edgellm' has no attribute {name!r}")
    # a verb named as its own module (export, convert, quantize, validate, bundle) is that module, made callable
    # (edgellm/_verbs.py): Python sets the module as this attribute anyway when it is first imported
    value = importlib.import_module(module) if module == f"edgellm.{name}" else \
        getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
