"""The quiz inside LLM validation: asked through the chat template, PyTorch's answers beside the export's."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "generate"))
from tiny_llm import CACHE, cached_export  # noqa: E402

from edgellm import cli  # noqa: E402
from edgellm.errors import ConfigError  # noqa: E402

QUIZ = [{"question": "Hi?", "answers": ["hello"], "match": "contains", "kind": "instruction"},
        {"question": "2+2?", "answers": ["4", "four"], "match": "contains", "kind": "arithmetic"},
        {"question": "Sky?", "answers": ["blue"], "match": "contains", "kind": "fact"}]


def _quiz_file(path: Path, items=QUIZ) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def test_quiz_scored_beside_pytorch(tmp_path_factory, tmp_path):
    from edgellm.convert.decoder import DecoderConfig, DecoderModel, load_reference, read_decoder_source
    from edgellm.convert.source import load_tokenizer
    from edgellm.validate.decoder import reference_outputs, validate_decoder

    model_dir, out = cached_export(tmp_path_factory)
    source = read_decoder_source(model_dir)
    tokenizer, reference = load_tokenizer(source), load_reference(source)
    expected = reference_outputs(reference, tokenizer, CACHE, quiz=_quiz_file(tmp_path / "q.jsonl"))
    assert len(expected.quiz_answers) == 3 and all(expected.quiz_answers)
    edge = DecoderModel(content=b"", source=source, config=DecoderConfig(cache_length=CACHE, prefill_lengths=(8,)),
                        reference=reference)
    report = validate_decoder(edge, out / "model.tflite", tokenizer, expected=expected)
    quiz = report.metrics["quiz"]
    # fp32 export, PyTorch's own answers: the same right and wrong ones
    assert quiz["total"] == 3 and quiz["correct"] == quiz["reference_correct"] and quiz["differs"] == []
    assert f"quiz {quiz['correct']}/3 vs PyTorch {quiz['reference_correct']}" in report.summary()
    # the packaged quiz does not fit this tiny cache: skipped, and said so
    packaged = reference_outputs(reference, tokenizer, CACHE)
    assert packaged.quiz_skipped and "too short" in packaged.quiz_skipped
    # a given quiz that does not fit is an error, not a skip
    long = [{**QUIZ[0], "question": "word " * CACHE}]
    with pytest.raises(ConfigError, match="quiz question 1 .* needs .* tokens"):
        reference_outputs(reference, tokenizer, CACHE, quiz=_quiz_file(tmp_path / "long.jsonl", long))


def test_quiz_gate_allows_two_answers_fewer():
    from edgellm.validate import LLM, TOLERANCES
    from edgellm.validate.decoder import judge

    base = {"greedy_match_min": 0.0, "top1": 0.95, "perplexity_ratio": 1.0}
    tolerance = TOLERANCES[(LLM, "int8-dynamic")]
    assert judge({**base, "quiz": {"correct": 33, "reference_correct": 35, "total": 50, "slack": 2}}, tolerance) == ()
    assert judge({**base, "quiz": {"correct": 32, "reference_correct": 35, "total": 50, "slack": 2}}, tolerance) == (
        "quiz 32/50 right, more than 2 below PyTorch's 35",)
    assert judge({**base, "quiz": {"skipped": "no chat template"}}, tolerance) == ()


@pytest.mark.parametrize("content, match", [("", "holds no"), ("{not json\n", "line 1"),
                                            ('{"question": "q", "answers": [], "match": "contains", '
                                             '"kind": "fact"}\n', "answers")])
def test_bad_quiz_file_is_one_line_before_any_work(tmp_path, capsys, content, match):
    quiz = tmp_path / "quiz.jsonl"
    quiz.write_text(content, encoding="utf-8")
    code = cli.main(["export", "--model", str(tmp_path / "no-model"), "--task", "text-generation", "--quiz", str(quiz),
                     str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "quiz" in err and match in err, err
    assert not (tmp_path / "out").exists()
