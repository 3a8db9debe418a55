"""``optimize``: export a model with every recipe asked for, time each, pick the best inside a fidelity budget.

One pipeline: each recipe is an ordinary ``edgellm.export`` (validation included) into the stage cache
(``stages.py``), then an ordinary ``edgellm.benchmark`` of that folder. Encoders' float conversion and calibration
samples are computed once per run for the recipes that share them (``export(..., reuse=)``: fp32, fp16,
int8-dynamic and int8 share one float model; int16x8 traces its LayerNorms bounded, so it converts its own). LLM
recipes convert their own: each prepares its weights differently before conversion (smoothing, 4-bit grids).

OUTPUT_DIR afterwards:

    best/         the winning recipe's export folder (ordinary: `edgellm bench`, `generate`, the Android demo)
    report.md, report.html, report.json, report_plots/   (edgellm.report; report.json holds the lock)
    .stages/      every stage's output, keyed by content hash; a second run skips what is done
"""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgellm.errors import ConfigError, EdgeLLMError, config_fields
from edgellm.optimize.budget import parse_budget
from edgellm.optimize.select import OBJECTIVES, Measurement, Verdict, select
from edgellm.optimize.stages import STAGES, StageCache, stage_key

Progress = Callable[[str], None]
ENCODER_RECIPES = ("fp32", "fp16", "int8-dynamic", "int8", "int16x8")  # --recipes auto, encoders
LLM_RECIPES = ("fp32", "int8-dynamic", "int4")  # --recipes auto, text-generation


