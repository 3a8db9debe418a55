"""Valid inputs for a benchmark, built without torch or transformers.

Four sources, in the order ``benchmark`` picks them:
    file        an .npz keyed by signature input name; names, shapes, dtypes and id ranges are checked
    text-file   export folder + one sample per line: each tokenized and run at the smallest signature whose
                sequence length fits (statistics are then per sample, over the file)
    text        export folder: a built-in English paragraph, tokenized with the folder's tokenizer.json
    random      bare .tflite (or no ``tokenizers`` package): token ids drawn inside the vocabulary, masks of ones

"Inside the vocabulary" is read off the graph: an int input is followed through CAST/RESHAPE-like ops to the
GATHER / EMBEDDING_LOOKUP it indexes, and the table's row count bounds the ids. That is what
``litert-benchmark`` lacks: it fills int32 inputs with [-128, 127] and the lookup fails on the first
negative id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgellm.runtime.modelfile import ModelFile, Signature, Tensor
from edgellm.runtime.litert import NUMPY_DTYPES
from edgellm.bench.target import Target
from edgellm.errors import ConfigError, ModelFileError

# About 150 WordPiece tokens of plain English, so a 128-token signature is filled the way a real paragraph
# fills it. Content does not change the cost of a fixed-shape encoder; length and padding do.
DEFAULT_TEXT = (
    "Running a language model on the device itself keeps the text private, answers without a network round "
    "trip and keeps working on a train in a tunnel. The price is paid in memory and battery: a phone or a "
    "Raspberry Pi has a few cores, a few gigabytes of memory shared with everything else, and no patience for "
    "a model that takes a second per sentence. Quantization shrinks the weights to eight bits, the XNNPACK "
    "delegate runs the matrix products with the vector units of the CPU, and a careful benchmark tells which "
    "recipe is worth shipping. This paragraph is long enough to fill a sequence of one hundred and twenty-eight "
    "tokens, so the timing reflects a full input rather than a short greeting padded with zeros."
)

_PASS_THROUGH = {"CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "IDENTITY", "QUANTIZE", "DEQUANTIZE"}
_TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]
    rows: int | None = None  # ids must be < rows (the lookup table this input indexes), None = no lookup

    def describe(self) -> str:
        return f"{self.name} {self.dtype}{list(self.shape)}"


@dataclass
class Samples:
    """Input arrays ready to set: one entry for a fixed input, one per text line with ``text-file``."""

    source: str  # "file" | "text-file" | "text" | "random"
    items: list[tuple[str, dict[str, np.ndarray]]]  # (signature name, {input name: array})
    note: str | None = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "samples": len(self.items), "note": self.note, **self.info}


# ---------------------------------------------------------------------------------------------- specs
def lookup_rows(model: ModelFile, sig: Signature) -> dict[int, int]:
    """Input tensor index -> rows of the smallest lookup table it indexes (through pass-through ops)."""
    sg = model.subgraphs[sig.subgraph]
    consumers: dict[int, list] = {}
    for op in sg.operators:
        for pos, t in enumerate(op.inputs):
            if t >= 0:
                consumers.setdefault(t, []).append((op, pos))
    out = {}
    for t0 in sig.inputs.values():
        rows, stack, seen = None, [t0], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            for op, pos in consumers.get(t, ()):
                table = None
                if op.op == "GATHER" and pos == 1:
                    params = sg.tensors[op.inputs[0]]
                    axis = op.gather_axis % max(len(params.shape), 1)
                    table = params.shape[axis] if params.shape else None
                elif op.op == "EMBEDDING_LOOKUP" and pos == 0:
                    table = sg.tensors[op.inputs[1]].shape[0] if sg.tensors[op.inputs[1]].shape else None
                elif op.op == "GATHER_ND" and pos == 1:
                    params, idx = sg.tensors[op.inputs[0]], sg.tensors[op.inputs[1]]
                    k = idx.shape[-1] if idx.shape else 1
                    dims = [d for d in params.shape[:k] if d > 0]
                    table = min(dims) if dims else None
                elif op.op in _PASS_THROUGH and pos == 0:
                    stack.extend(o for o in op.outputs if o >= 0)
                if table is not None and table > 0:
                    rows = table if rows is None else min(rows, table)
        if rows is not None:
            out[t0] = rows
    return out


def input_specs(model: ModelFile, sig: Signature) -> list[InputSpec]:
    sg = model.subgraphs[sig.subgraph]
    rows = lookup_rows(model, sig)
    specs = []
    for name, idx in sig.inputs.items():
        t: Tensor = sg.tensors[idx]
        if any(d < 0 for d in t.shape_signature) and t.shape_signature != t.shape:
            raise ConfigError(
                f"input {name!r} of signature {sig.name!r} has a dynamic shape {list(t.shape_signature)}; "
                "edgellm bench times fixed shapes: export with a fixed sequence length"
            )
        if t.dtype not in NUMPY_DTYPES:
            raise ConfigError(f"input {name!r} has dtype {t.dtype}, which edgellm bench cannot fill")
        specs.append(InputSpec(name, t.dtype, tuple(t.shape), rows.get(idx)))
    return specs


def sequence_length(specs: list[InputSpec]) -> int | None:
    """The token dimension of a signature: dim 1 of ``input_ids`` (or of the first rank-2 int input)."""
    by_name = {s.name: s for s in specs}
    cand = by_name.get("input_ids") or next((s for s in specs if s.dtype.startswith("int") and len(s.shape) == 2),
                                            None)
    return cand.shape[1] if cand is not None and len(cand.shape) >= 2 else None


# ---------------------------------------------------------------------------------------------- random
def random_inputs(specs: list[InputSpec], seed: int = 0) -> tuple[dict[str, np.ndarray], list[str]]:
    """Valid random arrays: ids inside the lookup table, masks of ones; returns (arrays, notes)."""
    rng = np.random.default_rng(seed)
    arrays, zeros = {}, []  # zeros: int inputs that index no table
    for s in specs:
        dt = NUMPY_DTYPES[s.dtype]
        if s.dtype == "bool":
            a = np.ones(s.shape, dt)
        elif np.issubdtype(dt, np.floating):
            a = rng.standard_normal(s.shape).astype(dt)
        elif s.rows is not None and "mask" not in s.name.lower():
            a = rng.integers(0, s.rows, size=s.shape).astype(dt)
        elif s.dtype in ("int8", "uint8") and s.rows is None and "mask" not in s.name.lower():
            info = np.iinfo(dt)  # a quantized activation input
            a = rng.integers(info.min, int(info.max) + 1, size=s.shape).astype(dt)
        else:  # masks, and int inputs that index nothing: ones are a valid mask and a valid position
            a = np.ones(s.shape, dt)
            if "mask" not in s.name.lower():
                zeros.append(s.name)
        arrays[s.name] = a
    notes = []
    if zeros:
        notes.append(f"no lookup table found behind {', '.join(zeros)}: filled with ones (as a mask)")
    return arrays, notes


# ---------------------------------------------------------------------------------------------- tokenizer
class _Tokenizer:
    """The folder's tokenizer.json through the ``tokenizers`` package (Rust, no torch), padded by hand."""

    def __init__(self, folder: Path, manifest: dict | None):
        from edgellm.generate.tokenizer import read_tokenizer_json

        self.tok = read_tokenizer_json(folder / "tokenizer.json")
        self.tok.no_padding()
        self.tok.no_truncation()
        cfg = (manifest or {}).get("tokenizer") or {}
        pad = cfg.get("pad_token_id") if isinstance(cfg, dict) else None
        if pad is None:
            for token in ("[PAD]", "<pad>", "<|pad|>", "<unk>"):
                pad = self.tok.token_to_id(token)
                if pad is not None:
                    break
        self.pad_id = int(pad or 0)

    def length(self, text: str) -> int:
        return len(self.tok.encode(text).ids)

    def encode(self, text: str, length: int) -> tuple[dict[str, list[int]], bool]:
        """ids/mask/type ids padded (or truncated, keeping the final special token) to ``length``."""
        enc = self.tok.encode(text)
        ids, types, mask = list(enc.ids), list(enc.type_ids), list(enc.attention_mask)
        truncated = len(ids) > length
        if truncated:
            last = ids[-1] if enc.special_tokens_mask and enc.special_tokens_mask[-1] else None
            ids, types, mask = ids[:length], types[:length], mask[:length]
            if last is not None:
                ids[-1] = last
        pad = length - len(ids)
        return {
            "input_ids": ids + [self.pad_id] * pad,
            "attention_mask": mask + [0] * pad,
            "token_type_ids": types + [0] * pad,
        }, truncated


