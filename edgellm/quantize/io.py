"""Quantized model outputs (`--io-type int8`): the caller gets int8 tensors and their scale / zero point.

Integer-only runtimes (NPUs, DSPs, microcontrollers) want no float at the graph boundary. Token-id inputs are
int32 already and stay so; every float output becomes int8:

  - an output that ai-edge-quantizer produced as DEQUANTIZE(int8 tensor) is rewired to the int8 tensor (the
    DEQUANTIZE is dropped: no extra error); DEQUANTIZE(int16 tensor) becomes QUANTIZE(int16 -> int8);
  - an int16 output (int8-full, int16x8) gets a QUANTIZE(int16 -> int8);
  - any other float output gets a QUANTIZE op with a per-tensor asymmetric range measured on the calibration
    samples through the float model (``output_ranges``).

With io_type "float" (the default) an integer output is dequantized instead, so the caller always gets float.
The scale and zero point of each int8 output land in edgellm.json (`outputs[].quantization`), where apps read them:
real = scale * (q - zero_point). Example: range [-0.31, 0.29] -> scale 0.6 / 255 = 0.00235, zero point
round(-128 + 0.31 / 0.00235) = 4.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from edgellm.errors import require

IO_TYPES = ("float", "int8")


def output_ranges(content: bytes, rows: Mapping[str, Sequence[Mapping[str, np.ndarray]]]
                  ) -> dict[str, tuple[float, float]]:
    """{output name: (min, max)} over every calibration sample of every signature (rows: signature_samples)."""
    from edgellm.runtime import new_interpreter

    interpreter = new_interpreter(content=content, threads=os.cpu_count() or 1)
    ranges: dict[str, tuple[float, float]] = {}
    for signature, samples in rows.items():
        runner = interpreter.get_signature_runner(signature)
        for sample in samples:
            for name, value in runner(**sample).items():
                lo, hi = float(np.min(value)), float(np.max(value))
                old = ranges.get(name, (lo, hi))
                ranges[name] = (min(old[0], lo), max(old[1], hi))
    return ranges


def int8_params(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 scale and zero point for [lo, hi], widened to hold 0 (TFLite's convention).

    >>> int8_params(-0.31, 0.29)
    (0.002352941176470588, 4)
    """
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 or 1.0
    return scale, int(np.clip(round(-128 - lo / scale), -128, 127))


def quantize_outputs(content: bytes, ranges: Mapping[str, tuple[float, float]], io_type: str = "int8") -> bytes:
    """``content`` with every signature output of the ``io_type`` dtype (see the module docstring).

    io_type "float" only dequantizes integer outputs (ai-edge-quantizer leaves an output int16 when the op that
    makes it is int16); ``ranges`` is then unused.
    """
    flatbuffer_utils = require("ai_edge_litert.tools.flatbuffer_utils", "convert")
    schema = require("ai_edge_litert.schema_py_generated", "convert")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))  # weights stay where they are
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]
    integer = (schema.TensorType.INT8, schema.TensorType.INT16)
    changed = False

    def opcode(builtin: int) -> int:
        if builtin not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
            model.operatorCodes.append(code)
            codes.append(builtin)
        return codes.index(builtin)

    for signature in model.signatureDefs:
        subgraph = model.subgraphs[signature.subgraphIndex]
        for output in signature.outputs:
            name = output.name.decode() if isinstance(output.name, bytes) else output.name
            index = output.tensorIndex
            kind = subgraph.tensors[index].type
            if io_type == "float":
                if kind not in integer:
                    continue
                new_index = _append(subgraph, index, schema.TensorType.FLOAT32, None,
                                    opcode(schema.BuiltinOperator.DEQUANTIZE), schema)
            else:
                if kind == schema.TensorType.INT8:
                    continue
                source = index if kind in integer else _drop_output_dequantize(subgraph, index, codes, schema)
                if source is not None and subgraph.tensors[source].type == schema.TensorType.INT8:
                    new_index = source
                else:  # requantize an int16 tensor directly, else quantize the float output
                    new_index = _append(subgraph, index if source is None else source, schema.TensorType.INT8,
                                        int8_params(*ranges[name]), opcode(schema.BuiltinOperator.QUANTIZE), schema)
            subgraph.outputs = [new_index if i == index else i for i in subgraph.outputs]
            output.tensorIndex, changed = new_index, True
    return _pack(model, content, flatbuffer_utils) if changed else content


def _pack(model: Any, content: bytes, flatbuffer_utils: Any) -> bytes:
    """Serialize ``model``; weights that ``content`` stores after the flatbuffer (ai-edge-quantizer writes buffers
    by offset) are copied over as they are, their offsets moved by how much the flatbuffer grew. Unpacking them
    into Python objects instead takes minutes on a 90 MB model."""
    stored = [b for b in model.buffers if b.offset > 1]
    if not stored:
        return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
    start = min(b.offset for b in stored)
    packed = flatbuffer_utils.convert_object_to_bytearray(model)  # offsets are fixed-size: length is final
    new_start = start + -(-(len(packed) - start) // 64) * 64  # same alignment as before, past the flatbuffer
    for b in stored:
        b.offset += new_start - start
    packed = flatbuffer_utils.convert_object_to_bytearray(model)
    return bytes(packed) + bytes(new_start - len(packed)) + content[start:]


def _consumers(subgraph: Any, index: int) -> list[Any]:
    return [op for op in subgraph.operators if index in list(op.inputs)]


def _drop_output_dequantize(subgraph: Any, index: int, codes: list[int], schema: Any) -> int | None:
    """The int8/int16 input of the DEQUANTIZE that produces output ``index`` (that op removed), or None."""
    integer = (schema.TensorType.INT8, schema.TensorType.INT16)
    for op in subgraph.operators:
        if index in list(op.outputs) and codes[op.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE:
            source = int(op.inputs[0])
            if subgraph.tensors[source].type in integer and not _consumers(subgraph, index):
                subgraph.operators.remove(op)
                return source
    return None


def _append(subgraph: Any, index: int, kind: int, params: tuple[float, int] | None, opcode_index: int,
            schema: Any) -> int:
    """A new tensor of type ``kind`` = QUANTIZE or DEQUANTIZE(tensor ``index``), appended after every op; its index."""
    source = subgraph.tensors[index]
    tensor = schema.TensorT()
    tensor.shape, tensor.shapeSignature = source.shape, source.shapeSignature
    tensor.type, tensor.buffer = kind, 0  # buffer 0: the empty one (not a constant)
    name = source.name.decode() if isinstance(source.name, bytes) else source.name
    tensor.name = name + ("_int8" if params else "_dequantized")
    if params is not None:
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale, tensor.quantization.zeroPoint = [params[0]], [params[1]]
    subgraph.tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode_index, [index], [len(subgraph.tensors) - 1]
    if params is not None:
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.QuantizeOptions, schema.QuantizeOptionsT()
    else:
        op.builtinOptionsType = schema.BuiltinOptions.DequantizeOptions
        op.builtinOptions = schema.DequantizeOptionsT()
    subgraph.operators.append(op)
    return len(subgraph.tensors) - 1
