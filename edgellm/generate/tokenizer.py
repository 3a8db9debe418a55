"""The export folder's tokenizer at run time: ``tokenizers`` (tokenizer.json) + the chat template (jinja2).

No transformers here. The template is rendered the way transformers' ``apply_chat_template`` does (a sandboxed
jinja2 environment with trim_blocks, lstrip_blocks, ``raise_exception`` and ``tojson``), and the rendered text is
encoded without adding special tokens again (the template writes them), also as transformers does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from edgellm.errors import MissingDependencyError, ModelFileError


def read_tokenizer_json(file: Path):
    """An export's tokenizer.json as a ``tokenizers.Tokenizer`` (Rust, no torch): how the runtime side reads it."""
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise MissingDependencyError("reading the export's tokenizer needs tokenizers: pip install 'edgellm[llm]'") from e
    try:
        return Tokenizer.from_file(str(file))
    except Exception as e:  # noqa: BLE001  the Rust library raises a bare Exception for a bad file
        raise ModelFileError(f"{file} could not be read by tokenizers ({e}); re-run `edgellm export`") from None


class ChatTokenizer:
    def __init__(self, folder: str | Path, *, special: dict[str, Any]):
        folder = Path(folder)
        file = folder / "tokenizer.json"
        if not file.is_file():
            raise ModelFileError(f"{str(folder)!r} has no tokenizer.json; re-run `edgellm export` on a model folder "
                                 "that has its tokenizer files")
        self._tok = read_tokenizer_json(file)
        self.special = special
        self.chat_template = _chat_template(folder)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return self._tok.encode(text, add_special_tokens=add_special_tokens).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def render_chat(self, messages: Sequence[dict[str, Any]], *, add_generation_prompt: bool = True) -> str:
        if not self.chat_template:
            raise ModelFileError("this export has no chat template (the model's tokenizer had none); "
                                 "drop --chat and give the raw prompt")
        return render_template(self.chat_template, messages, add_generation_prompt=add_generation_prompt,
                               bos_token=self.special.get("bos_token") or "",
                               eos_token=self.special.get("eos_token") or "")

    def encode_chat(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        return self.encode(self.render_chat(messages), add_special_tokens=False)


def render_template(template: str, messages: Sequence[dict[str, Any]], **context: Any) -> str:
    try:
        import jinja2
        import jinja2.ext
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as e:
        raise MissingDependencyError("chat templates need jinja2: pip install 'edgellm[llm]'") from e

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(template).render(messages=list(messages), **context)
    except jinja2.exceptions.TemplateError as e:
        raise ModelFileError(f"the export's chat template failed: {e}") from e


def _chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text("utf-8")
    config = folder / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text("utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    return None
