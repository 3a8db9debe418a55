"""A short-answer quiz an LLM export answers through its chat template: does it still say the right thing?

The packaged quiz (quiz.jsonl, 50 questions a 135M-parameter instruct model can answer: 25 facts, 12 sums, 13
instructions) is one JSON object per line:

    {"question": "What is 2 + 3?", "answers": ["5", "five"], "match": "contains", "kind": "arithmetic"}

  match "contains"  right when any answer appears in the reply as a whole word or word sequence:
                    "The answer is 5." is right for "5"; "15" is not
  match "exact"     right when the reply's first line is an answer: "Yes." is right for "yes"; "Yes, it is." is not
  kind              a label for reading scores by kind of question (the packaged quiz uses fact, arithmetic,
                    instruction)

Reply and answers are compared after ``normalise``: "Café Paris." and "cafe paris" are the same text. None of the
packaged questions comes from the calibration corpora or the validation prompts (a test checks it), so a quantized
model is not scored on what its recipe was tuned on. Standard library only: runs where the runtime runs.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgellm.errors import ConfigError

MATCHES = ("contains", "exact")
FIELDS = ("question", "answers", "match", "kind")
PACKAGED = Path(__file__).resolve().parent / "quiz.jsonl"


@dataclass(frozen=True)
class QuizItem:
    question: str
    answers: tuple[str, ...]  # any one of them is right; compared after normalise()
    match: str  # "contains" or "exact" (MATCHES)
    kind: str  # a label: fact, arithmetic, instruction in the packaged quiz


def normalise(text: str) -> str:
    """Lowercase, accents stripped, words separated by one space, punctuation and symbols cut from both ends of
    every word (inside a word they stay): "  Café  PARIS.\\n" -> "cafe paris", "2 + 3 = 5!" -> "2 3 5",
    "twenty-four" -> "twenty-four"."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(w for w in (_strip_edges(w) for w in plain.split()) if w)


def _strip_edges(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]


def is_correct(reply: str, item: QuizItem) -> bool:
    """Whether ``reply`` answers ``item`` (see the module docstring for "contains" and "exact")."""
    if item.match == "exact":
        lines = reply.strip().splitlines()
        first = lines[0].strip().removesuffix(".") if lines else ""
        return normalise(first) in {normalise(a) for a in item.answers}
    padded = f" {normalise(reply)} "
    return any(f" {normalise(a)} " in padded for a in item.answers)


def score(replies: Sequence[str], items: Sequence[QuizItem]) -> dict:
    """{"correct": n, "total": N, "per_item": [bool, ...]}, replies[i] answering items[i]."""
    if len(replies) != len(items):
        raise ConfigError(f"score got {len(replies)} replies for {len(items)} quiz questions; pass one reply per "
                          "question, in order")
    per_item = [is_correct(r, item) for r, item in zip(replies, items)]
    return {"correct": sum(per_item), "total": len(items), "per_item": per_item}


def check_fits(items: Sequence[QuizItem], prompt_token_counts: Sequence[int], reply_tokens: int,
               cache_length: int) -> None:
    """A ConfigError when a question's prompt (prompt_token_counts[i] tokens, chat template included) plus
    reply_tokens does not fit the export's KV cache of cache_length positions; it names the first such question
    and the cache length every question fits in."""
    if len(prompt_token_counts) != len(items):
        raise ConfigError(f"check_fits got {len(prompt_token_counts)} prompt token counts for {len(items)} quiz "
                          "questions; pass one count per question, in order")
    needs = [n + reply_tokens for n in prompt_token_counts]
    over = [i for i, need in enumerate(needs) if need > cache_length]
    if over:
        i = over[0]
        raise ConfigError(
            f"quiz question {i + 1} ({_short(items[i].question)}) needs {needs[i]} tokens with its reply "
            f"({prompt_token_counts[i]} prompt + {reply_tokens} reply); the export's KV cache holds {cache_length}"
            f"{f' ({len(over)} of {len(items)} questions do not fit)' if len(over) > 1 else ''}: re-export with "
            f"--cache-length {max(needs)} or more, or pass a shorter quiz")


def _short(value, limit: int = 60) -> str:
    """A value for a one-line message: a string quoted, anything else as JSON; cut to about ``limit`` characters."""
    text = " ".join(value.split()) if isinstance(value, str) else json.dumps(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text) if isinstance(value, str) else text


def _json_type(value) -> str:
    names = {bool: "boolean", int: "number", float: "number", list: "array", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def load_quiz(path: str | Path | None = None) -> tuple[QuizItem, ...]:
    """The questions of a quiz JSONL file (None: the packaged quiz.jsonl); blank lines are skipped.

    A ConfigError names the file and line of the first problem: a missing, unreadable or empty file, a line that
    is not a JSON object, a missing or unknown key, an empty question, no answers, an answer that is not a
    string or is only punctuation, a match other than contains/exact, a question asked twice.
    """
    path = PACKAGED if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"quiz file {path} does not exist; pass the path of a JSONL file with one "
                          '{"question", "answers", "match", "kind"} object per line') from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"quiz file {path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as "
                          "UTF-8") from e
    except OSError as e:
        raise ConfigError(f"cannot read quiz file {path}: {e.strerror or e}") from e
    items, seen = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            item = _parse_line(line, f"{path}, line {number}")
            key = normalise(item.question)
            if key in seen:
                raise ConfigError(f"{path}, line {number}: question {_short(item.question)} repeats line "
                                  f"{seen[key]}; ask each question once")
            seen[key] = number
            items.append(item)
    if not items:
        raise ConfigError(f"quiz file {path} holds no questions; write one JSON object per line: "
                          '{"question": "What is 2 + 3?", "answers": ["5", "five"], "match": "contains", '
                          '"kind": "arithmetic"}')
    return tuple(items)


def _parse_line(line: str, where: str) -> QuizItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: malformed JSON ({e.msg} at column {e.colno}); each line is one JSON "
                          "object") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a JSON {_json_type(data)}, not an object; each line is one "
                          '{"question", "answers", "match", "kind"} object')
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {', '.join(map(repr, unknown))}; known: {', '.join(FIELDS)}")
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}: no question (got {_short(question)}); give a non-empty string")
    answers = data.get("answers")
    if not isinstance(answers, list) or not answers:
        raise ConfigError(f"{where}: no answers (got {_short(answers)}); give a non-empty list of "
                          "strings, e.g. [\"5\", \"five\"]")
    for answer in answers:
        if not isinstance(answer, str):
            raise ConfigError(f"{where}: answer {_short(answer)} is a JSON {_json_type(answer)}, not a "
                              "string; write numbers as strings, e.g. \"5\"")
        if not normalise(answer):
            raise ConfigError(f"{where}: answer {_short(answer)} is empty once punctuation is removed; give words "
                              "or numbers")
    match = data.get("match")
    if match not in MATCHES:
        raise ConfigError(f"{where}: unknown match {_short(match)}; allowed: {', '.join(MATCHES)}")
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind.strip():
        raise ConfigError(f"{where}: no kind (got {_short(kind)}); give a label such as fact, "
                          "arithmetic or instruction")
    return QuizItem(question=question.strip(), answers=tuple(answers), match=match, kind=kind)
