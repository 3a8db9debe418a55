"""`export`: HF folder -> convert -> quantize -> validate -> bundle, the one call most users need."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from edgellm.bundle import bundle, check_output_dir
from edgellm.calibrate import RangeConfig, load_samples
from edgellm.convert import ConvertConfig, EdgeModel, convert, read_source
from edgellm.convert.decoder.source import is_gguf
from edgellm.errors import ConfigError, ValidationError
from edgellm.quantize import IO_TYPES, RECIPES, get_recipe, quantize
from edgellm.validate import ValidationReport, validate


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """Options of `edgellm export` (the CLI flags, same names).

    quantize: a recipe name from edgellm.quantize.RECIPES (fp32 = no quantization).
    allow_validation_failure: write the export marked not passed instead of writing nothing.
    """

    task: str = "auto"
    quantize: str = "fp32"
    sequence_length: int = 128
    sequence_lengths: tuple[int, ...] = ()  # length buckets, e.g. (16, 32, 64, 128); overrides sequence_length
    overwrite: bool = False
    allow_validation_failure: bool = False
    # Static recipes (int8, int16x8): representative samples, tokenized with the model's own tokenizer.
    calibration_data: str | None = None  # .txt/.jsonl/.csv/.tsv or a datasets folder; None = calibration/en.txt
    text_column: str | None = None  # jsonl/csv/datasets column; "question,context" for pairs
    num_calibration_samples: int = 128
    calibration_range: str = "minmax"  # minmax | percentile | mse (edgellm.calibrate.RangeConfig.kind)
    io_type: str = "float"  # float | int8: quantized outputs with scale/zero point in the manifest (quantize/io.py)
    # Mean cosine to the float model on calibration samples that the static graph must reach; None = the
    # architecture's outlier list decides which linear layers fall back (quantize/sensitivity.py).
    accuracy_budget: float | None = None

    def __post_init__(self):
        recipe = get_recipe(self.quantize)  # ConfigError naming the recipes
        if recipe.int4_block:
            raise ConfigError(f"--quantize {self.quantize} is for --task text-generation (decoder LLMs); encoder "
                              "tasks take fp32, fp16, int8-dynamic, int8 or int16x8")
        self.convert_config()
        if self.calibration_data is not None and not recipe.needs_calibration:
            raise ConfigError(f"--calibration-data is only used by the static recipes "
                              f"({', '.join(r.name for r in RECIPES.values() if r.needs_calibration)}); "
                              f"{self.quantize!r} needs none. Drop it or pick one of those")
        if not isinstance(self.num_calibration_samples, int) or self.num_calibration_samples < 1:
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
            if isinstance(self.accuracy_budget, bool) or not 0 < self.accuracy_budget <= 1:
                raise ConfigError(f"--accuracy-budget is a mean cosine in (0, 1], e.g. 0.995; got "
                                  f"{self.accuracy_budget!r}")

    def convert_config(self) -> ConvertConfig:
        return ConvertConfig(task=self.task, sequence_length=self.sequence_length,
                             sequence_lengths=self.sequence_lengths,
                             bounded_layer_norm=get_recipe(self.quantize).bounded_layer_norm,
                             outlier_channel_ratio=get_recipe(self.quantize).outlier_channel_ratio)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExportConfig":
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    output_dir: Path
    model: EdgeModel
    validation: ValidationReport

    def summary(self) -> str:
        m = self.model
        lengths = ",".join(str(n) for _, n in m.signatures)
        return (f"exported {m.source.model_type} ({m.task}, {m.recipe}, sequence length {lengths}) to "
                f"{self.output_dir} [{m.size_bytes / 1e6:.1f} MB]\n{self.validation.summary()}")


def export(model: str | Path | None, output_dir: str | Path, config: ExportConfig | None = None,
           **options: Any):
    """Convert, quantize and validate a local HF model folder, and write OUTPUT_DIR.

    ``options`` are ExportConfig fields (task=, quantize=, sequence_length=, ...), applied over ``config``.
    ``model`` None exports the packaged all-MiniLM-L6-v2. Raises ValidationError (nothing written) when the
    flatbuffer's outputs are outside the recipe's tolerance, unless ``allow_validation_failure``.
    A causal LM (task="text-generation" or a .gguf file) goes to edgellm.convert.decoder with its defaults.

    >>> export("all-MiniLM-L6-v2/", "out/minilm", quantize="int8-dynamic")  # doctest: +SKIP
    """
    unknown = set(options) - set(ExportConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown export option(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(ExportConfig.__dataclass_fields__)}")
    if options.get("task") == "text-generation" or is_gguf(model):
        from edgellm.convert.decoder.export import LlmExportConfig, export_llm

        llm_options = {k: options[k] for k in ("quantize", "overwrite", "allow_validation_failure") if k in options}
        return export_llm(model, output_dir, LlmExportConfig(**llm_options))
    config = replace(config or ExportConfig(), **options)
    return run_export(model, output_dir, config)


def run_export(model: str | Path | None, output_dir: str | Path, config: ExportConfig) -> ExportResult:
    output_dir = check_output_dir(output_dir, overwrite=config.overwrite)
    source = read_source(model)
    if source.path == output_dir.resolve():
        raise ConfigError(f"OUTPUT_DIR {str(output_dir)!r} is the model folder itself; choose another folder")
    convert_config = config.convert_config()
    calibration = None
    if get_recipe(config.quantize).needs_calibration:  # loaded first: convert may scale outlier channels with it
        calibration = load_samples(config.calibration_data, str(source.path),
                                   num_samples=config.num_calibration_samples,
                                   sequence_length=max(convert_config.lengths), text_column=config.text_column)
    edge = convert(source, convert_config, calibration=calibration)
    edge = quantize(edge, config.quantize, calibration=calibration,
                    ranges=RangeConfig(kind=config.calibration_range) if calibration is not None else None,
                    io_type=config.io_type, accuracy_budget=config.accuracy_budget)
    report = validate(edge)
    if not report.passed and not config.allow_validation_failure:
        raise ValidationError(f"{report.summary()}; nothing was written (pass --allow-validation-failure to keep "
                              "the export marked not passed, or try a less aggressive --quantize)")
    bundle(output_dir, edge, validation=report, overwrite=config.overwrite)
    return ExportResult(output_dir=output_dir, model=edge, validation=report)
