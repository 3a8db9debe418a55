"""Recipe selection and budgets on fabricated measurements (no model, no runtime)."""

from __future__ import annotations

import pytest

from edgellm.errors import ConfigError
from edgellm.optimize import Budget, Measurement, parse_budget, select


def enc(recipe, size, p50, cosine=0.999, passed=True, failures=()):
    return Measurement(recipe=recipe, size_bytes=size * 1_000_000, speed=p50,
                       validation={"passed": passed, "failures": list(failures),
                                   "metrics": {"embedding": {"mean_cosine": cosine}}})


def llm(recipe, size, tok_s, ppl=1.01, top1=0.95, passed=True):
    return Measurement(recipe=recipe, size_bytes=size, speed=tok_s, llm=True,
                       validation={"passed": passed, "failures": [],
                                   "metrics": {"perplexity_ratio": ppl, "top1": top1, "kl": 0.01}})


def statuses(verdicts):
    return {v.recipe: v.status for v in verdicts}


def test_fastest_inside_the_budget_wins_and_every_other_recipe_says_why():
    ms = [enc("fp32", 22, 10.0, 1.0), enc("fp16", 11, 10.5, 0.9999), enc("int8", 6, 7.0, 0.985),
          enc("int8-dynamic", 6, 8.0, 0.995)]
    verdicts, best = select(ms, parse_budget("cosine:0.99"), "latency")
    assert best == "int8-dynamic"
    assert statuses(verdicts) == {"fp32": "slower", "fp16": "slower", "int8": "over budget",
                                  "int8-dynamic": "best"}
    reasons = {v.recipe: v.reason for v in verdicts}
    assert reasons["int8"] == "cosine 0.9850 < 0.99"
    assert "1.25x slower" in reasons["fp32"] and "int8-dynamic" in reasons["fp32"]
    assert [v.recipe for v in verdicts] == ["fp32", "fp16", "int8", "int8-dynamic"]  # input order kept


def test_latency_tie_goes_to_the_smaller_file_then_to_the_recipe_order():
    verdicts, best = select([enc("fp32", 22, 5.0), enc("int8", 6, 5.0)], None, "latency")
    assert best == "int8" and verdicts[0].status == "slower"
    assert verdicts[0].reason == "as fast as int8 (p50 5.000 ms), larger (22.00 MB vs 6.00 MB)"
    verdicts, best = select([enc("int8-dynamic", 6, 5.0), enc("int8", 6, 5.0)], None, "latency")
    assert best == "int8-dynamic" and "listed after it" in verdicts[1].reason
    verdicts, best = select([enc("int8", 6, 5.0), enc("int8-dynamic", 6, 5.0)], None, "latency")
    assert best == "int8"


def test_size_objective_picks_the_smallest_and_breaks_a_size_tie_by_speed():
    verdicts, best = select([enc("fp32", 22, 1.0), enc("int8", 6, 9.0), enc("int8-dynamic", 6, 3.0)], None, "size")
    assert best == "int8-dynamic"
    assert statuses(verdicts) == {"fp32": "larger", "int8": "larger", "int8-dynamic": "best"}
    assert "slower" in verdicts[1].reason


def test_all_over_budget_means_no_best():
    ms = [enc("fp32", 22, 10.0, 0.9991), enc("int8", 6, 7.0, 0.985)]
    verdicts, best = select(ms, parse_budget("cosine:0.9999"), "latency")
    assert best is None and statuses(verdicts) == {"fp32": "over budget", "int8": "over budget"}


def test_a_failed_validation_or_a_failed_build_never_wins_even_when_fastest():
    ms = [enc("fp32", 22, 10.0), enc("int8", 6, 1.0, passed=False, failures=["mean cosine 0.80 < 0.99"]),
          Measurement(recipe="int16x8", error="ai-edge-quantizer could not apply 'int16x8': boom")]
    verdicts, best = select(ms, None, "latency")
    assert best == "fp32"
    assert statuses(verdicts) == {"fp32": "best", "int8": "failed validation", "int16x8": "failed"}
    assert verdicts[1].reason == "mean cosine 0.80 < 0.99" and "boom" in verdicts[2].reason


def test_llm_speed_is_decode_tokens_per_second_higher_wins_and_ppl_budget():
    ms = [llm("fp32", 500, 20.0, 1.0), llm("int8-dynamic", 150, 50.0, 1.03), llm("int4", 100, 60.0, 1.2)]
    verdicts, best = select(ms, parse_budget("ppl:1.05"), "latency")
    assert best == "int8-dynamic"
    assert statuses(verdicts) == {"fp32": "slower", "int8-dynamic": "best", "int4": "over budget"}
    assert "2.50x slower" in verdicts[0].reason and verdicts[2].reason == "ppl 1.2000 > 1.05"


@pytest.mark.parametrize("text, metric, bound", [("cosine:0.99", "cosine", 0.99), ("ppl:1.05", "ppl", 1.05),
                                                  ("TOP1: 0.9", "top1", 0.9), ("kl:0.03", "kl", 0.03)])
def test_budget_parses(text, metric, bound):
    assert parse_budget(text) == Budget(metric=metric, bound=bound)


@pytest.mark.parametrize("text, match", [("cosine", "malformed"), ("cosine:high", "not a number"),
                                         ("speed:2", "unknown; known: cosine, top1, ppl, kl"),
                                         ("cosine:1.5", "out of range"), ("ppl:-1", "out of range"),
                                         ("a:b:c", "malformed")])
def test_malformed_budget_is_a_config_error(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_budget(text)


def test_budget_reads_the_worst_output_of_an_encoder_and_the_llm_metric():
    b = parse_budget("cosine:0.99")
    validation = {"metrics": {"a": {"mean_cosine": 0.999}, "b": {"mean_cosine": 0.98}}}
    assert b.value(validation) == 0.98 and not b.admits(validation)
    assert parse_budget("top1:0.9").value({"metrics": {"top1": 0.93}}) == 0.93
    assert parse_budget("top1:0.9").value({"metrics": {"a": {"mean_cosine": 1.0}}}) is None  # not measured
    assert b.applies_to("encoder") and not b.applies_to("llm") and parse_budget("ppl:1.1").applies_to("llm")


def test_output_dir_may_follow_device_results(capsys):
    from edgellm import cli

    args = cli.build_parser().parse_args(["optimize", "--device-results", "pi.json", "phone.json", "out/run"])
    cli._output_dir_after_device_results(args)
    assert args.output_dir == "out/run" and tuple(args.device_results) == ("pi.json", "phone.json")
    args = cli.build_parser().parse_args(["optimize", "out/run", "--device-results", "pi.json"])
    cli._output_dir_after_device_results(args)
    assert args.output_dir == "out/run" and tuple(args.device_results) == ("pi.json",)
    assert cli.main(["optimize", "--device-results", "pi.json"]) == 2
    assert capsys.readouterr().err.strip() == ("edgellm optimize: error: optimize needs OUTPUT_DIR, the folder to "
                                               "write (after the options, or before --device-results)")