@dataclass(frozen=True, kw_only=True)
class OptimizeConfig:
    """Options of `edgellm optimize` (the CLI flags, same names).

    recipes: recipe names (edgellm.quantize.RECIPES) to try, in order (the order breaks exact ties); () = auto:
        fp32, fp16, int8-dynamic, int8, int16x8 for encoders; fp32, int8-dynamic, int4 for LLMs.
    budget: "METRIC:BOUND" (budget.py: cosine:0.99, top1:0.9, ppl:1.05, kl:0.03); None = each recipe's own
        validation row is the only gate.
    objective: "latency" (p50 latency, or decode tokens/s for LLMs, at the first thread count) or "size".
    """

    task: str = "auto"
    recipes: tuple[str, ...] = ()
    budget: str | None = None
    objective: str = "latency"
    threads: tuple[int, ...] = (1,)  # bench thread counts; the first one decides
    sequence_length: int = 128  # encoders, as `edgellm export`
    sequence_lengths: tuple[int, ...] = ()
    calibration_data: str | None = None  # static recipes' samples; None: the packaged calibration/en.txt
    cache_length: int = 512  # LLMs: KV-cache positions
    prefill_lengths: tuple[int, ...] = ()  # LLMs: prefill_<T> signatures; () = export's default (32, 128)
    device_results: tuple[str, ...] = ()  # `edgellm bench --format json` files of these exports on other devices
    runs: int = 50  # bench: timed invokes per recipe and thread count (encoders), at least min_seconds of them
    min_seconds: float = 1.0

    def __post_init__(self):
        from edgellm.quantize import RECIPES

        for name in ("recipes", "threads", "sequence_lengths", "prefill_lengths", "device_results"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, (str, int)) else tuple(value))
        unknown = [r for r in self.recipes if r not in RECIPES]
        if unknown:
            raise ConfigError(f"recipe {unknown[0]!r} is unknown; known: {', '.join(RECIPES)} (or auto)")
        if len(set(self.recipes)) != len(self.recipes):
            raise ConfigError(f"recipes {','.join(self.recipes)} name one recipe twice; list each once")
        parse_budget(self.budget)
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective {self.objective!r} is unknown; choose {' or '.join(OBJECTIVES)}")
        self.bench_config()  # threads, runs, min_seconds checked by BenchConfig
        for f in self.device_results:
            if not Path(f).is_file():
                raise ConfigError(f"device results file {f!r} does not exist; pass files written by "
                                  "`edgellm bench --format json --output FILE`")

    def bench_config(self, llm: bool = False):
        """Encoders: the bench defaults but runs/min_seconds; LLMs: a prompt and a reply of up to 64 tokens each
        that fit the KV cache together (cache 64: 32 + 32)."""
        from edgellm.bench import BenchConfig

        if llm:
            prompt = min(64, self.cache_length // 2)
            return BenchConfig(threads=self.threads, prompt_tokens=prompt,
                               new_tokens=min(64, self.cache_length - prompt))
        return BenchConfig(threads=self.threads, runs=self.runs, min_seconds=self.min_seconds)

    def export_config(self, recipe: str, llm: bool):
        """The ExportConfig of one recipe's stage (ConfigError where the recipe does not fit the model kind)."""
        from edgellm.export import ExportConfig
        from edgellm.manifest import TEXT_GENERATION
        from edgellm.quantize import get_recipe

        if llm:
            prefill = {"prefill_lengths": self.prefill_lengths} if self.prefill_lengths else {}
            return ExportConfig(task=TEXT_GENERATION, quantize=recipe, cache_length=self.cache_length,
                                allow_validation_failure=True, **prefill)
        return ExportConfig(task=self.task, quantize=recipe, sequence_length=self.sequence_length,
                            sequence_lengths=self.sequence_lengths, allow_validation_failure=True,
                            calibration_data=self.calibration_data if get_recipe(recipe).needs_calibration else None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OptimizeConfig":
        return cls(**config_fields(cls, data))


@dataclass(frozen=True, kw_only=True)
class OptimizeResult:
    output_dir: Path
    best: str | None  # the recipe in OUTPUT_DIR/best; None when no recipe is inside the budget
    verdicts: tuple[Verdict, ...]
    measurements: tuple[Measurement, ...]
    report: dict[str, Any] = field(default_factory=dict)  # write_report's paths
    stages_run: tuple[str, ...] = ()  # "export[int8]", "bench[int8]" ...
    stages_skipped: tuple[str, ...] = ()  # found done in OUTPUT_DIR/.stages
    seconds: float = 0.0

    def summary(self) -> str:
        by = {m.recipe: m for m in self.measurements}
        lines = []
        for v in self.verdicts:
            m = by[v.recipe]
            size = "-" if m.size_bytes is None else f"{m.size_bytes / 1e6:.2f} MB"
            lines.append(f"{v.status:>17}  {v.recipe:<13} {size:>10}  {v.reason}")
        head = (f"best: {self.best} -> {self.output_dir / 'best'}" if self.best else "best: none inside the budget")
        return "\n".join([head, *lines, f"report: {self.report.get('md', self.output_dir / 'report.md')} "
                          f"({len(self.stages_run)} stages run, {len(self.stages_skipped)} reused, "
                          f"{self.seconds:.1f} s)"])


def optimize(model: str | Path | None, output_dir: str | Path, config: OptimizeConfig | None = None, *,
             progress: Progress | None = None, **options: Any) -> OptimizeResult:
    """Export ``model`` with each recipe, bench each, write the best into OUTPUT_DIR/best and the report.

    ``options`` are OptimizeConfig fields applied over ``config``. Raises ConfigError (exit 2) for bad input
    (unknown recipe, malformed budget, a budget that does not fit the model kind, device results of another
    model or schema) before or without writing the report or best/, and, after writing the report, for a budget
    no recipe meets (best/ is then left as it was). Stages already in OUTPUT_DIR/.stages are reused.

    >>> optimize("all-MiniLM-L6-v2/", "out/opt", budget="cosine:0.99").best  # doctest: +SKIP
    'int8'
    """
    from dataclasses import replace

    from edgellm.convert.decoder.source import is_gguf

    if config is not None and not isinstance(config, OptimizeConfig):
        raise ConfigError(f"config must be an OptimizeConfig; got {type(config).__name__}")
    unknown = set(options) - set(OptimizeConfig.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"unknown optimize option(s) {', '.join(sorted(unknown))}; known: "
                          f"{', '.join(OptimizeConfig.__dataclass_fields__)}")
    config = replace(config or OptimizeConfig(), **options)
    t0 = time.perf_counter()
    if model is None:
        from edgellm.convert.source import default_model_path

        model = default_model_path()
    model = Path(model).expanduser()
    if not model.exists():
        raise ConfigError(f"model {str(model)!r} does not exist; pass a Hugging Face model folder or a .gguf file")
    if is_gguf(model) and config.task == "auto":
        config = replace(config, task="text-generation")
    llm = config.task == "text-generation"
    kind = "llm" if llm else "encoder"
    recipes = config.recipes or (LLM_RECIPES if llm else ENCODER_RECIPES)
    budget = parse_budget(config.budget)
    if budget is not None and not budget.applies_to(kind):
        raise ConfigError(f"budget {budget} does not apply to {'text-generation' if llm else 'encoder'} models; "
                          + ("use ppl:, top1: or kl:" if llm else "use cosine: (or top1: for logits)"))
    exports = {r: config.export_config(r, llm) for r in recipes}  # a recipe of the other kind fails here
    devices = _read_devices(config.device_results)
    out = _check_output_dir(Path(output_dir), model)
    show = progress or (lambda line: None)
    cache = StageCache(out)

    from edgellm.lock import SEED, input_digests, library_versions, output_digests
    from edgellm.manifest import read_manifest

    inputs = input_digests(model, calibration_data=config.calibration_data)
    versions = library_versions()
    input_sha = {name: d["sha256"] for name, d in inputs.items()}
    bench_config = config.bench_config(llm)
    host = {"node": platform.node(), "machine": platform.machine()}
    reuse: dict = {}
    measurements, stages, benches, folders = [], [], {}, {}
    for i, recipe in enumerate(recipes, 1):
        tag = f"[{i}/{len(recipes)} {recipe}]"
        args = {**exports[recipe].to_dict(), "overwrite": False}
        key = stage_key({"stage": "export", "inputs": input_sha, "args": args, "versions": versions, "seed": SEED})
        folder = cache.export_folder(recipe, key)
        done = (folder / "edgellm.json").is_file()
        cache.mark("export", recipe, done=done)
        if done:
            show(f"{tag} export: reused {folder.relative_to(out)}")
        else:
            started = time.perf_counter()
            try:
                from edgellm.export import export

                export(model, folder, exports[recipe], reuse=reuse,
                       progress=lambda line, tag=tag: show(f"{tag} export: {line}"))
            except EdgeLLMError as e:  # this recipe cannot be built (an op the recipe cannot quantize, ...)
                if isinstance(e, ConfigError) and config.recipes:  # asked for by name: the user's to fix
                    raise
                show(f"{tag} export FAILED: {e}")
                measurements.append(Measurement(recipe=recipe, llm=llm, error=str(e)))
                benches[recipe] = None
                continue
            show(f"{tag} export done in {time.perf_counter() - started:.1f} s")
        folders[recipe] = folder
        manifest = read_manifest(folder)
        stages.append({"stage": "export", "recipe": recipe, "key": key, "args": args,
                       "path": folder.relative_to(out).as_posix(), "outputs": output_digests(folder)})
        bench_args = bench_config.to_dict()
        model_sha = (manifest.get("files") or {}).get("model.tflite", {}).get("sha256")
        bkey = stage_key({"stage": "bench", "model": model_sha, "args": bench_args, "host": host})
        bench_file = cache.bench_file(recipe, bkey)
        bench = cache.read_json(bench_file)
        cache.mark("bench", recipe, done=bench is not None)
        if bench is None:
            from edgellm.bench import benchmark

            started = time.perf_counter()
            bench = benchmark(folder, bench_config).to_dict()
            cache.write_json(bench_file, bench)
            show(f"{tag} bench done in {time.perf_counter() - started:.1f} s ({_speed_line(bench, llm)})")
        else:
            show(f"{tag} bench: reused {bench_file.relative_to(out)} ({_speed_line(bench, llm)})")
        stages.append({"stage": "bench", "recipe": recipe, "key": bkey, "args": bench_args,
                       "path": bench_file.relative_to(out).as_posix()})
        benches[recipe] = bench
        measurements.append(Measurement(recipe=recipe, size_bytes=manifest.get("size_bytes"), llm=llm,
                                        speed=_speed(bench, llm), validation=manifest.get("validation")))

    verdicts, best = select(measurements, budget, config.objective)
    device_entries = _device_entries(devices, benches)
    if best is not None:
        _write_best(folders[best], out / "best", model)
        show(f"best: {best} -> {out / 'best'}")
        for s in stages:
            if s["stage"] == "export" and s["recipe"] == best:
                s["folder"] = "best"
    lock = {"format": "edgellm.lock/1", "model": str(model.resolve()), "seed": SEED, "inputs": inputs,
            "versions": versions, "config": config.to_dict(), "stages": stages,
            "measurements": [m.to_dict() for m in measurements], "selected": best,
            "outputs": {f"best/{name}": sha for name, sha in output_digests(out / "best").items()}
            if best is not None else {}}
    report = _write_report(out, model, config, budget, verdicts, measurements, benches, device_entries, lock, kind)
    result = OptimizeResult(output_dir=out, best=best, verdicts=tuple(verdicts), measurements=tuple(measurements),
                            report=report, stages_run=tuple(cache.ran), stages_skipped=tuple(cache.skipped),
                            seconds=time.perf_counter() - t0)
    if best is None:
        raise ConfigError(_no_recipe_message(budget, measurements, out))
    return result


# ---------------------------------------------------------------------------------------------- helpers
def _check_output_dir(out: Path, model: Path) -> Path:
    """OUTPUT_DIR is new, empty, or an earlier optimize output (its .stages or report.json): resumed, not replaced."""
    from edgellm.bundle.outdir import check_output_dir

    if out.is_dir() and any(out.iterdir()) and not (out / STAGES).is_dir() and not (out / "report.json").is_file():
        names = sorted(p.name for p in out.iterdir())[:4]
        raise ConfigError(f"output folder {str(out)!r} holds files that are not an `edgellm optimize` output "
                          f"({', '.join(names)}); choose a new folder, or an earlier optimize OUTPUT_DIR to resume")
    check_output_dir(out / "best", overwrite=True, source=model)  # writable, not the model source
    return out


def _speed(bench: dict[str, Any], llm: bool) -> float | None:
    rows = bench.get("results") or []
    if not rows:
        return None
    if llm:
        return rows[0].get("decode_tokens_per_second")
    return (rows[0].get("latency_ms") or {}).get("p50")


def _speed_line(bench: dict[str, Any], llm: bool) -> str:
    rows = bench.get("results") or []
    if llm:
        return ", ".join(f"{r['num_threads']} threads: TTFT {r.get('time_to_first_token_ms', 0):.1f} ms, "
                         f"{r.get('decode_tokens_per_second', 0):.1f} tok/s" for r in rows)
    return ", ".join(f"{r['num_threads']} threads: p50 {r['latency_ms']['p50']:.3f} ms" for r in rows)


def _write_best(stage: Path, best: Path, model: Path) -> None:
    """Copy the winning stage's export folder to OUTPUT_DIR/best, at once; skipped when best/ already is it."""
    from edgellm.bundle.outdir import atomic_output_dir

    manifest = "edgellm.json"
    if (best / manifest).is_file() and (best / manifest).read_bytes() == (stage / manifest).read_bytes():
        return
    with atomic_output_dir(best, overwrite=True, source=model) as tmp:
        shutil.copytree(stage, tmp, dirs_exist_ok=True)


def _read_devices(files: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(file, ReportEntry list) per --device-results file: schema checked now, before any work."""
    if not files:
        return []
    from edgellm.report import entries_from_bench

    return [(f, entries_from_bench([f])) for f in files]


def _device_entries(devices, benches: dict[str, dict | None]) -> list:
    """Device results as report entries labelled "RECIPE @ DEVICE"; a file timing another model: ConfigError."""
    from edgellm.report import ReportEntry
    from edgellm.report.entry import model_key, model_name

    ours = {}
    for recipe, bench in benches.items():
        if bench and bench.get("results"):
            ours[model_key(bench["results"][0]["model"])] = recipe
    entries = []
    for file, found in devices:
        for e in found:
            model = (e.bench.get("results") or [{}])[0].get("model") or {}
            recipe = ours.get(model_key(model))
            if recipe is None:
                raise ConfigError(f"device results {file} time {model_name(model)}, which is none of this run's "
                                  f"exports ({', '.join(ours.values())}); pass `edgellm bench --format json` results "
                                  "of these exports (copy OUTPUT_DIR/best or a .stages export to the device)")
            entries.append(ReportEntry(label=f"{recipe} @ {e.label}", bench=e.bench, status="device",
                                       reason=f"{recipe} measured on that device ({Path(file).name})"))
    return entries


def _write_report(out, model, config, budget, verdicts, measurements, benches, device_entries, lock, kind):
    from edgellm.report import ReportEntry, write_report

    by = {m.recipe: m for m in measurements}
    entries = []
    for v in verdicts:
        m = by[v.recipe]
        bench = benches.get(v.recipe) or _empty_bench()
        entries.append(ReportEntry(label=v.recipe, bench=bench, size_bytes=m.size_bytes, fidelity=m.validation,
                                   status=v.status, reason=v.reason))
    extra = {"optimize": {"model": str(model), "kind": kind, "budget": str(budget) if budget else None,
                          "objective": config.objective, "threads": list(config.threads),
                          "best": next((v.recipe for v in verdicts if v.status == "best"), None),
                          "verdicts": [asdict(v) for v in verdicts]}}
    name = model.name if model.name != "model" else f"{model.parent.name}/{model.name}"  # the packaged MiniLM
    title = f"edgellm optimize: {name} ({config.objective}{f', budget {budget}' if budget else ''})"
    return write_report(entries + device_entries, out, title=title, lock=lock, extra=extra)


def _empty_bench() -> dict[str, Any]:
    from edgellm.bench.report import SCHEMA

    return {"schema": SCHEMA, "host": {}, "runtime": {}, "results": []}


def _no_recipe_message(budget, measurements: list[Measurement], out: Path) -> str:
    passed = [m for m in measurements if (m.validation or {}).get("passed")]
    if budget is not None and passed:
        closest = sorted(passed, key=lambda m: -(budget.value(m.validation) or 0) if budget.higher_is_better
                         else (budget.value(m.validation) or float("inf")))[0]
        found = f"the closest: {closest.recipe} ({budget.describe(budget.value(closest.validation))})"
    else:
        found = "no recipe passed its own validation"
    return (f"budget {budget if budget else '(none)'} is met by no recipe; {found}; report written to "
            f"{out / 'report.md'}, best/ left as it was; loosen the budget or add recipes")