def load_tokenizer(target: Target) -> tuple[_Tokenizer | None, str | None]:
    """(tokenizer, None) or (None, why random ids are used instead)."""
    if target.folder is None:
        return None, None
    if not (target.folder / "tokenizer.json").is_file():
        return None, f"{target.folder} has no tokenizer.json: random token ids inside the vocabulary are used"
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        return None, ("the tokenizers package is not installed (pip install tokenizers): random token ids inside "
                      "the vocabulary are used instead of tokenized text")
    return _Tokenizer(target.folder, target.manifest), None


def _token_arrays(specs: list[InputSpec], encoded: dict[str, list[int]], seed: int) -> tuple[dict, list[str]]:
    arrays, rest = {}, []
    for s in specs:
        if s.name in encoded:
            arrays[s.name] = np.asarray(encoded[s.name], dtype=NUMPY_DTYPES[s.dtype]).reshape(s.shape)
        else:
            rest.append(s)
    notes = []
    if rest:
        extra, notes = random_inputs(rest, seed)
        arrays.update(extra)
        notes = [f"inputs {', '.join(s.name for s in rest)} are not tokenizer outputs: filled at random"] + notes
    for s in specs:
        if s.rows is not None and s.name in encoded and int(arrays[s.name].max(initial=0)) >= s.rows:
            raise ModelFileError(f"the tokenizer produced id {int(arrays[s.name].max())} for {s.name!r} but the "
                                 f"model's lookup table has {s.rows} rows: tokenizer.json does not match the model")
    return {s.name: arrays[s.name] for s in specs}, notes


