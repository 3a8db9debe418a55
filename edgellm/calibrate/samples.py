"""Calibration samples: a text file or dataset folder -> texts -> tokenized representative inputs.

Two steps, each a plain function:

* ``load_texts(path)`` reads raw samples (``.txt``, ``.jsonl``, ``.csv``, ``.tsv`` or a Hugging Face
  ``datasets`` folder written by ``save_to_disk``) and picks a seeded random subset -> ``TextSamples``.
* ``load_samples(path, tokenizer)`` tokenizes them to fixed-shape int32 arrays, padded to
  ``sequence_length`` with real attention masks -> ``CalibrationSet`` (arrays + a ``CalibrationReport``).

``path=None`` means the built-in English corpus ``calibration/en.txt`` (see ``corpus_path``).
Only numpy is imported at module level; transformers and datasets are imported when needed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgellm.errors import CalibrationError, ConfigError, ModelFileError, require

TEXT_SUFFIXES = (".txt", ".jsonl", ".csv", ".tsv")
ALLOWED_SOURCES = ".txt, .jsonl, .csv, .tsv, or a datasets folder written by save_to_disk"
DEFAULT_TEXT_COLUMN = "text"
MIN_SEQUENCE_LENGTH = 8  # [CLS] a [SEP] b [SEP] plus a few real tokens
_CORPORA = ("en", "en_eval")


class CalibrationWarning(UserWarning):
    """Calibration goes on, but with less or different data than asked for."""


# ---------------------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, kw_only=True)
class TextSamples:
    """Raw calibration samples, in source order, after blank rows were skipped and a subset was drawn."""

    texts: tuple[str, ...]  # first (or only) segment of each sample
    text_pairs: tuple[str, ...] | None = None  # second segment when two columns were asked for, else None
    source: str  # the file or folder read
    columns: tuple[str, ...] | None = None  # columns/fields read; None for .txt
    num_available: int  # non-blank samples in the source before subsetting
    num_requested: int | None = None  # what the caller asked for (None = all)
    seed: int = 0  # seed of the subset draw

    def __post_init__(self):
        if self.text_pairs is not None and len(self.text_pairs) != len(self.texts):
            raise ConfigError(
                f"text_pairs has {len(self.text_pairs)} entries but texts has {len(self.texts)}; they must match"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def __iter__(self) -> Iterator[str | tuple[str, str]]:
        if self.text_pairs is None:
            return iter(self.texts)
        return iter(zip(self.texts, self.text_pairs))


@dataclass(frozen=True, kw_only=True)
class CalibrationReport:
    """What went into a CalibrationSet. Lengths are in tokens, special tokens included, before truncation."""

    source: str  # file or folder the texts came from
    num_samples: int  # samples in the set
    num_requested: int  # samples asked for
    num_available: int  # non-blank samples in the source
    sequence_length: int  # padded/truncated length of every row
    length_min: int
    length_p50: int  # percentiles use numpy method="inverted_cdf": a length that occurs in the data
    length_p90: int
    length_max: int
    length_mean: float
    num_truncated: int  # samples longer than sequence_length (their tail was cut)
    columns: tuple[str, ...] | None = None  # columns read; None for .txt
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = list(self.columns) if self.columns is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalibrationReport:
        d = dict(d)
        if d.get("columns") is not None:
            d["columns"] = tuple(d["columns"])
        return cls(**d)


@dataclass(frozen=True, kw_only=True, eq=False)
class CalibrationSet:
    """Tokenized representative inputs: int32 arrays of shape [N, sequence_length].

    Rows are padded to ``sequence_length`` on the tokenizer's ``padding_side`` with its pad token
    (eos when it has none; 0 when it has neither), and ``attention_mask`` is 1 on real tokens, 0 on padding.
    """

    input_ids: np.ndarray  # [N, L] int32
    attention_mask: np.ndarray  # [N, L] int32, 1 = real token
    token_type_ids: np.ndarray | None = None  # [N, L] int32, only when the tokenizer produces them
    texts: tuple[str, ...]  # the samples, for validation and debugging
    text_pairs: tuple[str, ...] | None = None
    report: CalibrationReport

    def __post_init__(self):
        shape = self.input_ids.shape
        for name, arr in self.inputs().items():
            if arr.shape != shape or arr.dtype != np.int32 or arr.ndim != 2:
                raise ConfigError(
                    f"{name} has shape {arr.shape} dtype {arr.dtype}; every input must be int32 {shape}"
                )

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def sequence_length(self) -> int:
        return int(self.input_ids.shape[1])

    def inputs(self) -> dict[str, np.ndarray]:
        """Model inputs by HF name: input_ids, attention_mask and, when present, token_type_ids."""
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.token_type_ids is not None:
            out["token_type_ids"] = self.token_type_ids
        return out

    def batches(self, batch_size: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """Yield ``inputs()`` in row order, ``batch_size`` rows at a time ([b, L]; the last batch may be smaller)."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        arrays = self.inputs()
        for start in range(0, len(self), batch_size):
            yield {k: v[start : start + batch_size] for k, v in arrays.items()}


