"""`edgellm optimize` on a tiny BERT: stage cache and resume, best/, the report's lock, bad input."""

from __future__ import annotations

import json
import shutil

import pytest

from edgellm import cli
from edgellm.errors import ConfigError
from edgellm.manifest import read_manifest, sha256_file

RECIPES = ("fp32", "int8-dynamic")
FAST = {"recipes": RECIPES, "sequence_length": 16, "runs": 3, "min_seconds": 0.0}


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    """A run stopped by Ctrl-C in the second recipe's bench, the run that resumes it, and one more."""
    import edgellm.bench
    from edgellm.optimize import optimize

    out = tmp_path_factory.mktemp("optimize") / "opt"
    real = edgellm.bench.benchmark
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    edgellm.bench.benchmark = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            optimize(tiny_bert, out, **FAST)
    finally:
        edgellm.bench.benchmark = real
    left = sorted(p.name for p in out.iterdir())
    stage_names = sorted(p.name for p in (out / ".stages").iterdir())
    resumed = optimize(tiny_bert, out, **FAST)
    again = optimize(tiny_bert, out, **FAST)
    return {"out": out, "left": left, "stage_names": stage_names, "resumed": resumed, "again": again,
            "model": tiny_bert}


def test_interrupted_run_keeps_finished_stages_and_nothing_half_written(runs):
    assert runs["left"] == [".stages"]  # no report, no best/, no temporary folder
    names = runs["stage_names"]
    assert len(names) == 3 and not any(n.startswith(".") or "partial" in n for n in names), names
    assert sum(n.startswith("export-") for n in names) == 2 and sum(n.startswith("bench-") for n in names) == 1


def test_resume_skips_finished_stages_and_a_repeat_skips_all(runs):
    resumed, again = runs["resumed"], runs["again"]
    assert resumed.stages_skipped == ("export[fp32]", "bench[fp32]", "export[int8-dynamic]")
    assert resumed.stages_run == ("bench[int8-dynamic]",)
    assert again.stages_run == () and len(again.stages_skipped) == 4
    assert again.best == resumed.best


def test_best_is_an_ordinary_export_of_the_winner_and_losers_say_why(runs):
    result, out = runs["again"], runs["out"]
    manifest = read_manifest(out / "best")
    assert result.best in RECIPES and manifest["quantization"]["recipe"] == result.best
    assert manifest["validation"]["passed"]
    statuses = {v.recipe: v.status for v in result.verdicts}
    assert statuses[result.best] == "best"
    loser = next(v for v in result.verdicts if v.recipe != result.best)
    assert loser.status == "slower" and result.best in loser.reason
    assert f"best: {result.best}" in result.summary()


def test_report_json_holds_the_lock(runs):
    out, model = runs["out"], runs["model"]
    doc = json.loads((out / "report.json").read_text())
    lock = doc["lock"]
    assert lock["seed"] == 0 and lock["selected"] == runs["again"].best
    assert lock["inputs"]["model/model.safetensors"]["sha256"] == sha256_file(model / "model.safetensors")
    assert {"model/tokenizer.json", "model/config.json", "calibration/en.txt", "validation/en_eval.txt"} \
        <= set(lock["inputs"])
    assert {"torch", "litert-torch", "ai-edge-quantizer", "ai-edge-litert", "transformers", "edgellm"} \
        <= set(lock["versions"])
    stages = [(s["stage"], s["recipe"]) for s in lock["stages"]]
    assert stages == [("export", "fp32"), ("bench", "fp32"), ("export", "int8-dynamic"), ("bench", "int8-dynamic")]
    exports = [s for s in lock["stages"] if s["stage"] == "export"]
    assert all(s["args"]["quantize"] == s["recipe"] and s["args"]["sequence_length"] == 16 for s in exports)
    assert lock["outputs"]["best/model.tflite"] == sha256_file(out / "best" / "model.tflite")
    assert [e["status"] for e in doc["entries"]].count("best") == 1


