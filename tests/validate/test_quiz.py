import json
import re
from pathlib import Path

import pytest

from edgellm.errors import ConfigError
from edgellm.validate.quiz import QuizItem, check_fits, is_correct, load_quiz, normalise, score

ROOT = Path(__file__).resolve().parents[2]


def _item(*answers, match="contains", kind="fact"):
    return QuizItem(question="q?", answers=answers, match=match, kind=kind)


def _corpus_sentences() -> set[str]:
    """Every sentence the calibration corpora, the encoder validation sentences and the LLM validation prompts
    hold, normalised (smooth.py's chat calibration prompts are the lines of calibrate/data/en.txt)."""
    from edgellm.validate.decoder import CHAT_PROMPTS, GREEDY_PROMPTS

    files = [*ROOT.joinpath("calibration").glob("*.txt"), *ROOT.joinpath("edgellm/calibrate/data").glob("*.txt"),
             ROOT / "edgellm/validate/sentences.txt"]
    text = "\n".join([*(f.read_text("utf-8") for f in files), *CHAT_PROMPTS, *GREEDY_PROMPTS])
    return {normalise(s) for s in re.split(r"(?<=[.?!:])\s+|\n", text) if normalise(s)}


def test_packaged_quiz_has_50_distinct_questions_of_three_kinds():
    items = load_quiz()
    assert len(items) == 50
    assert {i.kind for i in items} == {"fact", "arithmetic", "instruction"}
    assert all(i.match in ("contains", "exact") and i.answers for i in items)
    assert len({normalise(i.question) for i in items}) == 50
    assert load_quiz(ROOT / "edgellm/validate/quiz.jsonl") == items


def test_packaged_quiz_shares_no_sentence_with_calibration_or_validation_prompts():
    corpus = _corpus_sentences()
    assert len(corpus) > 400  # the corpora were found
    assert normalise("What is the capital of France?") in corpus  # a validation prompt, kept out of the quiz
    questions = {normalise(s) for i in load_quiz() for s in re.split(r"(?<=[.?!:])\s+", i.question)}
    shared = questions & corpus
    assert not shared
    # nor is a question's sentence part of a longer corpus sentence
    assert not [q for q in questions if len(q.split()) > 2 and any(f" {q} " in f" {c} " for c in corpus)]


