"""`export`: a HF folder or GGUF file -> convert -> quantize -> validate -> bundle, the one call most users need.

This is the one place that decides which path a model takes: an encoder (one signature per sequence length) or a
causal LM (``task="text-generation"`` or a .gguf file: prefill/decode signatures with a KV cache). Each stage
folder handles both kinds; this module only orders the stages, times them and keeps memory in check.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from edgellm.errors import ConfigError, ValidationError, config_fields
from edgellm.manifest import MODEL_FILE, TEXT_GENERATION
from edgellm.signals import check as check_signals
from edgellm.quiet import quiet_third_party

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Options of `edgellm export` (the CLI flags, same names).

    task: "auto" (encoders: from config.architectures / sentence-transformers files), an encoder task, or
        "text-generation" (causal LMs; a .gguf model implies it).
    quantize: a recipe name from edgellm.quantize.RECIPES (fp32 = no quantization) that the model kind accepts.
    allow_validation_failure: write the export marked not passed instead of writing nothing.
    """

    task: str = "auto"
    quantize: str = "fp32"
    overwrite: bool = False
    allow_validation_failure: bool = False
    # --- encoders
    sequence_length: int = 128
    sequence_lengths: tuple[int, ...] = ()  # length buckets, e.g. (16, 32, 64, 128); overrides sequence_length
    # Static recipes (int8, int16x8): representative samples, tokenized with the model's own tokenizer.
    calibration_data: str | None = None  # .txt/.jsonl/.csv/.tsv or a datasets folder; None = calibration/en.txt
    text_column: str | None = None  # jsonl/csv/datasets column; "question,context" for pairs
    num_calibration_samples: int = 128
    calibration_range: str = "minmax"  # minmax | percentile | mse (edgellm.calibrate.RangeConfig.kind)
    io_type: str = "float"  # float | int8: quantized outputs with scale/zero point in the manifest (quantize/io.py)
    # Mean cosine to the float model on calibration samples that the static graph must reach; None = the
    # architecture's outlier list decides which linear layers fall back (quantize/sensitivity.py).
    accuracy_budget: float | None = None
    # --- text-generation (edgellm.convert.decoder.DecoderConfig)
    cache_length: int = 512  # KV-cache positions: prompt + new tokens
    prefill_lengths: tuple[int, ...] = (32, 128)  # prefill_<T> signatures; longer prompts go in chunks
    decode_windows: tuple[int, ...] | None = None  # decode_<W> signatures; None: cache / 2, / 4, / 8 down to 64
    verify_lengths: tuple[int, ...] = (2, 4, 8)  # verify_<T> signatures (speculative decoding); () for none
    # int8-dynamic and int4 LLMs (edgellm.quantize.smooth) and int8 encoders (convert.encoder.smooth_linear_inputs):
    # migrate activation outliers into the weights first. None: where it applies and was measured; True: asked
    # for, an error where it does not apply; False: off.
    smooth: bool | None = None
    smooth_alpha: float | None = None  # the share of each range moved into the weights; given, it asks for smooth
    quiz: str | None = None  # validation's quiz file (edgellm/validate/quiz.py format); None: the packaged one
    # Refuse an LLM export whose estimated peak memory exceeds what the machine has available (convert/decoder/memory.py)
    memory_check: bool = True

    def __post_init__(self):
        from edgellm.calibrate import RangeConfig
        from edgellm.quantize import IO_TYPES, RECIPES, get_recipe
        from edgellm.validate import ENCODER, LLM, recipes_for

        for name in ("overwrite", "allow_validation_failure", "memory_check"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False; got {getattr(self, name)!r}")
        from edgellm.archs import TASKS

        if not isinstance(self.task, str) or (self.task != "auto" and self.task not in TASKS and not self.llm):
            raise ConfigError(f"task {self.task!r} is unknown; known tasks: auto, {', '.join(TASKS)}, "
                              f"{TEXT_GENERATION} (causal LMs)")
        if not isinstance(self.quantize, str) or self.quantize not in RECIPES:  # the recipes of this model kind
            raise ConfigError(f"recipe {self.quantize!r} is unknown; available: "
                              f"{', '.join(recipes_for(LLM if self.llm else ENCODER))}")
        recipe = get_recipe(self.quantize)
        if self.llm:
            if self.quantize not in recipes_for(LLM):
                raise ConfigError(f"recipe {self.quantize!r} is not available for {TEXT_GENERATION}; available: "
                                  f"{', '.join(recipes_for(LLM))}")
            from edgellm.quantize.decoder import check_smoothing

            check_smoothing(self.quantize, self.smooth, self.smooth_alpha)
            if self.quiz is not None:
                from edgellm.validate.quiz import load_quiz

                load_quiz(self.quiz)  # a bad quiz file fails before any work
            resolved = self.decoder_config()
            object.__setattr__(self, "prefill_lengths", resolved.prefill_lengths)
            object.__setattr__(self, "decode_windows", resolved.decode_windows)
            object.__setattr__(self, "verify_lengths", resolved.verify_lengths)
            return
        if self.quantize not in recipes_for(ENCODER):
            raise ConfigError(f"--quantize {self.quantize} is for --task text-generation (decoder LLMs); encoder "
                              f"tasks take {', '.join(recipes_for(ENCODER))}")
        if self.quiz is not None:
            raise ConfigError("--quiz is for --task text-generation (decoder LLMs); drop it")
        if (self.smooth or self.smooth_alpha is not None) and recipe.smooth_alpha is None:
            smoothed = [r.name for r in RECIPES.values() if r.smooth_alpha is not None]
            raise ConfigError(f"encoders smooth the linear layers' inputs for {' and '.join(smoothed)}; this export "
                              f"is {self.quantize!r}: drop --smooth / --smooth-alpha or pass --quantize {smoothed[0]}")
        if self.smooth is False and self.smooth_alpha is not None:
            raise ConfigError("--smooth-alpha sets the alpha of smoothing, which --no-smooth turns off: drop one")
        self.convert_config()
        if self.calibration_data is not None and not recipe.needs_calibration:
            raise ConfigError(f"--calibration-data is only used by the static recipes "
                              f"({', '.join(r.name for r in RECIPES.values() if r.needs_calibration)}); "
                              f"{self.quantize!r} needs none. Drop it or pick one of those")
        if isinstance(self.num_calibration_samples, bool) or not isinstance(self.num_calibration_samples, int) \
                or self.num_calibration_samples < 1:
            raise ConfigError(f"num_calibration_samples must be a positive integer; got "
                              f"{self.num_calibration_samples!r}")
        RangeConfig(kind=self.calibration_range)
        if self.io_type not in IO_TYPES:
            raise ConfigError(f"io_type {self.io_type!r} is unknown; allowed: {', '.join(IO_TYPES)}")
        if self.io_type != "float" and not recipe.needs_calibration:
            raise ConfigError(f"--io-type {self.io_type} needs a calibrated recipe for the output ranges "
                              f"({', '.join(r.name for r in RECIPES.values() if r.needs_calibration)}); "
                              f"{self.quantize!r} is not one")
        if self.accuracy_budget is not None:
            if not recipe.keeps_outliers_dynamic:
                raise ConfigError(f"--accuracy-budget needs a static recipe with a fallback precision "
                                  f"({', '.join(r.name for r in RECIPES.values() if r.keeps_outliers_dynamic)}); "
                                  f"{self.quantize!r} is not one")
            if isinstance(self.accuracy_budget, bool) or not isinstance(self.accuracy_budget, (int, float)) \
                    or not 0 < self.accuracy_budget <= 1:
                raise ConfigError(f"--accuracy-budget is a mean cosine in (0, 1], e.g. 0.995; got "
                                  f"{self.accuracy_budget!r}")

    @property
    def llm(self) -> bool:
        return self.task == TEXT_GENERATION

    def convert_config(self):
        from edgellm.convert import ConvertConfig
        from edgellm.quantize import get_recipe

        recipe = get_recipe(self.quantize)
        return ConvertConfig(task=self.task, sequence_length=self.sequence_length,
                             sequence_lengths=self.sequence_lengths, bounded_layer_norm=recipe.bounded_layer_norm,
                             outlier_channel_ratio=recipe.outlier_channel_ratio,
                             smooth_alpha=None if self.smooth is False else
                             recipe.smooth_alpha if self.smooth_alpha is None else self.smooth_alpha)

    def decoder_config(self):
        from edgellm.convert.decoder import DecoderConfig

        return DecoderConfig(cache_length=self.cache_length, prefill_lengths=self.prefill_lengths,
                             decode_windows=self.decode_windows, verify_lengths=self.verify_lengths)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExportConfig":
        return cls(**config_fields(cls, data))


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    output_dir: Path
    model: Any  # the EdgeModel written (a DecoderModel for text-generation)
    validation: Any  # edgellm.validate.ValidationReport
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # convert, quantize, validate, bundle, ...

    def summary(self) -> str:
        m = self.model
        if m.task == TEXT_GENERATION:
            return (f"exported {m.source.model_type} ({TEXT_GENERATION}, {m.recipe}, cache {m.config.cache_length}, "
                    f"prefill {','.join(map(str, m.config.prefill_lengths))}) to {self.output_dir} "
                    f"[{m.size_bytes / 1e6:.1f} MB, {self.seconds:.0f} s, peak RSS {self.peak_rss_bytes / 1e9:.2f} GB]"
                    f"\n{self.validation.summary()}")
        lengths = ",".join(str(n) for _, n in m.signatures)
        return (f"exported {m.source.model_type} ({m.task}, {m.recipe}, sequence length {lengths}) to "
                f"{self.output_dir} [{m.size_bytes / 1e6:.1f} MB]\n{self.validation.summary()}")


def export(model: str | Path | None, output_dir: str | Path, config: ExportConfig | None = None, *,
           progress: Progress | None = None, reuse: dict | None = None, **options: Any) -> ExportResult:
    """Convert, quantize and validate a local HF model folder (or a .gguf causal LM), and write OUTPUT_DIR.

    ``options`` are ExportConfig fields (task=, quantize=, sequence_length=, cache_length=, ...), applied over
    ``config``. ``model`` None exports the packaged all-MiniLM-L6-v2; a .gguf file is a causal LM (task
    text-generation). Raises ValidationError (nothing written) when the export is outside the recipe's tolerance,
    unless ``allow_validation_failure``. ``progress`` gets one line per finished stage (the CLI prints them).
    ``reuse``: a dict shared by several exports of one model in one process (``edgellm.optimize``): encoders'
    calibration samples and float conversion of equal arguments are computed once and kept in it.

    >>> export("all-MiniLM-L6-v2/", "out/minilm", quantize="int8-dynamic")  # doctest: +SKIP
    >>> export("SmolLM2.Q4_1.gguf", "out/smollm2", quantize="int4", cache_length=256)  # doctest: +SKIP
    """
    from edgellm.convert.decoder.source import is_gguf

    if config is not None and not isinstance(config, ExportConfig):
        raise ConfigError(f"config must be an ExportConfig; got {type(config).__name__}")
    unknown = set(options) - set(ExportConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown export option(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(ExportConfig.__dataclass_fields__)}")
    if model is not None and not isinstance(model, (str, Path)):
        raise ConfigError(f"model must be a path (str or pathlib.Path) or None; got {type(model).__name__}")
    if not isinstance(output_dir, (str, Path)):
        raise ConfigError(f"output_dir must be a path (str or pathlib.Path); got {type(output_dir).__name__}")
    if is_gguf(model) and (options.get("task") or (config.task if config else "auto")) == "auto":
        options["task"] = TEXT_GENERATION  # a GGUF file holds a causal LM
    with quiet_third_party():  # before the heavy imports: the C++ log level is read once
        config = replace(config or ExportConfig(), **options)
        stages = _Stages(progress)
        if config.llm:
            return _export_llm(model, output_dir, config, stages)
        return _export_encoder(model, output_dir, config, stages, {} if reuse is None else reuse)


class _Stages:
    """Times each stage, keeps the peak RSS after it, and reports it (``progress``) as it ends."""

    def __init__(self, progress: Progress | None):
        self.progress, self.t0, self._last = progress, time.perf_counter(), time.perf_counter()
        self.seconds: dict[str, float] = {}
        self.peak_rss: dict[str, int] = {}  # peak RSS of the process so far, after each stage (monotone)

    def done(self, stage: str, note: str = "") -> None:
        check_signals()  # a Ctrl-C or SIGTERM that a library callback swallowed stops the run between stages
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 1)
        self.peak_rss[stage] = peak_rss()
        self._last = now
        if self.progress is not None:
            self.progress(f"{stage} done in {self.seconds[stage]:.1f} s{f' ({note})' if note else ''}")

    @property
    def total(self) -> float:
        return time.perf_counter() - self.t0


def _lock(config: ExportConfig, source) -> dict[str, Any]:
    """The manifest's ``lock`` section: inputs, config and seed, for `edgellm verify` (edgellm/lock.py)."""
    from edgellm.lock import export_lock

    return export_lock({**config.to_dict(), "overwrite": False}, source.path, calibration_data=config.calibration_data)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _source_bytes(model) -> int:
    """The model's size on disk (the .gguf file, or the files of the folder): the export's size, about, checked
    against the free disk before any work (an fp32 export of fp32 weights is as large; quantized ones are smaller)."""
    if model is None or not isinstance(model, (str, Path)):
        return 0
    path = Path(model).expanduser()
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file()) if path.is_dir() else 0
    except OSError:
        return 0  # an unreadable source is reported by read_source, with its own message