# ---------------------------------------------------------------------------------------------------------------------
# built-in corpora


def corpus_path(name: str = "en") -> Path:
    """Path of a built-in corpus: ``"en"`` (calibration, default) or ``"en_eval"`` (held-out validation/bench text).

    Looks in the installed package data (``edgellm/calibrate/data/``, a symlink to ``calibration/`` in a
    checkout) and then in the repository's ``calibration/`` folder.
    """
    if name not in _CORPORA:
        raise ConfigError(f"unknown built-in corpus '{name}'; available: {', '.join(_CORPORA)}")
    here = Path(__file__).resolve().parent
    candidates = (here / "data" / f"{name}.txt", here.parents[1] / "calibration" / f"{name}.txt")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise CalibrationError(
        f"built-in corpus {name}.txt not found (looked in {', '.join(str(c.parent) for c in candidates)}); "
        "reinstall edgellm or pass the path of a calibration file"
    )


# ---------------------------------------------------------------------------------------------------------------------
# reading


def _parse_columns(text_column: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if text_column is None:
        return None
    if isinstance(text_column, str):
        names = tuple(c.strip() for c in text_column.split(","))
    else:
        names = tuple(str(c).strip() for c in text_column)
    if not 1 <= len(names) <= 2 or not all(names):
        raise ConfigError(
            f"text_column {text_column!r} must name one column or two separated by a comma, "
            "e.g. 'text' or 'question,context'"
        )
    return names


def _decode(path: Path) -> str:
    """Whole file as str; a UnicodeDecodeError becomes a CalibrationError naming the 1-based line."""
    data = path.read_bytes()
    data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # a UTF-8 byte-order mark is not text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CalibrationError(
            f"{path} is not UTF-8: byte 0x{data[e.start]:02x} on line {line} cannot be decoded; "
            "re-save the file as UTF-8"
        ) from e


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) over \\n, \\r\\n or \\r line ends (not str.splitlines' Unicode separators)."""
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        yield number, line


def _read_txt(path: Path) -> list[tuple[str, ...]]:
    return [(line.strip(),) for _, line in _lines(_decode(path)) if line.strip()]


def _field(value: Any, path: Path, where: str, column: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CalibrationError(
            f"{path}: {where} column '{column}' holds a non-text value ({type(value).__name__}); "
            "point text_column at a text column"
        )
    return value.strip()


def _missing_column(path: Path, missing: str, present: Sequence[str], where: str = "") -> CalibrationError:
    shown = ", ".join(repr(c) for c in present) if present else "none"
    return CalibrationError(
        f"{path}{where} has no column '{missing}'; columns: {shown}; pass text_column= one of them "
        "(or two joined by a comma for pairs)"
    )


def _read_jsonl(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    rows = []
    for number, line in _lines(_decode(path)):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise CalibrationError(
                f"{path}: line {number} is not valid JSON ({e.msg}); each line must be one JSON object"
            ) from e
        if not isinstance(record, dict):
            raise CalibrationError(
                f"{path}: line {number} is a JSON {type(record).__name__}, not an object; "
                'each line must look like {"text": "..."}'
            )
        for column in columns:
            if column not in record:
                raise _missing_column(path, column, list(record), where=f" line {number}")
        rows.append(tuple(_field(record[c], path, f"line {number}", c) for c in columns))
    return rows


def _read_csv(path: Path, columns: tuple[str, ...], delimiter: str) -> list[tuple[str, ...]]:
    text = _decode(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            return []
        header = [h.strip() for h in header]
        for column in columns:
            if column not in header:
                raise _missing_column(path, column, header)
        index = [header.index(c) for c in columns]
        rows = []
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if max(index) >= len(record):
                raise CalibrationError(
                    f"{path}: line {reader.line_num} has {len(record)} fields but the header has {len(header)}; "
                    "fix the row or quote fields that contain the delimiter"
                )
            rows.append(tuple(record[i].strip() for i in index))
    except csv.Error as e:
        raise CalibrationError(f"{path}: line {reader.line_num} is not valid CSV ({e})") from e
    return rows


def _is_dataset_dir(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _read_dataset_dir(path: Path, columns: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not _is_dataset_dir(path):
        raise CalibrationError(
            f"{path} is a folder but not a datasets folder (no state.json or dataset_dict.json); "
            f"pass {ALLOWED_SOURCES}"
        )
    datasets = require("datasets", "convert")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        splits = list(loaded)
        if "train" in loaded:
            loaded = loaded["train"]
        elif len(splits) == 1:
            loaded = loaded[splits[0]]
        else:
            raise CalibrationError(
                f"{path} holds splits {', '.join(splits)} and none is 'train'; "
                f"pass the folder of one split, e.g. {path / splits[0]}"
            )
    present = list(loaded.column_names)
    for column in columns:
        if column not in present:
            raise _missing_column(path, column, present)
    values = [loaded[c] for c in columns]  # whole columns; rows are subsampled after blanks are dropped
    rows = []
    for number, row in enumerate(zip(*values)):
        fields = tuple(_field(v, path, f"row {number}", c) for v, c in zip(row, columns))
        rows.append(fields)
    return rows


def load_texts(
    path: str | os.PathLike | None = None,
    *,
    text_column: str | Sequence[str] | None = None,
    num_samples: int | None = None,
    seed: int = 0,
) -> TextSamples:
    """Read calibration texts and draw a seeded random subset.

    Sources: ``.txt`` (one sample per line), ``.jsonl`` (field ``text_column``, default ``"text"``),
    ``.csv``/``.tsv`` (a header row; column ``text_column``, default ``"text"``), or a folder written by
    ``datasets.Dataset.save_to_disk`` (split ``train`` of a DatasetDict, or its only split).
    ``text_column="question,context"`` reads two columns as a (text, text_pair) sample.
    Blank lines/rows (after stripping whitespace; for pairs, either field blank) are skipped.

    Subset: with more than ``num_samples`` samples, ``numpy.random.default_rng(seed)`` picks
    ``num_samples`` of them without replacement, kept in source order, so the same file, count and seed
    always give the same samples. With fewer, a ``CalibrationWarning`` is issued and all are used.
    ``path=None`` reads the built-in English corpus (``corpus_path("en")``).
    """
    return _load_texts(path, text_column=text_column, num_samples=num_samples, seed=seed, stacklevel=3)


def _load_texts(path, *, text_column, num_samples, seed, stacklevel: int) -> TextSamples:
    if num_samples is not None and (
        isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1
    ):
        raise ConfigError(f"num_samples must be a positive integer or None, got {num_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    columns = _parse_columns(text_column)
    path = corpus_path("en") if path is None else Path(path)

    if not path.exists():
        raise CalibrationError(
            f"calibration data {path} does not exist; pass {ALLOWED_SOURCES} (or path=None for the built-in corpus)"
        )
    suffix = path.suffix.lower()
    if path.is_dir():
        columns = columns or (DEFAULT_TEXT_COLUMN,)
        rows = _read_dataset_dir(path, columns)
    elif suffix == ".txt":
        if columns is not None:
            raise ConfigError(
                f"text_column={text_column!r} does not apply to {path}: a .txt file has one sample per line; "
                "use .jsonl, .csv or .tsv for columns"
            )
        rows = _read_txt(path)
    elif suffix == ".jsonl":
        columns = columns or (DEFAULT_TEXT_COLUMN,)
        rows = _read_jsonl(path, columns)
    elif suffix in (".csv", ".tsv"):
        columns = columns or (DEFAULT_TEXT_COLUMN,)
        rows = _read_csv(path, columns, "," if suffix == ".csv" else "\t")
    else:
        hint = "; for JSON Lines name the file .jsonl" if suffix in (".json", ".ndjson") else ""
        raise CalibrationError(
            f"calibration data {path} has unsupported extension '{suffix or '(none)'}'; "
            f"allowed: {ALLOWED_SOURCES}{hint}"
        )

    rows = [r for r in rows if all(r)]
    if not rows:
        raise CalibrationError(
            f"calibration data {path} has no samples (blank lines/rows are skipped); add text, one sample per line/row"
        )

    available = len(rows)
    if num_samples is not None and available > num_samples:
        picked = np.sort(np.random.default_rng(seed).choice(available, size=int(num_samples), replace=False))
        rows = [rows[i] for i in picked]
    elif num_samples is not None and available < num_samples:
        warnings.warn(
            f"calibration data {path} has {available} samples but {num_samples} were requested; "
            f"using all {available}",
            CalibrationWarning,
            stacklevel=stacklevel,
        )

    return TextSamples(
        texts=tuple(r[0] for r in rows),
        text_pairs=tuple(r[1] for r in rows) if columns is not None and len(columns) == 2 else None,
        source=str(path),
        columns=columns,
        num_available=available,
        num_requested=None if num_samples is None else int(num_samples),
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------------------------------
# tokenizing


def _resolve_tokenizer(tokenizer: Any) -> Any:
    if not isinstance(tokenizer, (str, os.PathLike)):
        if not callable(tokenizer):
            raise ConfigError(
                f"tokenizer must be a Hugging Face tokenizer or the path of a model/export folder, "
                f"got {type(tokenizer).__name__}"
            )
        return tokenizer
    folder = Path(tokenizer)
    if not folder.is_dir():
        raise ModelFileError(f"tokenizer folder {folder} does not exist; pass a HF model folder or an export folder")
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        if (folder / "tokenizer").is_dir():  # export bundles may keep the tokenizer in a subfolder
            folder = folder / "tokenizer"
    from edgellm.convert.source import load_tokenizer

    return load_tokenizer(folder)


def _pad_id(tok: Any) -> int:
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tok, attr, None)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


def load_samples(
    path: str | os.PathLike | None,
    tokenizer: Any,
    *,
    num_samples: int = 128,
    sequence_length: int = 128,
    text_column: str | Sequence[str] | None = None,
    seed: int = 0,
) -> CalibrationSet:
    """Read samples with ``load_texts`` and tokenize them to int32 arrays of shape [N, sequence_length].

    ``tokenizer`` is a transformers tokenizer, or the path of a model/export folder (loaded with
    ``AutoTokenizer.from_pretrained(path, trust_remote_code=False)``). Special tokens are added as the
    tokenizer does by default; rows longer than ``sequence_length`` are truncated (pairs: longest first),
    shorter rows are padded. The report records token lengths before truncation.

    Example (MiniLM, sequence_length=8): "Thanks!" -> [CLS] thanks ! [SEP] -> length 4,
    input_ids [101, 4283, 999, 102, 0, 0, 0, 0], attention_mask [1, 1, 1, 1, 0, 0, 0, 0].
    """
    if (
        isinstance(sequence_length, bool)
        or not isinstance(sequence_length, int)
        or sequence_length < MIN_SEQUENCE_LENGTH
    ):
        raise ConfigError(f"sequence_length must be an integer >= {MIN_SEQUENCE_LENGTH}, got {sequence_length!r}")
    if num_samples is None:
        raise ConfigError("num_samples must be a positive integer for load_samples; use load_texts to read all")
    samples = _load_texts(path, text_column=text_column, num_samples=num_samples, seed=seed, stacklevel=3)
    tok = _resolve_tokenizer(tokenizer)

    texts = list(samples.texts)
    pairs = list(samples.text_pairs) if samples.text_pairs is not None else None
    full = tok(texts, pairs, truncation=False, padding=False, verbose=False)
    lengths = np.array([len(ids) for ids in full["input_ids"]], dtype=np.int64)
    enc = tok(texts, pairs, truncation=True, max_length=sequence_length, padding=False)

    n, L = len(texts), sequence_length
    left = getattr(tok, "padding_side", "right") == "left"
    input_ids = np.full((n, L), _pad_id(tok), dtype=np.int32)
    attention_mask = np.zeros((n, L), dtype=np.int32)
    has_types = "token_type_ids" in enc
    token_type_ids = np.zeros((n, L), dtype=np.int32) if has_types else None
    for i, ids in enumerate(enc["input_ids"]):
        k = len(ids)
        if k > L:  # a tokenizer that ignored max_length; never silently overflow the row
            raise CalibrationError(
                f"tokenizer returned {k} tokens for sample {i} of {samples.source} despite max_length={L}; "
                "use a tokenizer that supports truncation"
            )
        cols = slice(L - k, L) if left else slice(0, k)
        input_ids[i, cols] = ids
        attention_mask[i, cols] = 1
        if has_types:
            token_type_ids[i, cols] = enc["token_type_ids"][i]

    def pct(q: float) -> int:
        return int(np.percentile(lengths, q, method="inverted_cdf"))

    report = CalibrationReport(
        source=samples.source,
        num_samples=n,
        num_requested=int(num_samples),
        num_available=samples.num_available,
        sequence_length=L,
        length_min=int(lengths.min()),
        length_p50=pct(50),
        length_p90=pct(90),
        length_max=int(lengths.max()),
        length_mean=round(float(lengths.mean()), 2),
        num_truncated=int((lengths > L).sum()),
        columns=samples.columns,
        seed=seed,
    )
    return CalibrationSet(
        input_ids=input_ids,
        attention_mask=attention_mask,
        token_type_ids=token_type_ids,
        texts=samples.texts,
        text_pairs=samples.text_pairs,
        report=report,
    )
