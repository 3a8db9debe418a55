"""The chat template of an LLM export, checked and carried to runtimes without transformers.

``check_chat_template``: edgellm's own renderer (jinja2, in ``edgellm.generate``) against transformers'
``apply_chat_template``, byte for byte; ``chat_format``: the template as four fixed strings, for apps without a
Jinja engine (the Android demo); ``add_chat_format`` writes that into an export made before edgellm recorded it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgellm.errors import ModelFileError, require
from edgellm.manifest import TEXT_GENERATION, read_manifest, write_manifest


CHAT_CHECKS = (
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You answer in one word."}, {"role": "user", "content": "Capital of Spain?"}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
)


def chat_references(tokenizer) -> list[tuple[list[dict[str, str]], str | Exception]]:
    """(messages, transformers' apply_chat_template text, or the error it raised) for each CHAT_CHECKS
    conversation: what `edgellm generate --chat` and LiteRT-LM's rendering are both checked against."""
    import jinja2

    if not getattr(tokenizer, "chat_template", None):
        return []
    references = []
    for messages in CHAT_CHECKS:
        try:
            want = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except (jinja2.exceptions.TemplateError, ValueError) as e:  # e.g. a template that refuses system messages
            want = e
        references.append((messages, want))
    return references


def check_chat_template(folder: Path, tokenizer, references=None) -> dict[str, Any] | None:
    """Render a few conversations with the runtime's renderer (edgellm.generate, jinja2) and with transformers'
    apply_chat_template; they must agree byte for byte, or `edgellm generate --chat` would prompt differently."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    from edgellm.generate.tokenizer import ChatTokenizer

    special = {role: str(getattr(tokenizer, role)) for role in ("bos_token", "eos_token")
               if getattr(tokenizer, role, None) is not None}
    import jinja2

    ours = ChatTokenizer(folder, special=special)
    results = []
    for messages, want in chat_references(tokenizer) if references is None else references:
        if isinstance(want, Exception):
            results.append({"roles": [m["role"] for m in messages], "skipped": str(want)[:120]})
            continue
        got = ours.render_chat(messages)
        results.append({"roles": [m["role"] for m in messages], "identical": got == want})
    checked = [r for r in results if "identical" in r]
    return {"identical": bool(checked) and all(r["identical"] for r in checked), "renderer": f"jinja2 {jinja2.__version__}",
            "conversations": results}


CHAT_FORMAT_PARTS = ("begin", "user_to_assistant", "assistant_to_user", "generation_prompt")
_MARKERS = ("[[edgellm-user-1]]", "[[edgellm-assistant-1]]", "[[edgellm-user-2]]")
_FORMAT_CHECKS = (
    ["What is the capital of France?"],
    ["Hi!", "Hello. How can I help?", "Tell me a joke.\nA short one."],
    ["  one  ", "two", "three", "four", "five and ünïcödé 你好"],
)


def chat_format(tokenizer) -> dict[str, Any]:
    """The chat template as four fixed strings, for runtimes without a Jinja engine (the Android demo). A
    conversation of alternating user and assistant messages u1, a1, u2, ..., uN renders as

        begin + u1 + user_to_assistant + a1 + assistant_to_user + u2 + ... + uN + generation_prompt

    (for SmolLM2, begin holds the default system message and "<|im_start|>user\n"). The parts are cut from a
    rendering with marker contents, then the composition is compared byte for byte with transformers'
    apply_chat_template on conversations of 1, 3 and 5 messages with other contents. Returns the parts with
    ``"identical": true``, or ``"identical": false`` and the reason (a template that rewrites contents or changes
    with the turn number does not split this way); ``None`` parts mean the app cannot chat with this export."""
    import jinja2

    def render(contents: list[str]) -> str:
        roles = ["user" if i % 2 == 0 else "assistant" for i in range(len(contents))]
        messages = [{"role": r, "content": c} for r, c in zip(roles, contents)]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def refused(reason: str) -> dict[str, Any]:
        return {"identical": False, "reason": reason, **{part: None for part in CHAT_FORMAT_PARTS}}

    try:
        text = render(list(_MARKERS))
    except (jinja2.exceptions.TemplateError, ValueError) as e:
        return refused(f"the template refused a user/assistant/user conversation: {str(e)[:120]}")
    cuts, rest = [], text
    for marker in _MARKERS:
        head, found, rest = rest.partition(marker)
        if not found or marker in rest:
            return refused("the template does not copy each message's content once, as it is")
        cuts.append(head)
    parts = dict(zip(CHAT_FORMAT_PARTS, [*cuts, rest]))
    for contents in _FORMAT_CHECKS:
        composed = parts["begin"]
        for i, content in enumerate(contents):
            glue = (parts["generation_prompt"] if i == len(contents) - 1
                    else parts["user_to_assistant"] if i % 2 == 0 else parts["assistant_to_user"])
            composed += content + glue
        try:
            identical = render(list(contents)) == composed
        except (jinja2.exceptions.TemplateError, ValueError) as e:
            return refused(f"the template refused a {len(contents)}-message conversation: {str(e)[:120]}")
        if not identical:
            return refused(f"a {len(contents)}-message conversation renders differently from the four parts")
    return {"identical": True, **parts, "checked_messages": [len(c) for c in _FORMAT_CHECKS]}


def add_chat_format(folder: str | Path) -> dict[str, Any] | None:
    """Record ``llm.chat_format`` in an existing LLM export folder's edgellm.json (made before edgellm wrote it), from
    the tokenizer saved in the folder, as the export now does; returns it (None: the tokenizer has no template)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("task") != TEXT_GENERATION:
        raise ModelFileError(f"{str(folder)!r} is a {manifest.get('task')!r} export; chat_format is for "
                             f"{TEXT_GENERATION} exports")
    transformers = require("transformers", "convert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    manifest["llm"]["chat_format"] = chat_format(tokenizer) if getattr(tokenizer, "chat_template", None) else None
    write_manifest(folder, manifest)
    return manifest["llm"]["chat_format"]