def _check_source(source, output_dir: Path) -> None:
    if source.path == output_dir.resolve():
        raise ConfigError(f"OUTPUT_DIR {str(output_dir)!r} is the model folder itself; choose another folder")


# ---------------------------------------------------------------------------------------------- encoders
def _once(reuse: dict, key: tuple, make: Callable[[], Any]) -> tuple[Any, bool]:
    """(value, reused): ``reuse[key]``, made first where missing."""
    if key in reuse:
        return reuse[key], True
    reuse[key] = make()
    return reuse[key], False


def _export_encoder(model, output_dir, config: ExportConfig, stages: _Stages, reuse: dict) -> ExportResult:
    from edgellm.bundle import bundle, check_output_dir
    from edgellm.calibrate import RangeConfig, load_samples
    from edgellm.convert import convert, read_source
    from edgellm.quantize import get_recipe, quantize
    from edgellm.validate import validate

    output_dir = check_output_dir(output_dir, overwrite=config.overwrite, source=model,
                                  needed_bytes=_source_bytes(model))
    source = read_source(model)
    _check_source(source, output_dir)
    convert_config = config.convert_config()
    calibration = None
    if get_recipe(config.quantize).needs_calibration:  # loaded first: convert may scale outlier channels with it
        cal_key = ("calibration", str(source.path), config.calibration_data, config.num_calibration_samples,
                   max(convert_config.lengths), config.text_column)
        calibration, reused = _once(reuse, cal_key, lambda: load_samples(
            config.calibration_data, str(source.path), num_samples=config.num_calibration_samples,
            sequence_length=max(convert_config.lengths), text_column=config.text_column))
        stages.done("calibration data", f"{calibration.input_ids.shape[0]} samples" + (", reused" if reused else ""))
    # the float model depends on the convert config only (and on the samples where it scales outlier channels)
    key = ("convert", str(source.path), convert_config,
           cal_key if calibration is not None and (convert_config.outlier_channel_ratio is not None or
                                                   convert_config.smooth_alpha is not None) else None)
    edge, reused = _once(reuse, key, lambda: convert(source, convert_config, calibration=calibration))
    stages.done("convert", "reused" if reused else "")
    edge = quantize(edge, config.quantize, calibration=calibration,
                    ranges=RangeConfig(kind=config.calibration_range) if calibration is not None else None,
                    io_type=config.io_type, accuracy_budget=config.accuracy_budget)
    stages.done("quantize", config.quantize)
    report = validate(edge)
    stages.done("validate", "passed" if report.passed else "FAILED")
    if not report.passed and not config.allow_validation_failure:
        raise ValidationError(f"{report.summary()}; nothing was written (pass --allow-validation-failure to keep "
                              "the export marked not passed, or try a less aggressive --quantize)")
    bundle(output_dir, edge, validation=report, overwrite=config.overwrite, extra={"lock": _lock(config, source)})
    stages.done("bundle")
    return ExportResult(output_dir=output_dir, model=edge, validation=report, seconds=stages.total,
                        peak_rss_bytes=peak_rss(), stage_seconds=dict(stages.seconds))


