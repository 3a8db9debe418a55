"""Read and check a ``.tflite`` flatbuffer (or the TFLite sections of a ``.litertlm`` bundle) in pure Python.

Every offset is bounds-checked against the file, so a truncated or corrupted file raises one
``ModelFileError`` here instead of reaching the interpreter's C++ loader. The same parse feeds
``edgellm inspect`` (op census, sizes by dtype) and the bench input builder (vocabulary size behind an
``input_ids`` input). Only the standard library is used: no ``flatbuffers`` or schema package, so it works
with tflite-runtime on a 32-bit Raspberry Pi too.

A flatbuffer, in the three shapes read below (all little-endian):
    table   at p: int32 soffset at p; vtable at p - soffset = [u16 vtable_len, u16 table_len, u16 field_off...]
    vector  at q: u32 length n, then n elements (scalars inline, tables/strings as u32 offsets relative to slot)
    string  at q: u32 length n, then n bytes of UTF-8 and a NUL
A ``.tflite`` is a ``Model`` table whose root offset is the first u32 and whose file identifier is ``TFL3``.
Buffers of models over 2 GB live after the flatbuffer, addressed by ``Buffer.offset``/``size`` from the start
of the file.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from edgellm.runtime._schema_names import (
    ACTIVATIONS,
    BUILTIN_OPERATORS,
    FUSED_ACTIVATION_SLOT,
    TENSOR_TYPE_BYTES,
    TENSOR_TYPES,
)
from edgellm.errors import ModelFileError

TFLITE_IDENTIFIER = b"TFL3"
LITERTLM_MAGIC = b"LITERTLM"
_LITERTLM_HEADER_BEGIN = 32  # the header flatbuffer starts here; its end offset is the u64 at byte 24
_LITERTLM_TFLITE_MODEL = 3  # AnySectionDataType.TFLiteModel in litertlm_header_schema.fbs
_LITERTLM_SECTION_TYPES = {
    0: "NONE", 1: "GenericBinaryData", 2: "Deprecated", 3: "TFLiteModel", 4: "SP_Tokenizer",
    5: "LlmMetadataProto", 6: "HF_Tokenizer_Zlib", 7: "TFLiteWeights", 8: "EmbeddingMetadataProto",
    9: "ExecutorMetadataProto", 10: "TtsMetadataProto", 11: "AsrMetadataProto",
}


class _Corrupt(Exception):
    """Internal: an offset or length points outside the file; turned into ModelFileError by the caller."""


# ---------------------------------------------------------------------------------------------- reader
_U16 = struct.Struct("<H").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from


class _Reader:
    """Bounds-checked little-endian reads over ``data[base:end]`` (offsets are relative to ``base``)."""

    def __init__(self, data, base: int = 0, end: int | None = None):
        self.data = data
        self.base = base
        self.end = len(data) if end is None else end
        self.size = self.end - base

    def _at(self, pos: int, n: int) -> int:
        if pos < 0 or pos + n > self.size:
            raise _Corrupt(f"offset {pos}+{n} is outside the {self.size}-byte flatbuffer")
        return self.base + pos

    def u8(self, pos: int) -> int:
        return self.data[self._at(pos, 1)]

    def u16(self, pos: int) -> int:
        if pos < 0 or pos + 2 > self.size:
            self._at(pos, 2)
        return _U16(self.data, self.base + pos)[0]

    def i32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > self.size:
            self._at(pos, 4)
        return _I32(self.data, self.base + pos)[0]

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > self.size:
            self._at(pos, 4)
        return _U32(self.data, self.base + pos)[0]

    def u64(self, pos: int) -> int:
        return _U64(self.data, self._at(pos, 8))[0]

    def bytes(self, pos: int, n: int) -> bytes:
        start = self._at(pos, n)
        return bytes(self.data[start:start + n])

    # -- tables
    def field(self, table: int, slot: int) -> int:
        """Absolute position of field ``slot`` of the table at ``table``, or 0 when absent (default value)."""
        vtable = table - self.i32(table)
        vtable_len = self.u16(vtable)
        if vtable_len < 4 or vtable_len % 2:
            raise _Corrupt(f"vtable at {vtable} has length {vtable_len}")
        entry = 4 + 2 * slot
        if entry >= vtable_len:
            return 0
        off = self.u16(vtable + entry)
        return table + off if off else 0

    def scalar(self, table: int, slot: int, kind: str, default=0):
        pos = self.field(table, slot)
        if not pos:
            return default
        return {"u8": self.u8, "i32": self.i32, "u32": self.u32, "u64": self.u64, "u16": self.u16}[kind](pos)

    def table(self, table: int, slot: int) -> int:
        pos = self.field(table, slot)
        return pos + self.u32(pos) if pos else 0

    def vector(self, table: int, slot: int, elem_size: int) -> tuple[int, int]:
        """(start, length) of the vector in field ``slot``; (0, 0) when absent."""
        pos = self.field(table, slot)
        if not pos:
            return 0, 0
        vec = pos + self.u32(pos)
        n = self.u32(vec)
        self._at(vec + 4, n * elem_size)  # the whole vector must be inside the buffer
        return vec + 4, n

    def ints(self, table: int, slot: int, fmt: str = "i") -> list:
        start, n = self.vector(table, slot, struct.calcsize("<" + fmt))
        if not n:
            return []
        return list(struct.unpack_from(f"<{n}{fmt}", self.data, self.base + start))

    def tables(self, table: int, slot: int) -> list[int]:
        start, n = self.vector(table, slot, 4)
        return [start + 4 * i + self.u32(start + 4 * i) for i in range(n)]

    def string(self, table: int, slot: int) -> str | None:
        pos = self.field(table, slot)
        if not pos:
            return None
        s = pos + self.u32(pos)
        n = self.u32(s)
        return self.bytes(s + 4, n).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------- model
@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    dtype: str  # numpy-style name: float32, int8, ...
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]  # -1 where a dimension is dynamic
    buffer: int  # index into ModelFile.buffer_sizes; 0 = no data
    scales: tuple[float, ...] = ()
    zero_points: tuple[int, ...] = ()
    quantized_dimension: int = 0
    is_variable: bool = False

    @property
    def quantization(self) -> dict | None:
        if not self.scales:
            return None
        q = {"scale": list(self.scales) if len(self.scales) > 1 else self.scales[0],
             "zero_point": list(self.zero_points) if len(self.zero_points) > 1 else
             (self.zero_points[0] if self.zero_points else 0)}
        if len(self.scales) > 1:
            q["quantized_dimension"] = self.quantized_dimension
        return q

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= max(d, 0)
        return n


@dataclass(frozen=True)
class Operator:
    index: int
    op: str  # BuiltinOperator name, or CUSTOM:<code>
    inputs: tuple[int, ...]  # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]
    fused_activation: str = "NONE"
    gather_axis: int = 0  # GATHER only


@dataclass(frozen=True)
class Subgraph:
    index: int
    name: str
    tensors: tuple[Tensor, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    operators: tuple[Operator, ...]


@dataclass(frozen=True)
class Signature:
    name: str
    subgraph: int
    inputs: dict[str, int]  # signature input name -> tensor index in that subgraph (file order)
    outputs: dict[str, int]


@dataclass(frozen=True)
class ModelFile:
    """The parsed structure of one TFLite flatbuffer; ``buffer_sizes[i]`` is the byte size of buffer i."""

    path: str
    size_bytes: int  # of the flatbuffer (the section, inside a .litertlm)
    version: int
    description: str
    subgraphs: tuple[Subgraph, ...]
    signatures: tuple[Signature, ...]
    buffer_sizes: tuple[int, ...]
    metadata: dict[str, int] = field(default_factory=dict)  # name -> buffer index
    section: str | None = None  # "TFLiteModel[i] <model_type>" inside a .litertlm

    def signature(self, name: str | None = None) -> Signature:
        if name is None:
            return self.signatures[0]
        for s in self.signatures:
            if s.name == name:
                return s
        raise ModelFileError(
            f"{self.path} has no signature {name!r}; it has: {', '.join(s.name for s in self.signatures)}"
        )

    def constant_bytes(self, tensor: Tensor) -> int:
        return self.buffer_sizes[tensor.buffer] if 0 < tensor.buffer < len(self.buffer_sizes) else 0


@dataclass(frozen=True)
class Section:
    """One section of a ``.litertlm`` bundle: its type, byte range in the file and key/value items."""

    index: int
    kind: str
    begin: int
    end: int
    items: dict[str, str]


def _op_name(r: _Reader, code: int) -> str:
    deprecated = r.scalar(code, 0, "u8")
    builtin = r.scalar(code, 3, "i32")
    value = max(deprecated, builtin)  # schema rule: the larger of the two is the real code
    if value == 32:  # CUSTOM
        return f"CUSTOM:{r.string(code, 1) or '?'}"
    return BUILTIN_OPERATORS[value] if 0 <= value < len(BUILTIN_OPERATORS) else f"BUILTIN_{value}"


def _parse_tflite(r: _Reader, path: str, file_size: int, section: str | None) -> ModelFile:
    if r.size < 8:
        raise _Corrupt(f"it is {r.size} bytes, too short for a flatbuffer")
    ident = r.bytes(4, 4)
    if ident != TFLITE_IDENTIFIER:
        raise _NotTFLite(ident)
    model = r.u32(0)
    version = r.scalar(model, 0, "u32")

    opnames = [_op_name(r, c) for c in r.tables(model, 1)]

    buffer_sizes = []
    for b in r.tables(model, 4):
        _, n = r.vector(b, 0, 1)
        offset, size = r.scalar(b, 1, "u64"), r.scalar(b, 2, "u64")
        if offset > 1:  # data after the flatbuffer (models > 2 GB); offset is from the start of the flatbuffer
            if offset + size > r.size:
                raise _Corrupt(f"buffer {len(buffer_sizes)} spans bytes {offset}..{offset + size} "
                               f"but the file ends at {r.size} (truncated?)")
            n = size
        buffer_sizes.append(n)

    subgraphs = []
    for si, sg in enumerate(r.tables(model, 2)):
        tensors = []
        for ti, t in enumerate(r.tables(sg, 0)):
            code = r.scalar(t, 1, "u8")
            dtype = TENSOR_TYPES[code] if code < len(TENSOR_TYPES) else f"type_{code}"
            buf = r.scalar(t, 2, "u32")
            if buf >= len(buffer_sizes) and buffer_sizes:
                raise _Corrupt(f"tensor {ti} of subgraph {si} points at buffer {buf}; there are {len(buffer_sizes)}")
            shape = tuple(r.ints(t, 0))
            sig = tuple(r.ints(t, 7)) or shape
            scales: tuple = ()
            zps: tuple = ()
            qdim = 0
            q = r.table(t, 4)
            if q:
                scales = tuple(r.ints(q, 2, "f"))
                zps = tuple(r.ints(q, 3, "q"))
                qdim = r.scalar(q, 6, "i32")
            tensors.append(Tensor(ti, r.string(t, 3) or "", dtype, shape, sig, buf, scales, zps, qdim,
                                  bool(r.scalar(t, 5, "u8"))))
            nbytes = TENSOR_TYPE_BYTES.get(dtype, 0)
            data = buffer_sizes[buf] if 0 < buf < len(buffer_sizes) else 0
            if data and nbytes and not r.table(t, 6) and all(d >= 0 for d in shape):
                need = tensors[-1].num_elements * nbytes
                if data != need:
                    raise _Corrupt(f"tensor {ti} ({tensors[-1].name!r}, {dtype}{list(shape)}) needs {need} bytes "
                                   f"of data but its buffer {buf} has {data}")
        nt = len(tensors)

        def _check(idx, what, _si=si, _nt=nt):
            for i in idx:
                if not -1 <= i < _nt:
                    raise _Corrupt(f"{what} of subgraph {_si} refers to tensor {i}; the subgraph has {_nt}")
            return tuple(idx)

        ops = []
        for oi, o in enumerate(r.tables(sg, 3)):
            code = r.scalar(o, 0, "u32")
            if code >= len(opnames):
                raise _Corrupt(f"operator {oi} of subgraph {si} uses opcode {code}; there are {len(opnames)}")
            name = opnames[code]
            act, axis = "NONE", 0
            opts = r.table(o, 4)
            if opts and name in FUSED_ACTIVATION_SLOT:
                a = r.scalar(opts, FUSED_ACTIVATION_SLOT[name], "u8")
                act = ACTIVATIONS[a] if a < len(ACTIVATIONS) else str(a)
            if opts and name == "GATHER":
                axis = r.scalar(opts, 0, "i32")
            ops.append(Operator(oi, name, _check(r.ints(o, 1), f"operator {oi} inputs"),
                                _check(r.ints(o, 2), f"operator {oi} outputs"), act, axis))
        subgraphs.append(Subgraph(si, r.string(sg, 4) or "", tuple(tensors),
                                  _check(r.ints(sg, 1), "inputs"), _check(r.ints(sg, 2), "outputs"), tuple(ops)))

    signatures = []
    for s in r.tables(model, 7):
        key = r.string(s, 2) or "serving_default"
        sub = r.scalar(s, 4, "u32")
        if sub >= len(subgraphs):
            raise _Corrupt(f"signature {key!r} points at subgraph {sub}; there are {len(subgraphs)}")
        nt = len(subgraphs[sub].tensors)
        maps = []
        for slot in (0, 1):
            m = {}
            for tm in r.tables(s, slot):
                idx = r.scalar(tm, 1, "u32")
                if idx >= nt:
                    raise _Corrupt(f"signature {key!r} refers to tensor {idx}; subgraph {sub} has {nt}")
                m[r.string(tm, 0) or f"tensor_{idx}"] = idx
            maps.append(m)
        signatures.append(Signature(key, sub, maps[0], maps[1]))
    if not signatures and subgraphs:  # old converters wrote no SignatureDef: treat subgraph 0 as one
        sg0 = subgraphs[0]
        signatures.append(Signature("serving_default", 0,
                                    {sg0.tensors[i].name: i for i in sg0.inputs},
                                    {sg0.tensors[i].name: i for i in sg0.outputs}))
    if not subgraphs:
        raise _Corrupt("it has no subgraph")

    metadata = {}
    for m in r.tables(model, 6):
        metadata[r.string(m, 0) or ""] = r.scalar(m, 1, "u32")

    return ModelFile(path, r.size, version, r.string(model, 3) or "", tuple(subgraphs), tuple(signatures),
                     tuple(buffer_sizes), metadata, section)


class _NotTFLite(Exception):
    def __init__(self, ident: bytes):
        super().__init__(ident)
        self.ident = ident


# VData union of litertlm_header_schema.fbs: type code -> struct format of the wrapper table's slot 0.
_VDATA_FORMATS = {1: "B", 2: "b", 3: "H", 4: "h", 5: "I", 6: "i", 7: "f", 8: "?", 10: "Q", 11: "q", 12: "d"}
_VDATA_STRING = 9


def _litertlm_value(r: _Reader, kv: int) -> str:
    kind = r.scalar(kv, 1, "u8")
    value = r.table(kv, 2)
    if not value:
        return ""
    if kind == _VDATA_STRING:
        return r.string(value, 0) or ""
    fmt = _VDATA_FORMATS.get(kind)
    if fmt is None:
        return f"<type {kind}>"
    pos = r.field(value, 0)
    if not pos:
        return "0"
    return str(struct.unpack_from("<" + fmt, r.data, r._at(pos, struct.calcsize(fmt)))[0])


# ---------------------------------------------------------------------------------------------- entry points
def _open(path: Path):
    if not path.exists():
        raise ModelFileError(f"{path} does not exist; pass a .tflite file, a .litertlm bundle or an export folder")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{path} is empty (0 bytes); re-export the model")
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), size


def read_model(path: str | os.PathLike) -> ModelFile:
    """Parse and check a ``.tflite`` file; raise ModelFileError (one line) when it is truncated or corrupt.

    Example: a file cut at half its size fails with
    ``model.tflite is not a valid TFLite flatbuffer (offset 79728+4 is outside the 39872-byte flatbuffer); ...``
    """
    path = Path(path)
    data, size = _open(path)
    try:
        if data[:8] == LITERTLM_MAGIC:
            raise ModelFileError(f"{path} is a .litertlm bundle, not a .tflite flatbuffer; "
                                 f"use `edgellm inspect {path}` to read its TFLite sections")
        return _parse_tflite(_Reader(data), str(path), size, None)
    except _NotTFLite as e:
        raise ModelFileError(
            f"{path} is not a TFLite flatbuffer (file identifier {e.ident!r}, expected {TFLITE_IDENTIFIER!r}); "
            "pass the model.tflite of an export folder"
        ) from None
    except (_Corrupt, struct.error, IndexError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFileError(
            f"{path} is not a valid TFLite flatbuffer ({e}); the file is truncated or corrupted: re-export or copy it again"
        ) from None
    finally:
        data.close()


def read_litertlm(path: str | os.PathLike) -> tuple[tuple[Section, ...], tuple[ModelFile, ...]]:
    """The sections of a ``.litertlm`` bundle and the parsed TFLite model of each ``TFLiteModel`` section."""
    path = Path(path)
    data, size = _open(path)
    try:
        if data[:8] != LITERTLM_MAGIC:
            raise ModelFileError(f"{path} is not a .litertlm bundle (no LITERTLM magic at byte 0)")
        head = _Reader(data)
        major = head.u32(8)
        header_end = head.u64(24)
        if not _LITERTLM_HEADER_BEGIN < header_end <= size:
            raise _Corrupt(f"header ends at {header_end}, file is {size} bytes")
        r = _Reader(data, _LITERTLM_HEADER_BEGIN, header_end)
        root = r.u32(0)
        sections, models = [], []
        meta = r.table(root, 1)
        for i, obj in enumerate(r.tables(meta, 0) if meta else []):
            begin, end = r.scalar(obj, 1, "u64"), r.scalar(obj, 2, "u64")
            kind_code = r.scalar(obj, 3, "u8")
            kind = _LITERTLM_SECTION_TYPES.get(kind_code, f"type_{kind_code}")
            items = {}
            for kv in r.tables(obj, 0):
                key = r.string(kv, 0) or ""
                items[key] = _litertlm_value(r, kv)
            if not 0 <= begin <= end <= size:
                raise _Corrupt(f"section {i} spans bytes {begin}..{end}; the file is {size} bytes (truncated?)")
            sections.append(Section(i, kind, begin, end, items))
            if kind_code == _LITERTLM_TFLITE_MODEL:
                label = f"TFLiteModel[{i}]" + (f" {items['model_type']}" if "model_type" in items else "")
                try:
                    models.append(_parse_tflite(_Reader(data, begin, end), str(path), size, label))
                except _NotTFLite as e:
                    raise _Corrupt(f"section {i} is typed TFLiteModel but starts with identifier {e.ident!r}") from None
        return tuple(sections), tuple(models)
    except (_Corrupt, struct.error, IndexError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFileError(
            f"{path} is not a valid .litertlm bundle ({e}); the file is truncated or corrupted (format v{major if 'major' in locals() else '?'})"
        ) from None
    finally:
        data.close()


def read_section_bytes(path: str | os.PathLike, section: Section) -> bytes:
    """The bytes of one bundle section (a TFLite model the interpreter can load with ``model_content``)."""
    with open(path, "rb") as f:
        f.seek(section.begin)
        return f.read(section.end - section.begin)