# ---------------------------------------------------------------------------------------------- builders
def text_inputs(target: Target, tok: _Tokenizer, sig: str, specs: list[InputSpec], seed: int) -> Samples:
    length = sequence_length(specs)
    if length is None:
        raise ConfigError(f"signature {sig!r} has no [1, N] token input; pass --input-file with its arrays")
    encoded, truncated = tok.encode(DEFAULT_TEXT, length)
    arrays, notes = _token_arrays(specs, encoded, seed)
    tokens = int(sum(encoded["attention_mask"]))
    return Samples("text", [(sig, arrays)], "; ".join(notes) or None,
                   {"tokens": tokens, "sequence_length": length})


def text_file_inputs(target: Target, tok: _Tokenizer, path: str, buckets: dict[str, list[InputSpec]],
                     seed: int) -> Samples:
    """One sample per non-empty line, each at the smallest signature whose sequence length fits it."""
    p = Path(path)
    try:
        lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"text file {p} could not be read ({e}); pass a UTF-8 file with one sample per line") from None
    lines = [line for line in lines if line]
    if not lines:
        raise ConfigError(f"text file {p} has no non-empty line; it needs one sample per line")
    lengths = sorted((sequence_length(specs), name) for name, specs in buckets.items()
                     if sequence_length(specs) is not None)
    if not lengths:
        raise ConfigError("no signature of this model takes [1, N] token ids; --text-file cannot be used")
    items, truncated, per_sig, tokens = [], 0, {}, []
    for line in lines:
        n = tok.length(line)
        length, name = next(((L, s) for L, s in lengths if L >= n), lengths[-1])
        encoded, cut = tok.encode(line, length)
        truncated += cut
        arrays, _ = _token_arrays(buckets[name], encoded, seed)
        items.append((name, arrays))
        per_sig[name] = per_sig.get(name, 0) + 1
        tokens.append(min(n, length))
    note = None
    if truncated:
        note = f"{truncated} of {len(lines)} lines are longer than the longest signature ({lengths[-1][0]} tokens) and were truncated"
    return Samples("text-file", items, note, {
        "file": str(p), "lines": len(lines), "truncated": truncated, "per_signature": per_sig,
        "tokens_mean": round(sum(tokens) / len(tokens), 1),
    })


