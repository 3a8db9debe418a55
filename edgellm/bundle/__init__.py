"""The export folder: model.tflite + the tokenizer + edgellm.json (the manifest android_demo/, bench and generate read).

Encoders: ``bundle``. LLMs: ``write_llm_folder`` fills a folder the export has already validated the model in, with
the tokenizer, the chat-template checks and format (``chat.py``), generation_config.json, model.litertlm
(``litertlm.py``) and the manifest. File names and reading: ``edgellm.manifest``.
"""

from __future__ import annotations

import json
import platform
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgellm.bundle.outdir import atomic_output_dir, check_output_dir
from edgellm.errors import ModelFileError
from edgellm.manifest import (FILES, FORMAT_VERSION, MANIFEST, MODEL_FILE, TEXT_GENERATION, file_digests, read_manifest,
                              write_manifest)

__all__ = ["FORMAT_VERSION", "MANIFEST", "MODEL_FILE", "bundle", "check_output_dir", "read_manifest",
           "signature_io", "write_llm_folder"]
# Vocabulary files apps read directly (the Android demo's WordPiece reads vocab.txt); tokenizer.json is always written.
_VOCAB_FILES = ("vocab.txt", "merges.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                "special_tokens_map.json")
_VERSIONED = ("edgellm", "torch", "transformers", "litert-torch", "ai-edge-litert", "ai-edge-quantizer", "numpy")


def bundle(output_dir: str | Path, model, *, validation=None, overwrite: bool = False,
           extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` (an EdgeModel), its tokenizer and the manifest into ``output_dir`` atomically.
    ``extra``: more manifest sections (the export's ``lock``)."""
    with atomic_output_dir(output_dir, overwrite=overwrite, source=model.source.path) as tmp:
        (tmp / MODEL_FILE).write_bytes(model.content)
        tokenizer_info = _save_tokenizer(model.source.path, tmp)
        manifest = build_manifest(model, tokenizer=tokenizer_info, validation=validation)
        manifest["graph"] = graph_summary(tmp / MODEL_FILE)
        manifest.update(extra or {})
        manifest[FILES] = file_digests(tmp)  # size and sha256 of every shipped file: loaders check them
        write_manifest(tmp, manifest)
    return Path(output_dir)


def build_manifest(model, *, tokenizer: Mapping[str, Any], validation=None) -> dict[str, Any]:
    io = signature_io(model.content)
    signatures = [{"name": name, "sequence_length": length, **io[name]} for name, length in model.signatures]
    config = model.source.config
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "task": model.task,
        "model_type": model.source.model_type,
        "model_file": MODEL_FILE,
        "source": {"path": str(model.source.path), "sha256": model.source.weight_sha256()},
        "sequence_length": model.sequence_length,
        "signatures": signatures,
        "inputs": signatures[-1]["inputs"],
        "outputs": signatures[-1]["outputs"],
        "tokenizer": tokenizer,
        "quantization": model.quantization or {"recipe": model.recipe},
        "size_bytes": model.size_bytes,
        "validation": validation.to_dict() if validation is not None else None,
        "versions": library_versions(),
    }
    if model.source.sentence_transformers is not None and model.task == "sentence-embedding":
        manifest["sentence_transformers"] = model.source.sentence_transformers.to_dict()
    if model.task in ("text-classification", "token-classification") and config.get("id2label"):
        manifest["labels"] = {str(k): v for k, v in config["id2label"].items()}
    return manifest


def graph_summary(model_file: Path) -> dict[str, Any]:
    """What `edgellm inspect` says about the graph, in brief: ops by precision (integer, dynamic-range, float),
    how XNNPACK partitions it, and which float ops break the partitions apart."""
    from edgellm.bench import inspect

    analysed = inspect(model_file).models[0]
    xnnpack = analysed.get("xnnpack") or {}
    return {
        "ops_by_kind": analysed["precision"]["ops_by_kind"],
        "float_compute_ops": analysed["precision"]["float_compute_ops"],
        "float_ops": analysed["precision"].get("float_ops", {}),
        "xnnpack_partitions": xnnpack.get("partitions"),
        "xnnpack_delegated_ops": xnnpack.get("delegated_ops"),
        "total_ops": xnnpack.get("total_ops"),
        "undelegated_ops": {f"{u['op']}:{u['activations']}": u["count"] for u in xnnpack.get("undelegated", [])},
        "partition_breakers": sorted({b["op"] for b in xnnpack.get("breakers", [])}),
    }


def signature_io(content: bytes) -> dict[str, dict[str, Any]]:
    """{signature: {"inputs": [...], "outputs": [...]}} (name, dtype, shape, quantization) of a flatbuffer."""
    from edgellm.runtime import new_interpreter

    interpreter = new_interpreter(content=content)
    io = {}
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        io[name] = {"inputs": tensor_specs(runner.get_input_details()),
                    "outputs": tensor_specs(runner.get_output_details())}
    return io


def tensor_specs(details: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    tensors = []
    for name, d in details.items():
        scale, zero_point = d["quantization"]
        tensors.append({"name": name, "dtype": np.dtype(d["dtype"]).name, "shape": [int(x) for x in d["shape"]],
                        "quantization": {"scale": float(scale), "zero_point": int(zero_point)} if scale else None})
    return tensors


def _save_tokenizer(model_path: Path, out: Path) -> dict[str, Any]:
    """Save the model's own tokenizer (always including tokenizer.json) and describe it for apps."""
    from edgellm.convert.source import load_tokenizer

    tokenizer = load_tokenizer(model_path)
    before = set(out.iterdir())
    tokenizer.save_pretrained(out)
    for name in _VOCAB_FILES:
        if (model_path / name).is_file() and not (out / name).exists():
            shutil.copyfile(model_path / name, out / name)
    files = sorted(p.name for p in set(out.iterdir()) - before)
    backend = json.loads((out / "tokenizer.json").read_text("utf-8")) if (out / "tokenizer.json").exists() else {}
    normalizer = backend.get("normalizer") or {}
    info: dict[str, Any] = {
        "files": files,
        "kind": str((backend.get("model") or {}).get("type", "unknown")).lower(),
        "do_lower_case": bool(normalizer.get("lowercase", getattr(tokenizer, "do_lower_case", False))),
        "model_input_names": list(tokenizer.model_input_names),
    }
    for role in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token"):
        token = getattr(tokenizer, role, None)
        if token is not None:
            info[role] = str(token)
            info[f"{role}_id"] = int(tokenizer.convert_tokens_to_ids(str(token)))
    return info


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


# ---------------------------------------------------------------------------------------------- LLM exports
def write_llm_folder(folder: Path, model, tokenizer, validation, *, generation_config, eos_token_ids: list[int],
                     export_stats: dict[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Complete an LLM export in ``folder`` (which holds the validated model.tflite): the tokenizer (with its chat
    template), generation_config.json, model.litertlm and edgellm.json. Returns the manifest."""
    from edgellm.bundle.chat import chat_format, chat_references, check_chat_template
    from edgellm.bundle.litertlm import write_export_litertlm

    tokenizer_files = _save_llm_tokenizer(tokenizer, folder)
    references = chat_references(tokenizer)
    chat_check = check_chat_template(folder, tokenizer, references)
    generation_config.save_pretrained(folder)
    litertlm, litertlm_check = write_export_litertlm(folder, tokenizer, references, eos_token_ids=eos_token_ids,
                                                     model_type=model.source.model_type)
    if chat_check is not None:
        chat_check["litertlm"] = litertlm_check
    manifest = build_llm_manifest(model, folder / MODEL_FILE, tokenizer, tokenizer_files, validation,
                                  generation_config=generation_config, eos_token_ids=eos_token_ids,
                                  export_stats=export_stats)
    manifest["llm"]["chat_template_check"] = chat_check
    # the template as fixed strings, for apps without a Jinja engine (android_demo)
    manifest["llm"]["chat_format"] = chat_format(tokenizer) if chat_check is not None else None
    manifest["litertlm"] = litertlm  # LiteRT-LM's bundle of this export (edgellm.bundle.litertlm)
    manifest.update(extra or {})  # the export's lock
    manifest[FILES] = file_digests(folder)  # size and sha256 of every shipped file: loaders check them
    write_manifest(folder, manifest)
    return manifest


def _save_llm_tokenizer(tokenizer, out: Path) -> list[str]:
    before = set(out.iterdir())
    tokenizer.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ModelFileError("the model's tokenizer has no fast (tokenizer.json) form, which edgellm generate and "
                             "the Android demo read; export a model whose folder has tokenizer.json")
    return sorted(p.name for p in set(out.iterdir()) - before)


def build_llm_manifest(edge, model_file: Path, tokenizer, tokenizer_files: list[str], report, *,
                       generation_config, eos_token_ids: list[int], export_stats: dict[str, Any]) -> dict[str, Any]:
    from edgellm.generate.runner import describe, interpreter_layout
    from edgellm.runtime import new_interpreter

    # metadata only: no XNNPACK, which would pack a second copy of every weight
    interpreter = new_interpreter(model_file, xnnpack=False)
    signatures = []
    for name in interpreter.get_signature_list():
        runner = interpreter.get_signature_runner(name)
        signatures.append({"name": name, "inputs": tensor_specs(runner.get_input_details()),
                           "outputs": tensor_specs(runner.get_output_details())})
    layout = interpreter_layout(interpreter)
    special = {role: str(getattr(tokenizer, role)) for role in ("bos_token", "eos_token", "pad_token", "unk_token")
               if getattr(tokenizer, role, None) is not None}
    special_ids = {f"{role}_id": int(tokenizer.convert_tokens_to_ids(tok)) for role, tok in special.items()}
    source = edge.source
    return {
        "format_version": FORMAT_VERSION,
        "task": TEXT_GENERATION,
        "model_type": source.model_type,
        "model_file": MODEL_FILE,
        "source": {"path": str(source.path), "format": "gguf" if source.gguf else "hf", "sha256": source.weight_sha256()},
        "signatures": signatures,
        "llm": {
            "cache_length": layout.cache_length,
            "prefill_lengths": list(layout.prefill_lengths),
            # decode_<W>: decode over cache positions [0, W) only, for a step at position <= W
            "decode_windows": list(layout.decode_windows),
            # verify_<T>: the pending token + up to T - 1 draft tokens, logits [T, V] (speculative decoding)
            "verify_lengths": list(layout.verify_lengths),
            "vocab_size": layout.vocab_size,
            "kv_cache": describe(layout),
            "prefill_returns_logits": False,  # the prompt's last token goes through decode
            "special_tokens": {**special, **special_ids},
            "eos_token_ids": eos_token_ids,
            "chat_template": bool(getattr(tokenizer, "chat_template", None)),
            "generation_config": generation_config.to_diff_dict(),
        },
        "tokenizer": {"files": tokenizer_files},
        "quantization": edge.quantization or {"recipe": edge.recipe},
        "size_bytes": edge.size_bytes,
        "validation": report.to_dict(),
        "export": export_stats,
        "versions": library_versions(),
    }


from edgellm._verbs import make_callable  # noqa: E402  (edgellm.bundle(...) calls bundle(); see _verbs.py)

make_callable(__name__)
