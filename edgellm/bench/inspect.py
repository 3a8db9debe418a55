"""``inspect``: why is this model slow? Signatures, op census, XNNPACK partitions and size, runtime-only.

What a report holds for each TFLite model (one for a ``.tflite`` or an export folder, one per ``TFLiteModel``
section of a ``.litertlm`` bundle):

    signatures   name, subgraph, inputs/outputs with dtype, shape and quantization (scale, zero point)
    op_census    primary subgraph, one row per (op, activation dtype, weight dtype) with its count and fused
                 activations: FULLY_CONNECTED float32 x int8 is dynamic-range int8, int8 x int8 is full integer
    precision    whether the graph is quantized and which compute ops stayed float in it
    xnnpack      from a real Interpreter: partitions (DELEGATE nodes), how many ops went in, and the ops left
                 out; ``breakers`` are the left-out ops sitting between two partitions (each one costs a
                 round trip out of XNNPACK and back)
    size         unique weight bytes by dtype and the largest tensors

Worked example (all-MiniLM-L6-v2, int8-dynamic, 128 tokens): 350 ops, 1 partition, 342 delegated; left out
are the embedding lookups and the mask ops on int32 ids, all before the partition, so none breaks it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edgellm.runtime.modelfile import ModelFile, read_litertlm, read_model, read_section_bytes
from edgellm.runtime.probe import probe
from edgellm.bench.target import resolve
from edgellm.errors import ConfigError, EdgeLLMError

_COMPUTE_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "TRANSPOSE_CONV", "CONV_3D",
                "EMBEDDING_LOOKUP", "GATHER"}
_INT_WEIGHTS = {"int8", "int4", "int16", "uint8", "int2", "uint4"}
_INT_ACTS = {"int8", "int16", "uint8"}
_NOT_WEIGHTS = {"int32", "int64", "bool", "string"}
FAIL_ON_METRICS = ("partitions", "undelegated")


# ---------------------------------------------------------------------------------------------- analysis
def _signatures(model: ModelFile) -> list[dict]:
    out = []
    for s in model.signatures:
        sg = model.subgraphs[s.subgraph]

        def io(mapping):
            return [{"name": n, "tensor": sg.tensors[i].name, "dtype": sg.tensors[i].dtype,
                     "shape": list(sg.tensors[i].shape_signature), "quantization": sg.tensors[i].quantization}
                    for n, i in mapping.items()]

        out.append({"name": s.name, "subgraph": s.subgraph, "inputs": io(s.inputs), "outputs": io(s.outputs)})
    return out


def _op_dtypes(model: ModelFile, sg_index: int, op) -> tuple[str, str | None]:
    """(activation dtype, weight dtype or None) of one op: first non-constant input / largest constant input."""
    sg = model.subgraphs[sg_index]
    act, weight, weight_bytes = None, None, -1
    for t in op.inputs:
        if t < 0:
            continue
        tensor = sg.tensors[t]
        size = model.constant_bytes(tensor)
        if size:
            if tensor.dtype in _NOT_WEIGHTS:  # shapes, axes, permutations, int32 biases
                continue
            if size > weight_bytes:
                weight, weight_bytes = tensor.dtype, size
        elif act is None:
            act = tensor.dtype
    if act is None and op.outputs:
        act = sg.tensors[op.outputs[0]].dtype
    return act or "-", weight


def _census(model: ModelFile, sg_index: int = 0) -> tuple[list[dict], dict]:
    rows: dict[tuple, dict] = {}
    kinds = Counter()
    float_compute = Counter()
    float_ops = Counter()  # every op left computing in float (QUANTIZE, the way into integer, excluded)
    sg = model.subgraphs[sg_index]
    for op in sg.operators:
        act, weight = _op_dtypes(model, sg_index, op)
        key = (op.op, act, weight)
        row = rows.setdefault(key, {"op": op.op, "activations": act, "weights": weight, "count": 0, "fused": {}})
        row["count"] += 1
        if op.fused_activation != "NONE":
            row["fused"][op.fused_activation] = row["fused"].get(op.fused_activation, 0) + 1
        if act in _INT_ACTS:
            kinds["integer"] += 1
        elif weight in _INT_WEIGHTS and act.startswith("float"):
            kinds["dynamic-range"] += 1
        elif op.op == "DEQUANTIZE":
            kinds["dequantize"] += 1
        else:
            kinds["float"] += 1
            if op.op != "QUANTIZE" and (act.startswith("float") or any(
                    sg.tensors[o].dtype.startswith("float") for o in op.outputs if o >= 0)):
                float_ops[op.op] += 1
            if op.op in _COMPUTE_OPS and act.startswith("float"):
                float_compute[op.op] += 1
    quantized = any(t.dtype in _INT_WEIGHTS and model.constant_bytes(t) for t in sg.tensors) or kinds["integer"] > 0
    fp16 = any(t.dtype == "float16" and model.constant_bytes(t) for t in sg.tensors)
    precision = {
        "quantized": quantized,
        "fp16_weights": fp16,
        "ops_by_kind": dict(kinds),
        "float_compute_ops": dict(float_compute) if quantized else {},
        "float_ops": dict(float_ops) if quantized else {},
    }
    census = sorted(rows.values(), key=lambda r: (-r["count"], r["op"]))
    return census, precision


def _size(model: ModelFile, file_size: int, top: int = 10) -> dict:
    seen: dict[int, tuple] = {}
    for sg in model.subgraphs:
        for t in sg.tensors:
            size = model.constant_bytes(t)
            if size and t.buffer not in seen:
                seen[t.buffer] = (t, size)
    by_dtype = Counter()
    for t, size in seen.values():
        by_dtype[t.dtype] += size
    weights = sum(by_dtype.values())
    largest = sorted(seen.values(), key=lambda x: -x[1])[:top]
    return {
        "file_bytes": file_size,
        "weights_bytes": weights,
        "other_bytes": max(file_size - weights, 0),
        "by_dtype": dict(by_dtype.most_common()),
        "largest": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "bytes": s} for t, s in largest],
    }


def _xnnpack(model: ModelFile, path: str, content: bytes | None) -> dict:
    """Load the model with XNNPACK (1 thread) and read how the delegate partitioned the primary subgraph."""
    from edgellm.runtime.litert import delegation, find_runtime, load_interpreter

    runtime = find_runtime()
    loaded = load_interpreter(runtime, None if content is not None else path, content=content, threads=1)
    d = delegation(loaded.handle)
    loaded.handle = None
    sg = model.subgraphs[0]
    names = d["nodes"]
    undelegated = d["undelegated"]
    part_of = {}
    for k, nodes in enumerate(d["partitions"]):
        for n in nodes:
            part_of[n] = k
    producer = {}
    for i, outs in d["outputs"].items():
        for t in outs:
            producer[t] = i
    consumers: dict[int, list[int]] = {}
    for i, ins in d["inputs"].items():
        for t in ins:
            consumers.setdefault(t, []).append(i)
    breakers = []
    for i in undelegated:
        from_part = {part_of[producer[t]] for t in d["inputs"][i] if t in producer and producer[t] in part_of}
        to_part = {part_of[c] for t in d["outputs"][i] for c in consumers.get(t, ()) if c in part_of}
        if from_part and to_part:
            act, weight = _op_dtypes(model, 0, sg.operators[i]) if i < len(sg.operators) else ("-", None)
            breakers.append({"node": i, "op": names[i] if i < len(names) else "?", "activations": act,
                             "between_partitions": sorted(from_part | to_part)})
    left = Counter()
    left_nodes: dict[tuple, list[int]] = {}
    for i in undelegated:
        act, _ = _op_dtypes(model, 0, sg.operators[i]) if i < len(sg.operators) else ("-", None)
        key = (names[i], act)
        left[key] += 1
        left_nodes.setdefault(key, []).append(i)
    return {
        "runtime": runtime.to_dict(),
        "applied": loaded.delegate_partitions > 0,
        "partitions": loaded.delegate_partitions,
        "total_ops": len(names),
        "delegated_ops": len(names) - len(undelegated),
        "undelegated": [{"op": op, "activations": act, "count": n, "nodes": left_nodes[(op, act)][:12]}
                        for (op, act), n in left.most_common()],
        "breakers": breakers,
        "subgraph": 0,
    }


def _analyse(model: ModelFile, path: str, content: bytes | None, runtime: bool, safe: bool = False) -> dict:
    census, precision = _census(model)
    out = {
        "section": model.section,
        "size_bytes": model.size_bytes,
        "subgraphs": [{"index": sg.index, "name": sg.name, "ops": len(sg.operators), "tensors": len(sg.tensors)}
                      for sg in model.subgraphs],
        "signatures": _signatures(model),
        "op_census": census,
        "precision": precision,
        "xnnpack": None,
        "size": _size(model, model.size_bytes),
    }
    if runtime:
        try:
            if safe and content is None:  # no hash vouches for the file: a child process loads it first
                probe("edgellm.runtime.probe:load_and_invoke", path)
            out["xnnpack"] = _xnnpack(model, path, content)
        except EdgeLLMError as e:
            out["xnnpack"] = {"error": str(e)}
    return out


# ---------------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class InspectReport:
    """What ``inspect`` found; ``to_dict()`` is the ``--format json`` output (``schema`` edgellm.inspect/1)."""

    path: str
    kind: str  # "tflite" | "export-folder" | "litertlm"
    size_bytes: int
    models: tuple[dict[str, Any], ...]
    sections: tuple[dict[str, Any], ...] = ()
    manifest: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def partitions(self) -> int | None:
        """Most XNNPACK partitions over the models (None when the runtime was not consulted)."""
        values = [m["xnnpack"]["partitions"] for m in self.models if m.get("xnnpack") and "partitions" in m["xnnpack"]]
        return max(values) if values else None

    def metric(self, name: str) -> int | None:
        if name == "partitions":
            return self.partitions
        if name == "undelegated":
            values = [m["xnnpack"]["total_ops"] - m["xnnpack"]["delegated_ops"] for m in self.models
                      if m.get("xnnpack") and "total_ops" in m["xnnpack"]]
            return max(values) if values else None
        raise ConfigError(f"unknown --fail-on metric {name!r}; known: {', '.join(FAIL_ON_METRICS)}")

    def failures(self, limits: dict[str, int]) -> list[str]:
        """One line per limit exceeded, e.g. ``partitions: 3 > 1``; a limit that cannot be measured fails too."""
        out = []
        for name, limit in limits.items():
            value = self.metric(name)
            if value is None:
                out.append(f"{name}: not measured (no runtime to load the model with)")
            elif value > limit:
                out.append(f"{name}: {value} > {limit}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "edgellm.inspect/1",
            "model": {"path": self.path, "kind": self.kind, "size_bytes": self.size_bytes},
            "sections": list(self.sections),
            "models": list(self.models),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def parse_fail_on(items: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``["partitions:1"]`` -> ``{"partitions": 1}``; ConfigError naming the known metrics otherwise."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or name not in FAIL_ON_METRICS or not value.strip().isdigit():
            raise ConfigError(f"--fail-on {item!r} is not METRIC:N with METRIC one of {', '.join(FAIL_ON_METRICS)} "
                              "and N >= 0, e.g. partitions:1")
        out[name] = int(value)
    return out


def inspect(path: str | os.PathLike, *, runtime: bool = True, verify: bool = True) -> InspectReport:
    """Inspect a ``.tflite``, an export folder or a ``.litertlm`` bundle (its TFLite sections).

    ``runtime=False`` skips loading the model into an interpreter (no ``xnnpack`` section): the rest is read
    from the flatbuffer alone and needs nothing but the standard library. ``verify``: an export folder's files
    must match edgellm.json's sizes and sha256; a .tflite no hash vouches for is loaded in a child process first.
    """
    if not isinstance(getattr(path, "path", path), (str, os.PathLike)):  # an EdgeModel has .path
        raise ConfigError(f"path must be a str or pathlib.Path (or a model with .path); got {type(path).__name__}")
    if not isinstance(runtime, bool):
        raise ConfigError(f"runtime must be True or False; got {runtime!r}")
    target = resolve(path, verify=verify)
    size = target.model_path.stat().st_size
    if target.kind == "litertlm":
        sections, models = read_litertlm(target.model_path)
        analysed = []
        tflite_sections = [s for s in sections if s.kind == "TFLiteModel"]
        for section, model in zip(tflite_sections, models):
            content = read_section_bytes(target.model_path, section) if runtime else None
            analysed.append(_analyse(model, str(target.model_path), content, runtime))
        return InspectReport(
            str(target.model_path), "litertlm", size, tuple(analysed),
            tuple({"index": s.index, "type": s.kind, "begin": s.begin, "end": s.end, "bytes": s.end - s.begin,
                   "items": s.items} for s in sections),
        )
    model = read_model(target.model_path)
    return InspectReport(str(target.model_path), target.kind, size,
                         (_analyse(model, str(target.model_path), None, runtime, safe=not target.verified),), (),
                         target.manifest)