def file_inputs(path: str, buckets: dict[str, list[InputSpec]], signature: str | None) -> Samples:
    """Arrays from an .npz keyed by input name; the signature is the one they match (or the one asked for)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"input file {p} does not exist; pass an .npz with one array per model input")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise ConfigError(f"input file {p} is not a readable .npz ({e}); write it with numpy.savez") from None

    def mismatch(specs: list[InputSpec]) -> list[str]:
        want = {s.name: s for s in specs}
        problems = []
        missing = [n for n in want if n not in arrays]
        extra = [n for n in arrays if n not in want]
        if missing:
            problems.append(f"missing {', '.join(missing)}")
        if extra:
            problems.append(f"unexpected {', '.join(extra)}")
        for n, s in want.items():
            if n not in arrays:
                continue
            a = arrays[n]
            if tuple(a.shape) != s.shape or str(a.dtype) != s.dtype:
                problems.append(f"{n} is {a.dtype}{list(a.shape)}, the model takes {s.dtype}{list(s.shape)}")
            elif s.rows is not None and a.size and (int(a.min()) < 0 or int(a.max()) >= s.rows):
                problems.append(f"{n} has ids in [{int(a.min())}, {int(a.max())}] but its lookup table has "
                                f"{s.rows} rows (valid: 0..{s.rows - 1})")
        return problems

    candidates = [signature] if signature else list(buckets)
    reports = {}
    for name in candidates:
        problems = mismatch(buckets[name])
        if not problems:
            specs = buckets[name]
            return Samples("file", [(name, {s.name: np.ascontiguousarray(arrays[s.name]) for s in specs})], None,
                           {"file": str(p)})
        reports[name] = problems
    detail = " | ".join(f"signature {n!r}: {'; '.join(v)}" for n, v in reports.items())
    raise ConfigError(f"input file {p} does not match the model: {detail}")


def build_samples(target: Target, model: ModelFile, signature: str, *, input_file: str | None,
                  text_file: str | None, seed: int) -> Samples:
    """Pick the input source for one model (see the module docstring) and build its arrays."""
    buckets = {s.name: input_specs(model, s) for s in model.signatures}
    if input_file is not None:
        return file_inputs(input_file, buckets, signature if signature in buckets else None)
    tok, why = load_tokenizer(target)
    if text_file is not None:
        if target.folder is None:
            raise ConfigError(f"--text-file needs an export folder (with tokenizer.json); {target.given} is a bare "
                              "model file: pass its export folder, or use --input-file")
        if tok is None:
            raise ConfigError(f"--text-file cannot tokenize: {why}")
        return text_file_inputs(target, tok, text_file, buckets, seed)
    specs = buckets[signature]
    if tok is not None:
        return text_inputs(target, tok, signature, specs, seed)
    arrays, notes = random_inputs(specs, seed)
    if why:
        notes.insert(0, why)
    return Samples("random", [(signature, arrays)], "; ".join(notes) or None, {"seed": seed})