# ---------------------------------------------------------------------------------------------- LLMs
def _export_llm(model, output_dir, config: ExportConfig, stages: _Stages) -> ExportResult:
    """The folder holds model.tflite (prefill_<T> + decode signatures), the tokenizer (with the chat template),
    generation_config.json, model.litertlm and edgellm.json, whose ``llm`` section tells an app everything it needs
    to run the model: cache length and KV tensor names/shapes/sequence axes, prefill lengths, special tokens.

    Memory: each stage keeps only what the next needs (see _convert_and_quantize). The PyTorch model's outputs
    that validation compares with are computed first (``reference``), the model is released before quantizing, so
    it is never in memory beside the export's runner and its packed weights.
    """
    from edgellm.bundle import check_output_dir, write_llm_folder
    from edgellm.bundle.outdir import atomic_output_dir
    from edgellm.convert.decoder import read_decoder_source
    from edgellm.convert.source import load_tokenizer
    from edgellm.validate import validate

    output_dir = check_output_dir(output_dir, overwrite=config.overwrite, source=model,
                                  needed_bytes=_source_bytes(model))
    source = read_decoder_source(model)
    _check_source(source, output_dir)
    estimated_peak = estimate_memory(source, config)
    tokenizer = load_tokenizer(source)
    edge, expected, generation_config, eos_ids = _convert_and_quantize(source, tokenizer, config, stages)
    with atomic_output_dir(output_dir, overwrite=config.overwrite, source=source.path) as tmp:
        (tmp / MODEL_FILE).write_bytes(edge.content)
        report = validate(edge, model_file=tmp / MODEL_FILE, tokenizer=tokenizer, expected=expected)
        stages.done("validate", "passed" if report.passed else "FAILED")
        if not report.passed and not config.allow_validation_failure:
            raise ValidationError(f"{report.summary()}; nothing was written (pass --allow-validation-failure to keep "
                                  "the export marked not passed, or try a less aggressive --quantize)")
        seconds, peak = stages.total, peak_rss()
        write_llm_folder(tmp, edge, tokenizer, report, generation_config=generation_config, eos_token_ids=eos_ids,
                         export_stats={"seconds": round(seconds, 1), "peak_rss_bytes": peak,
                                       "estimated_peak_bytes": estimated_peak,
                                       "peak_rss_bytes_after": {k: stages.peak_rss[k] for k in
                                                                ("convert", "quantize", "reference", "validate")},
                                       "stage_seconds": dict(stages.seconds)},
                         extra={"lock": _lock(config, source)})
    stages.done("bundle")
    return ExportResult(output_dir=output_dir, model=edge, validation=report, seconds=seconds, peak_rss_bytes=peak,
                        stage_seconds=dict(stages.seconds))