@pytest.mark.parametrize("text, expected", [
    ("Paris.", "paris"),
    ("  Café   PARIS!\n", "cafe paris"),
    ("São Paulo, Brasil", "sao paulo brasil"),
    ("2 + 3 = 5.", "2 3 5"),
    ('"Bonjour"', "bonjour"),
    ("twenty-four hours", "twenty-four hours"),
    ("1, 2, 3...", "1 2 3"),
    ("", ""),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_contains_matches_whole_words_and_word_sequences():
    five = _item("5", "five")
    assert is_correct("2 + 3 = 5", five)
    assert is_correct("The answer is Five.", five)
    assert not is_correct("The answer is 15.", five)
    assert not is_correct("5.5 is close", five)
    assert not is_correct("fives", five)
    assert is_correct("Die Hauptstadt ist Rom, not Tokyo", _item("rom"))
    assert is_correct("It is São Paulo.", _item("sao paulo"))
    assert not is_correct("sao in paulo", _item("sao paulo"))
    assert is_correct("Le mot est «bonjour».", _item("Bonjour"))
    assert not is_correct("", five)


def test_exact_compares_the_first_line_only():
    yes = _item("yes", match="exact")
    assert is_correct("Yes.", yes)
    assert is_correct("  YES\nI said yes because you asked.", yes)
    assert not is_correct("Yes, it is.", yes)
    assert not is_correct("Sure.\nyes", yes)
    assert not is_correct("", yes)
    assert is_correct("42", _item("42", match="exact"))
    assert not is_correct("42 is the answer", _item("42", match="exact"))


def test_score_counts_per_item():
    items = (_item("5"), _item("yes", match="exact"), _item("tokyo"))
    assert score(["It is 5.", "Yes, sure.", "Tokyo!"], items) == {"correct": 2, "total": 3,
                                                                 "per_item": [True, False, True]}
    with pytest.raises(ConfigError, match="score got 2 replies for 3 quiz questions"):
        score(["5", "yes"], items)


def _write(tmp_path, *lines, name="quiz.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = json.dumps({"question": "What is 2 + 3?", "answers": ["5", "five"], "match": "contains", "kind": "arithmetic"})


def test_load_quiz_reads_a_user_file_and_skips_blank_lines(tmp_path):
    items = load_quiz(_write(tmp_path, GOOD, "", json.dumps({"question": " Say yes. ", "answers": ["yes"],
                                                             "match": "exact", "kind": "instruction"})))
    assert items == (QuizItem("What is 2 + 3?", ("5", "five"), "contains", "arithmetic"),
                     QuizItem("Say yes.", ("yes",), "exact", "instruction"))


def _line(**changes):
    data = {"question": "What is 2 + 3?", "answers": ["5"], "match": "contains", "kind": "arithmetic", **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize("line, message", [
    ('{"question": "What is 2 + 3?", "answers": ["5"]', r"line 2: malformed JSON \("),
    ('["What is 2 + 3?", ["5"]]', r"line 2: a JSON array, not an object"),
    (_line(question=...), r"line 2: no question \(got null\)"),
    (_line(question="   "), r"line 2: no question \(got ''\)"),
    (_line(answers=...), r"line 2: no answers \(got null\)"),
    (_line(answers=[]), r"line 2: no answers \(got \[\]\)"),
    (_line(answers="5"), r"line 2: no answers \(got '5'\)"),
    (_line(answers=["5", 5]), r"line 2: answer 5 is a JSON number, not a string"),
    (_line(answers=["?!"]), r"line 2: answer '\?!' is empty once punctuation is removed"),
    (_line(match="regex"), r"line 2: unknown match 'regex'; allowed: contains, exact"),
    (_line(match=...), r"line 2: unknown match null; allowed: contains, exact"),
    (_line(kind=...), r"line 2: no kind \(got null\)"),
    (_line(anwsers=["5"]), r"line 2: unknown keys 'anwsers'; known: question, answers, match, kind"),
    (_line(question="what is 2 + 3"), r"line 2: question 'what is 2 \+ 3' repeats line 1"),
])
def test_load_quiz_names_the_file_and_line_of_a_bad_line(tmp_path, line, message):
    path = _write(tmp_path, GOOD, line)
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ", " + message) as e:
        load_quiz(path)
    assert "\n" not in str(e.value)


def test_load_quiz_rejects_a_missing_empty_or_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"quiz file .*nope\.jsonl does not exist; pass the path of a JSONL"):
        load_quiz(tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match=r"quiz file .*empty\.jsonl holds no questions; write one JSON object"):
        load_quiz(_write(tmp_path, "", "  ", name="empty.jsonl"))
    (tmp_path / "latin1.jsonl").write_bytes('{"question": "Caf\u00e9?"}'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"quiz file .*latin1\.jsonl is not UTF-8 text"):
        load_quiz(tmp_path / "latin1.jsonl")
    with pytest.raises(ConfigError, match=r"cannot read quiz file .*"):
        load_quiz(tmp_path)  # a folder


def test_check_fits():
    items = load_quiz()[:3]
    check_fits(items, [20, 30, 232], reply_tokens=24, cache_length=256)  # 232 + 24 = 256 fits exactly
    with pytest.raises(ConfigError, match=r"^quiz question 2 \('What is the capital of Italy\?'\) needs 300 tokens "
                                          r"with its reply \(276 prompt \+ 24 reply\); the export's KV cache holds "
                                          r"256: re-export with --cache-length 300 or more, or pass a shorter quiz$"):
        check_fits(items, [20, 276, 30], reply_tokens=24, cache_length=256)
    with pytest.raises(ConfigError, match=r"^quiz question 1 .* holds 64 \(2 of 3 questions do not fit\): "
                                          r"re-export with --cache-length 124 or more"):
        check_fits(items, [50, 100, 30], reply_tokens=24, cache_length=64)
    with pytest.raises(ConfigError, match="check_fits got 2 prompt token counts for 3 quiz questions"):
        check_fits(items, [1, 2], reply_tokens=24, cache_length=256)


def test_quiz_module_needs_no_torch():
    import subprocess
    import sys

    code = ("import sys, edgellm.validate.quiz as q; q.load_quiz(); "
            "assert not {'torch', 'transformers', 'tensorflow'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
