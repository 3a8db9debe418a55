"""`export_llm`: causal LM (HF folder or .gguf) -> convert -> quantize -> validate -> export folder.

The folder holds model.tflite (prefill_<T> + decode signatures), the tokenizer (tokenizer.json and its config,
with the chat template), generation_config.json and edgellm.json, whose ``llm`` section tells an app everything it
needs to run the model: cache length and KV tensor names/shapes/sequence axes, prefill lengths, special tokens.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgellm.bundle import FORMAT_VERSION, MANIFEST, MODEL_FILE, check_output_dir
from edgellm.bundle.litertlm import write_export_litertlm
from edgellm.bundle.outdir import atomic_output_dir
from edgellm.convert.decoder import TASK, DecoderConfig, DecoderModel, convert_decoder, load_reference, \
    read_decoder_source
from edgellm.convert.decoder.smooth import INT4_ALPHA, SMOOTH_MODEL_TYPES, SMOOTH_RECIPES, SmoothConfig, \
    smooth_decoder, smoothing_calibration
from edgellm.convert.decoder.validate import DECODER_TOLERANCES, INT4_GRID_TOLERANCE, DecoderValidationReport, \
    eos_token_ids, reference_outputs, validate_decoder
from edgellm.errors import ConfigError, ModelFileError, ValidationError, require


@dataclass(frozen=True, kw_only=True)
class LlmExportConfig:
    """Options of `edgellm export --task text-generation` (the CLI flags, same names)."""

    quantize: str = "fp32"  # a recipe with a row in DECODER_TOLERANCES
    cache_length: int = 512
    prefill_lengths: tuple[int, ...] = (32, 128)
    decode_windows: tuple[int, ...] | None = None  # None: DecoderConfig's default (cache / 2, / 4, / 8 down to 64)
    overwrite: bool = False
    allow_validation_failure: bool = False  # write the export marked not passed instead of nothing
    # int8-dynamic and int4: migrate activation outliers into the weights first (edgellm.convert.decoder.smooth;
    # int4 with power-of-two factors per block of 32, so 4-bit grids stay exact). None (the default): where it
    # applies and was measured, int8-dynamic of a family in smooth.SMOOTH_MODEL_TYPES and int4 of one whose linears
    # all keep a GGUF grid; True: asked for, an error where it does not apply; False: off. On SmolLM2 int8-dynamic
    # (calibrated on plain text and chat) it raised greedy match 0.052 -> 0.375, top-1 0.914 -> 0.938 and brought
    # perplexity x1.0378 -> x0.9990, chat answers unchanged; on int4 see smooth.INT4_ALPHA
    smooth: bool | None = None
    # the share of each range moved into the weights (SmoothConfig.alpha); None: int8-dynamic 0.5, int4
    # smooth.INT4_ALPHA. Given, it asks for smoothing (as smooth=True) unless smooth is False, which is an error
    smooth_alpha: float | None = None

    def __post_init__(self):
        from edgellm.quantize import get_recipe

        get_recipe(self.quantize)
        if self.quantize not in DECODER_TOLERANCES:
            raise ConfigError(f"recipe {self.quantize!r} is not available for {TASK}; available: "
                              f"{', '.join(DECODER_TOLERANCES)}")
        if self.smooth_alpha is not None:
            SmoothConfig(alpha=self.smooth_alpha)  # ConfigError unless a number in [0, 1]
            if self.smooth is False:
                raise ConfigError("--smooth-alpha sets the alpha of smoothing, which --no-smooth turns off: drop one")
        if (self.smooth or self.smooth_alpha is not None) and self.quantize not in SMOOTH_RECIPES:
            raise ConfigError(f"smooth migrates activation scale for {' and '.join(SMOOTH_RECIPES)}; this export is "
                              f"{self.quantize!r}: drop --smooth / --smooth-alpha or pass --quantize int8-dynamic")
        resolved = self.decoder_config()
        object.__setattr__(self, "prefill_lengths", resolved.prefill_lengths)
        object.__setattr__(self, "decode_windows", resolved.decode_windows)

    def decoder_config(self) -> DecoderConfig:
        return DecoderConfig(cache_length=self.cache_length, prefill_lengths=self.prefill_lengths,
                             decode_windows=self.decode_windows)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "prefill_lengths": list(self.prefill_lengths),
                "decode_windows": list(self.decode_windows)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LlmExportConfig":
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class LlmExportResult:
    output_dir: Path
    model: DecoderModel
    validation: DecoderValidationReport
    seconds: float
    peak_rss_bytes: int

    def summary(self) -> str:
        m = self.model
        return (f"exported {m.source.model_type} ({TASK}, {m.recipe}, cache {m.config.cache_length}, prefill "
                f"{','.join(map(str, m.config.prefill_lengths))}) to {self.output_dir} [{m.size_bytes / 1e6:.1f} MB, "
                f"{self.seconds:.0f} s, peak RSS {self.peak_rss_bytes / 1e9:.2f} GB]\n{self.validation.summary()}")


def load_tokenizer(source):
    transformers = require("transformers", "convert")
    try:
        return transformers.AutoTokenizer.from_pretrained(**source.from_pretrained_kwargs(), trust_remote_code=False)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"could not load a tokenizer for {str(source.path)!r} ({str(e).strip()[:160]}); "
                             "an LLM export needs the model's tokenizer (tokenizer.json + tokenizer_config.json "
                             "in the folder, or the tokenizer inside the .gguf)") from e


def export_llm(model: str | Path | None, output_dir: str | Path, config: LlmExportConfig = LlmExportConfig()
               ) -> LlmExportResult:
    """Convert, quantize and validate a causal LM, and write OUTPUT_DIR (atomically; nothing on failure)."""
    t0 = time.perf_counter()
    output_dir = check_output_dir(output_dir, overwrite=config.overwrite)
    source = read_decoder_source(model)
    if source.path == output_dir.resolve():
        raise ConfigError(f"OUTPUT_DIR {str(output_dir)!r} is the model folder itself; choose another folder")
    config.decoder_config()
    tokenizer = load_tokenizer(source)
    phases: dict[str, int] = {}  # peak RSS of the process so far, after each phase (monotone: where it rises)
    edge, tolerance = _convert_and_quantize(source, tokenizer, config, phases)
    # The PyTorch model was released before quantizing (see _convert_and_quantize). Validation loads it again from
    # the source (safetensors are memory-mapped, a GGUF file is dequantized again: seconds), computes its outputs and
    # frees it before the export's runner loads, whose packed weights would otherwise sit next to it.
    from edgellm.convert.decoder.layers import trim_heap

    reference = load_reference(source)
    expected = reference_outputs(reference, tokenizer, config.cache_length)
    generation_config, eos_ids = reference.generation_config, eos_token_ids(reference, tokenizer)
    del reference
    trim_heap()  # its freed weights would stay in RSS next to the runner's packed ones (see trim_heap)
    phases["reference"] = _peak_rss()
    with atomic_output_dir(output_dir, overwrite=config.overwrite) as tmp:
        (tmp / MODEL_FILE).write_bytes(edge.content)
        report = validate_decoder(edge, tmp / MODEL_FILE, tokenizer, tolerance=tolerance, expected=expected)
        phases["validate"] = _peak_rss()
        if not report.passed and not config.allow_validation_failure:
            raise ValidationError(f"{report.summary()}; nothing was written (pass --allow-validation-failure to keep "
                                  "the export marked not passed, or try a less aggressive --quantize)")
        tokenizer_files = _save_tokenizer(tokenizer, tmp)
        references = chat_references(tokenizer)
        chat_check = check_chat_template(tmp, tokenizer, references)
        generation_config.save_pretrained(tmp)
        litertlm, litertlm_check = write_export_litertlm(tmp, tokenizer, references,
                                                         eos_token_ids=eos_ids,
                                                         model_type=source.model_type)
        if chat_check is not None:
            chat_check["litertlm"] = litertlm_check
        seconds = time.perf_counter() - t0
        peak = _peak_rss()
        manifest = build_llm_manifest(edge, tmp / MODEL_FILE, tokenizer, tokenizer_files, report,
                                      generation_config=generation_config, eos_token_ids=eos_ids,
                                      export_stats={"seconds": round(seconds, 1), "peak_rss_bytes": peak,
                                                    "peak_rss_bytes_after": phases})
        manifest["llm"]["chat_template_check"] = chat_check
        # the template as fixed strings, for apps without a Jinja engine (android_demo)
        manifest["llm"]["chat_format"] = chat_format(tokenizer) if chat_check is not None else None
        manifest["litertlm"] = litertlm  # LiteRT-LM's bundle of this export (edgellm.bundle.litertlm)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return LlmExportResult(output_dir=output_dir, model=edge, validation=report, seconds=seconds,
                           peak_rss_bytes=peak)


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _convert_and_quantize(source, tokenizer, config: LlmExportConfig, phases: dict[str, int]
                          ) -> tuple[DecoderModel, Any]:
    """The quantized DecoderModel (``reference`` None) and the validation tolerance to use (None: the recipe's).

    Memory: each phase keeps only what the next needs. Converting holds the PyTorch weights and the float flatbuffer;
    quantizing holds the float flatbuffer, ai-edge-quantizer's working copies and the quantized one, so the PyTorch
    model (as many bytes as the float flatbuffer) is dropped first: with it, quantizing was the export's peak.
    """
    from edgellm.convert.decoder.layers import release_weights, trim_heap
    from edgellm.quantize import get_recipe, quantize

    reference = load_reference(source)
    module, tolerance, int4 = None, None, None
    int4_block = get_recipe(config.quantize).int4_block
    asked = config.smooth if config.smooth is not None else (True if config.smooth_alpha is not None else None)
    if asked and source.model_type not in SMOOTH_MODEL_TYPES:
        raise ConfigError(f"--smooth supports {', '.join(SMOOTH_MODEL_TYPES)}, not {source.model_type!r}; "
                          "export without --smooth")
    grids, float_layers = {}, []
    if int4_block:
        from edgellm.convert.decoder.gptq import GptqConfig, gptq_decoder, gptq_layers
        from edgellm.convert.decoder.int4 import check_int4_blocks, gguf_module_grids, prepare_int4, \
            recovered_module_grids

        check_int4_blocks(reference)
        # a GGUF file's own 4-bit grids (raw blocks); a HF folder's weights where they are dequantized Q4_1
        grids = gguf_module_grids(reference, source.path) if source.gguf else recovered_module_grids(reference)
        float_layers = gptq_layers(reference, GptqConfig(), exclude=list(grids))
    smooth = asked
    if smooth is None:  # the default: where it applies and was measured (int4: every linear on a file's grid)
        smooth = source.model_type in SMOOTH_MODEL_TYPES and (
            config.quantize == "int8-dynamic" or (config.quantize == "int4" and not float_layers))
    calibration = chunks = None
    if smooth or float_layers:
        # the calibration text of smoothing and GPTQ (plain text and chat), never the held text; int4 smooths with
        # powers of two per block of 32 inputs, which leave 4-bit grids exact
        alpha = config.smooth_alpha if config.smooth_alpha is not None else \
            INT4_ALPHA if int4_block else SmoothConfig.alpha
        smooth_config = SmoothConfig(alpha=alpha, block=int4_block or 1)
        calibration, chunks = smoothing_calibration(tokenizer, smooth_config, reference)
    smoothing = None
    if smooth:
        # in place: validation compares with the model loaded again from the source, not this one
        factors: dict[str, dict[str, Any]] = {}
        smoothing = smooth_decoder(reference, chunks, calibration, factors)
        # the same factors on the grids: their ints stay the file's own
        grids = {name: grid.scaled(**factors.get(name, {})) for name, grid in grids.items()}
    if int4_block:
        gptq = None
        if float_layers:  # float weights left: GPTQ puts them on grids (on the smoothed model's activations)
            gptq = {**gptq_decoder(reference, chunks, exclude=list(grids)), "calibration": calibration.calibration}
        module, int4 = prepare_int4(reference, grids)
        if gptq is not None:
            int4["gptq"] = gptq
        tolerance = INT4_GRID_TOLERANCE if int4["grid_weights"] and not int4["data_driven_weights"] else None
    float_model = replace(convert_decoder(source, config.decoder_config(), reference=reference, module=module),
                          reference=None)
    phases["convert"] = _peak_rss()
    # litert-torch 0.10 leaves an FX graph alive after converting whose nodes hold the traced parameters, so dropping
    # the model alone frees no weight: their storage is emptied (validation loads the model again).
    release_weights(reference, module)
    del reference, module
    trim_heap()  # collects the HF model's reference cycles, then returns the freed weights to the OS
    edge = quantize(float_model, config.quantize)
    phases["quantize"] = _peak_rss()
    del float_model
    extra = {**({"int4": int4} if int4 is not None else {}), **({"smoothing": smoothing} if smoothing else {})}
    if extra:
        edge = edge.with_content(edge.content, recipe=edge.recipe, quantization={**edge.quantization, **extra})
    return edge, tolerance


def _save_tokenizer(tokenizer, out: Path) -> list[str]:
    before = set(out.iterdir())
    tokenizer.save_pretrained(out)
    if not (out / "tokenizer.json").is_file():
        raise ModelFileError("the model's tokenizer has no fast (tokenizer.json) form, which edgellm generate and "
                             "the Android demo read; export a model whose folder has tokenizer.json")
    return sorted(p.name for p in set(out.iterdir()) - before)


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
    import os

    from edgellm.bundle import read_manifest

    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.get("task") != TASK:
        raise ModelFileError(f"{str(folder)!r} is a {manifest.get('task')!r} export; chat_format is for "
                             f"{TASK} exports")
    transformers = require("transformers", "convert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    manifest["llm"]["chat_format"] = chat_format(tokenizer) if getattr(tokenizer, "chat_template", None) else None
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest["llm"]["chat_format"]


def build_llm_manifest(edge: DecoderModel, model_file: Path, tokenizer, tokenizer_files: list[str],
                       report: DecoderValidationReport, *, generation_config, eos_token_ids: list[int],
                       export_stats: dict[str, Any]) -> dict[str, Any]:
    from edgellm.bundle import library_versions, tensor_specs
    from edgellm.generate.runner import _interpreter_class, describe, interpreter_layout

    Interpreter = _interpreter_class()
    resolver = __import__(Interpreter.__module__, fromlist=["OpResolverType"]).OpResolverType
    # metadata only: no XNNPACK, which would pack a second copy of every weight
    interpreter = Interpreter(model_path=str(model_file),
                              experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
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
        "task": TASK,
        "model_type": source.model_type,
        "model_file": MODEL_FILE,
        "source": {"path": str(source.path), "format": "gguf" if source.gguf else "hf", "sha256": source.weight_sha256()},
        "signatures": signatures,
        "llm": {
            "cache_length": layout.cache_length,
            "prefill_lengths": list(layout.prefill_lengths),
            # decode_<W>: decode over cache positions [0, W) only, for a step at position <= W
            "decode_windows": list(layout.decode_windows),
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
