"""Quantized model outputs (`--io-type int8`): the caller gets int8 tensors and their scale / zero point.

Integer-only runtimes (NPUs, DSPs, microcontrollers) want no float at the graph boundary. Token-id inputs are
int32 already and stay so; every float output becomes int8:

  - an output that ai-edge-quantizer produced as DEQUANTIZE(int8 tensor) is rewired to the int8 tensor (the
    DEQUANTIZE is dropped: no extra error);
  - any other float output gets a QUANTIZE op with a per-tensor asymmetric range measured on the calibration
    samples through the float model (``output_ranges``).

The scale and zero point of each output land in edgellm.json (`outputs[].quantization`), where apps read them:
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
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=os.cpu_count() or 1)
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


def quantize_outputs(content: bytes, ranges: Mapping[str, tuple[float, float]]) -> bytes:
    """``content`` with every float signature output made int8 (see the module docstring)."""
    flatbuffer_utils = require("ai_edge_litert.tools.flatbuffer_utils", "convert")
    schema = require("ai_edge_litert.schema_py_generated", "convert")
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    codes = [flatbuffer_utils.get_builtin_code_from_operator_code(c) for c in model.operatorCodes]

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
            tensor = subgraph.tensors[index]
            if tensor.type != schema.TensorType.FLOAT32:
                continue
            new_index = _drop_output_dequantize(subgraph, index, codes, schema)
            if new_index is None:
                new_index = _append_quantize(subgraph, index, int8_params(*ranges[name]),
                                             opcode(schema.BuiltinOperator.QUANTIZE), schema)
            subgraph.outputs = [new_index if i == index else i for i in subgraph.outputs]
            output.tensorIndex = new_index
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _consumers(subgraph: Any, index: int) -> list[Any]:
    return [op for op in subgraph.operators if index in list(op.inputs)]


def _drop_output_dequantize(subgraph: Any, index: int, codes: list[int], schema: Any) -> int | None:
    """The int8 input of the DEQUANTIZE that produces output ``index`` (that op removed), or None."""
    for op in subgraph.operators:
        if index in list(op.outputs) and codes[op.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE:
            source = int(op.inputs[0])
            if subgraph.tensors[source].type == schema.TensorType.INT8 and not _consumers(subgraph, index):
                subgraph.operators.remove(op)
                return source
    return None


def _append_quantize(subgraph: Any, index: int, params: tuple[float, int], opcode_index: int, schema: Any) -> int:
    """A new int8 tensor = QUANTIZE(tensor ``index``), appended after every op; its index."""
    source = subgraph.tensors[index]
    tensor = schema.TensorT()
    tensor.shape, tensor.shapeSignature = source.shape, source.shapeSignature
    tensor.type, tensor.buffer = schema.TensorType.INT8, 0  # buffer 0: the empty one (not a constant)
    tensor.name = (source.name.decode() if isinstance(source.name, bytes) else source.name) + "_int8"
    tensor.quantization = schema.QuantizationParametersT()
    tensor.quantization.scale, tensor.quantization.zeroPoint = [params[0]], [params[1]]
    subgraph.tensors.append(tensor)
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode_index, [index], [len(subgraph.tensors) - 1]
    op.builtinOptionsType = schema.BuiltinOptions.QuantizeOptions
    op.builtinOptions = schema.QuantizeOptionsT()
    subgraph.operators.append(op)
    return len(subgraph.tensors) - 1