# ---------------------------------------------------------------------------------------------- bad input
def _cli(capsys, *argv):
    code = cli.main(["optimize", *argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("flags, match", [
    (["--recipes", "fp32,int9"], "recipe 'int9' is unknown; known: fp32, fp16, int8-dynamic, int8"),
    (["--budget", "cosine=0.99"], "budget 'cosine=0.99' is malformed"),
    (["--budget", "ppl:1.05"], "budget ppl:1.05 does not apply to encoder models"),
    (["--recipes", "fp32,int4"], "recipe 'int4' is not available for text-generation|is for --task text-generation"),
])
def test_bad_flags_exit_2_before_any_work(tiny_bert, tmp_path, capsys, flags, match):
    import re

    code, err = _cli(capsys, "--model", str(tiny_bert), "--sequence-length", "16", *flags, str(tmp_path / "o"))
    assert code == 2 and re.search(match, err), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_device_results_of_an_unknown_schema_exit_2(tiny_bert, tmp_path, capsys):
    bad = tmp_path / "pi.json"
    bad.write_text(json.dumps({"schema": "edgellm.bench/9", "results": []}))
    code, err = _cli(capsys, "--device-results", str(bad), "--model", str(tiny_bert), str(tmp_path / "o"))
    assert code == 2 and "schema 'edgellm.bench/9' is not supported" in err and not (tmp_path / "o").exists()


def test_device_results_of_another_model_exit_2_and_keep_the_report(runs, tmp_path, capsys):
    out = runs["out"]
    bench = json.loads(next((out / ".stages").glob("bench-fp32-*.json")).read_text())
    bench["results"][0]["model"]["size_bytes"] += 1  # another file
    other = tmp_path / "pi.json"
    other.write_text(json.dumps(bench))
    before = (out / "report.json").read_bytes()
    code, err = _cli(capsys, "--device-results", str(other), "--model", str(runs["model"]), "--recipes",
                     ",".join(RECIPES), "--sequence-length", "16", "--runs", "3", "--min-seconds", "0", str(out))
    assert code == 2 and "which is none of this run's exports" in err, err
    assert (out / "report.json").read_bytes() == before


def test_device_results_of_these_exports_join_the_report(runs, tmp_path):
    from edgellm.optimize import optimize

    out = runs["out"]
    device = tmp_path / "pi.json"
    shutil.copyfile(next((out / ".stages").glob("bench-int8-dynamic-*.json")), device)
    result = optimize(runs["model"], out, device_results=(str(device),), **FAST)
    labels = [e["label"] for e in json.loads((out / "report.json").read_text())["entries"]]
    assert result.stages_run == () and any(label.startswith("int8-dynamic @ ") for label in labels), labels


def test_a_budget_no_recipe_meets_exits_2_writes_the_report_and_keeps_best(runs, capsys):
    out = runs["out"]
    best = (out / "best" / "edgellm.json").read_bytes()
    code, err = _cli(capsys, "--model", str(runs["model"]), "--recipes", ",".join(RECIPES), "--sequence-length",
                     "16", "--runs", "3", "--min-seconds", "0", "--budget", "cosine:1", str(out))
    assert code == 2 and "budget cosine:1 is met by no recipe; the closest: fp32 (cosine" in err, err
    errors = [line for line in err.splitlines() if "error:" in line]  # the other lines: progress
    assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0]
    assert (out / "best" / "edgellm.json").read_bytes() == best
    doc = json.loads((out / "report.json").read_text())
    assert doc["lock"]["selected"] is None and {e["status"] for e in doc["entries"]} == {"over budget"}
    from edgellm.optimize import optimize  # the run after it puts the report back for the other tests

    optimize(runs["model"], out, **FAST)


def test_an_output_folder_that_is_not_an_optimize_output_is_refused(tiny_bert, tmp_path):
    from edgellm.optimize import optimize

    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files that are not an `edgellm optimize` output"):
        optimize(tiny_bert, tmp_path / "o", **FAST)
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


def test_config_round_trips_and_checks_its_fields():
    from edgellm.optimize import OptimizeConfig

    c = OptimizeConfig(recipes=("int8",), budget="cosine:0.99", threads=(1, 2), objective="size")
    assert OptimizeConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ConfigError, match="objective 'speed' is unknown"):
        OptimizeConfig(objective="speed")
    with pytest.raises(ConfigError, match="name one recipe twice"):
        OptimizeConfig(recipes=("fp32", "fp32"))
    with pytest.raises(ConfigError, match="unknown OptimizeConfig keys 'bogus'"):
        OptimizeConfig.from_dict({"bogus": 1})


def test_llm_auto_recipes_report_a_recipe_the_model_cannot_take_and_go_on(tmp_path_factory, tmp_path, monkeypatch):
    """--recipes auto on an LLM: a recipe the model cannot take (a ConfigError from its export) is reported as
    failed and the others are compared; asked for by name, the same error stops the run."""
    import edgellm.export
    from edgellm.optimize import optimize
    from generate.tiny_llm import CACHE, cached_export

    model, fp32 = cached_export(tmp_path_factory)

    def fake_export(source, folder, config, **kwargs):  # every recipe's stage gets the tiny fp32 export
        if config.quantize == "int4":
            raise ConfigError("int4 quantizes blocks of 32 inputs; 48 inputs do not divide into them")
        shutil.copytree(fp32, folder)

    monkeypatch.setattr(edgellm.export, "export", fake_export)
    result = optimize(model, tmp_path / "auto", task="text-generation", cache_length=CACHE, prefill_lengths=(8,))
    failed = {m.recipe: m.error for m in result.measurements if m.error}
    assert failed == {"int4": "int4 quantizes blocks of 32 inputs; 48 inputs do not divide into them"}
    assert result.best in ("fp32", "int8-dynamic") and (tmp_path / "auto" / "best" / "model.tflite").is_file()
    with pytest.raises(ConfigError, match="blocks of 32"):
        optimize(model, tmp_path / "named", task="text-generation", cache_length=CACHE, prefill_lengths=(8,),
                 recipes=("int4",))