def estimate_memory(source, config: ExportConfig) -> int | None:
    """The export's estimated peak RSS in bytes, from the model's config; InsufficientMemoryError (before any
    weight loads) when the machine has less available, unless ``config.memory_check`` is off."""
    from edgellm.convert.decoder.memory import check_memory

    return check_memory(source.config, config.quantize, name=source.path.name, refuse=config.memory_check)


def _convert_and_quantize(source, tokenizer, config: ExportConfig, stages: _Stages):
    """(the quantized DecoderModel, ``reference`` None; what validation compares it with; the model's generation
    config; its end-of-sequence ids).

    Stages: ``reference`` (PyTorch's outputs: greedy and chat replies, held-text logits, quiz answers), then the
    weights prepared for the recipe (smoothing, 4-bit grids), ``simulate`` (int8-dynamic and int4: that model under
    each int8 rounding path a device may take, validate/simulate.py), ``convert``, ``quantize``.
    Memory: converting holds the PyTorch weights and the float flatbuffer; quantizing holds the float flatbuffer,
    ai-edge-quantizer's working copies and the quantized one, so the PyTorch model (as many bytes as the float
    flatbuffer) is dropped first: with it, quantizing was the export's peak.
    """
    from edgellm.convert.decoder import convert_decoder, load_reference
    from edgellm.convert.decoder.layers import release_weights, trim_heap
    from edgellm.quantize import quantize
    from edgellm.quantize.decoder import prepare_weights
    from edgellm.quantize.int4 import block_offsets
    from edgellm.validate.decoder import eos_token_ids, reference_outputs
    from edgellm.validate.simulate import SIMULATED_RECIPES, simulate, simulation_metrics

    reference = load_reference(source)
    expected = reference_outputs(reference, tokenizer, config.cache_length, quiz=config.quiz)
    generation_config, eos_ids = reference.generation_config, eos_token_ids(reference, tokenizer)
    stages.done("reference")
    module, extra = prepare_weights(reference, source, tokenizer, recipe=config.quantize, smooth=config.smooth,
                                    smooth_alpha=config.smooth_alpha)
    stages.done("prepare weights", ", ".join(sorted(extra)) or "as they are")
    if config.quantize in SIMULATED_RECIPES:
        paths = simulate(reference, config.quantize, expected, tokenizer, offsets=block_offsets(module))
        expected = replace(expected, simulated=simulation_metrics(paths, expected.chat_prompts))
        stages.done("simulate", f"{len(paths)} int8 rounding paths")
    float_model = replace(convert_decoder(source, config.decoder_config(), reference=reference, module=module),
                          reference=None)
    stages.done("convert")
    # litert-torch 0.10 leaves an FX graph alive after converting whose nodes hold the traced parameters, so dropping
    # the model alone frees no weight: their storage is emptied (validation loads the model again).
    release_weights(reference, module)
    del reference, module
    trim_heap()  # collects the HF model's reference cycles, then returns the freed weights to the OS
    edge = quantize(float_model, config.quantize)
    del float_model
    if extra:
        edge = edge.with_content(edge.content, recipe=edge.recipe, quantization={**edge.quantization, **extra})
    stages.done("quantize", config.quantize)
    return edge, expected, generation_config, eos_ids


from edgellm._verbs import make_callable  # noqa: E402  (edgellm.export(...) calls export(); see _verbs.py)

make_callable(__name__)
