"""load_texts / load_samples: every source format, subsetting, warnings, errors, real MiniLM tokenization."""

import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from edgellm.calibrate import (
    CalibrationReport,
    CalibrationSet,
    CalibrationWarning,
    TextSamples,
    corpus_path,
    load_samples,
    load_texts,
)
from edgellm.errors import CalibrationError, ConfigError, MissingDependencyError, ModelFileError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------------------------------------------------------
# formats


def test_txt_one_sample_per_line_blank_lines_skipped(tmp_path):
    p = write(tmp_path / "s.txt", "\ufeffFirst line.\r\n\r\n   \n  Second line, padded.  \nThird\n\n")
    s = load_texts(p)
    assert s.texts == ("First line.", "Second line, padded.", "Third")
    assert s.text_pairs is None and s.columns is None
    assert s.num_available == 3 and len(s) == 3 and list(s) == list(s.texts)
    assert s.source == str(p)


def test_txt_keeps_unicode_line_separators_inside_a_line(tmp_path):
    p = write(tmp_path / "s.txt", "a\u2028b\nc\n")  # only \n, \r\n, \r end a line
    assert load_texts(p).texts == ("a\u2028b", "c")


def test_jsonl_default_field_text(tmp_path):
    rows = [{"text": "alpha", "label": 1}, {"text": "  "}, {"text": "beta", "x": None}]
    p = write(tmp_path / "s.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    s = load_texts(p)
    assert s.texts == ("alpha", "beta")
    assert s.columns == ("text",)


def test_jsonl_named_field_and_pairs(tmp_path):
    rows = [{"q": "Who?", "ctx": "Ann wrote it."}, {"q": "When?", "ctx": "In 1990."}]
    p = write(tmp_path / "qa.jsonl", "\n".join(json.dumps(r) for r in rows))
    assert load_texts(p, text_column="q").texts == ("Who?", "When?")
    s = load_texts(p, text_column="q, ctx")
    assert s.texts == ("Who?", "When?")
    assert s.text_pairs == ("Ann wrote it.", "In 1990.")
    assert s.columns == ("q", "ctx")
    assert list(s) == [("Who?", "Ann wrote it."), ("When?", "In 1990.")]


def test_csv_column_by_name_with_quoted_commas_and_newlines(tmp_path):
    p = write(
        tmp_path / "s.csv",
        'id,text,label\n1,"Hello, world",pos\n2,"two\nlines",neg\n3,,neg\n4,plain,pos\n',
    )
    s = load_texts(p)
    assert s.texts == ("Hello, world", "two\nlines", "plain")
    assert load_texts(p, text_column="label").texts == ("pos", "neg", "neg", "pos")


def test_csv_pairs_question_context(tmp_path):
    p = write(tmp_path / "qa.csv", "question,context\nWhat is it?,A lamp.\nWhere?,On the desk.\n,orphan context\n")
    s = load_texts(p, text_column="question,context")
    assert s.texts == ("What is it?", "Where?")
    assert s.text_pairs == ("A lamp.", "On the desk.")


def test_tsv(tmp_path):
    p = write(tmp_path / "s.tsv", "sentence1\tsentence2\nA cat sat.\tA cat was sitting.\nRain, again.\tIt rains.\n")
    s = load_texts(p, text_column=["sentence1", "sentence2"])
    assert s.texts == ("A cat sat.", "Rain, again.")
    assert s.text_pairs == ("A cat was sitting.", "It rains.")


def test_datasets_folder(tmp_path):
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_dict(
        {"text": ["one", "", "two", "three"], "title": ["a", "b", "c", "d"], "n": [1, 2, 3, 4]}
    ).save_to_disk(str(folder))
    s = load_texts(folder)
    assert s.texts == ("one", "two", "three")
    assert s.num_available == 3
    pairs = load_texts(folder, text_column="title,text")
    assert pairs.texts == ("a", "c", "d") and pairs.text_pairs == ("one", "two", "three")


def test_datasets_dict_folder_uses_train_split(tmp_path):
    import datasets

    folder = tmp_path / "dd"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": ["t1", "t2"]}),
            "test": datasets.Dataset.from_dict({"text": ["x"]}),
        }
    ).save_to_disk(str(folder))
    assert load_texts(folder).texts == ("t1", "t2")
    assert load_texts(folder / "test").texts == ("x",)  # a split's own folder works too


# ---------------------------------------------------------------------------------------------------------------------
# built-in corpora


def test_default_corpus_is_repo_calibration_en_txt():
    assert corpus_path() == (REPO / "calibration" / "en.txt").resolve()
    s = load_texts()
    assert s.source == str(corpus_path())
    assert 380 <= len(s) <= 450
    assert len(set(s.texts)) == len(s.texts)  # no duplicate lines
    words = [len(t.split()) for t in s.texts]
    assert min(words) <= 2 and max(words) >= 100  # fragments and long multi-sentence lines


def test_package_data_path_points_at_the_same_corpus():
    data = REPO / "edgellm" / "calibrate" / "data"
    for name in ("en.txt", "en_eval.txt"):
        assert (data / name).read_bytes() == (REPO / "calibration" / name).read_bytes()


def test_eval_corpus_is_held_out():
    evals = load_texts(corpus_path("en_eval"))
    assert 50 <= len(evals) <= 80
    assert not set(evals.texts) & set(load_texts().texts)


def test_unknown_corpus_name():
    with pytest.raises(ConfigError, match="unknown built-in corpus 'fr'; available: en, en_eval"):
        corpus_path("fr")


# ---------------------------------------------------------------------------------------------------------------------
# subsetting


def test_seeded_subset_is_deterministic_and_keeps_source_order(tmp_path):
    p = write(tmp_path / "s.txt", "\n".join(f"sample {i}" for i in range(100)))
    a = load_texts(p, num_samples=10, seed=3)
    b = load_texts(p, num_samples=10, seed=3)
    c = load_texts(p, num_samples=10, seed=4)
    assert a.texts == b.texts
    assert a.texts != c.texts
    assert len(a) == 10 and len(set(a.texts)) == 10
    indices = [int(t.split()[1]) for t in a.texts]
    assert indices == sorted(indices)
    assert a.num_available == 100 and a.num_requested == 10 and a.seed == 3
    expected = np.sort(np.random.default_rng(3).choice(100, size=10, replace=False))
    assert indices == expected.tolist()  # the documented rule, not just "some" determinism


def test_subset_pairs_stay_aligned(tmp_path):
    p = write(tmp_path / "s.csv", "a,b\n" + "".join(f"q{i},c{i}\n" for i in range(50)))
    s = load_texts(p, text_column="a,b", num_samples=7, seed=1)
    assert [t[1:] for t in s.texts] == [t[1:] for t in s.text_pairs]


def test_exact_count_and_none_take_everything(tmp_path):
    p = write(tmp_path / "s.txt", "a\nb\nc\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_texts(p, num_samples=3).texts == ("a", "b", "c")
        assert load_texts(p).texts == ("a", "b", "c")


def test_too_few_samples_warns_and_uses_all(tmp_path):
    p = write(tmp_path / "s.txt", "a\nb\nc\n")
    with pytest.warns(CalibrationWarning, match=r"s\.txt has 3 samples but 10 were requested; using all 3") as rec:
        s = load_texts(p, num_samples=10)
    assert s.texts == ("a", "b", "c")
    assert rec[0].filename == __file__  # the warning points at the caller, not at edgellm internals


# ---------------------------------------------------------------------------------------------------------------------
# errors


def test_missing_file(tmp_path):
    with pytest.raises(CalibrationError, match=r"nope\.txt does not exist; pass \.txt, \.jsonl, \.csv, \.tsv") as e:
        load_texts(tmp_path / "nope.txt")
    one_line(e)


@pytest.mark.parametrize(
    ("name", "content"),
    [("e.txt", ""), ("e.txt", "\n  \n\t\n"), ("e.jsonl", '{"text": ""}\n\n'), ("e.csv", "text\n\n")],
)
def test_empty_file(tmp_path, name, content):
    p = write(tmp_path / name, content)
    with pytest.raises(CalibrationError, match=re.escape(name) + " has no samples") as e:
        load_texts(p)
    one_line(e)


def test_header_only_csv_is_empty(tmp_path):
    p = write(tmp_path / "h.csv", "")
    with pytest.raises(CalibrationError, match=r"h\.csv has no samples"):
        load_texts(p)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv"])
def test_non_utf8_names_the_line(tmp_path, suffix):
    p = tmp_path / f"latin1{suffix}"
    first = {".txt": "ok line", ".jsonl": '{"text": "ok"}', ".csv": "text"}[suffix]
    p.write_bytes(f"{first}\nsecond\n".encode() + "caf\u00e9 third\n".encode("latin-1"))
    with pytest.raises(CalibrationError, match=rf"latin1\{suffix} is not UTF-8: byte 0xe9 on line 3") as e:
        load_texts(p)
    one_line(e)


def test_missing_column_jsonl_lists_fields(tmp_path):
    p = write(tmp_path / "s.jsonl", '{"sentence": "a", "label": 0}\n')
    match = r"s\.jsonl line 1 has no column 'text'; columns: 'sentence', 'label'"
    with pytest.raises(CalibrationError, match=match) as e:
        load_texts(p)
    one_line(e)


def test_missing_column_in_a_later_jsonl_line(tmp_path):
    p = write(tmp_path / "s.jsonl", '{"text": "a"}\n{"txt": "b"}\n')
    with pytest.raises(CalibrationError, match=r"line 2 has no column 'text'; columns: 'txt'"):
        load_texts(p)


def test_missing_column_csv_lists_header(tmp_path):
    p = write(tmp_path / "s.csv", "question,answer\nq,a\n")
    with pytest.raises(CalibrationError, match=r"s\.csv has no column 'context'; columns: 'question', 'answer'") as e:
        load_texts(p, text_column="question,context")
    one_line(e)


def test_unknown_extension_lists_allowed(tmp_path):
    p = write(tmp_path / "s.parquet", "x")
    with pytest.raises(
        CalibrationError,
        match=r"unsupported extension '\.parquet'; allowed: \.txt, \.jsonl, \.csv, \.tsv, or a datasets folder",
    ) as e:
        load_texts(p)
    one_line(e)


def test_json_extension_hints_jsonl(tmp_path):
    p = write(tmp_path / "s.json", '{"text": "a"}')
    with pytest.raises(CalibrationError, match=r"for JSON Lines name the file \.jsonl"):
        load_texts(p)


def test_datasets_folder_without_the_column(tmp_path):
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"sentence": ["a"], "idx": [0]}).save_to_disk(str(folder))
    with pytest.raises(CalibrationError, match=r"ds has no column 'text'; columns: 'sentence', 'idx'") as e:
        load_texts(folder)
    one_line(e)


def test_datasets_dict_without_train_split(tmp_path):
    import datasets

    folder = tmp_path / "dd"
    datasets.DatasetDict(
        {"validation": datasets.Dataset.from_dict({"text": ["a"]}), "test": datasets.Dataset.from_dict({"text": ["b"]})}
    ).save_to_disk(str(folder))
    with pytest.raises(CalibrationError, match=r"holds splits validation, test and none is 'train'"):
        load_texts(folder)


def test_datasets_column_of_numbers(tmp_path):
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": [1, 2]}).save_to_disk(str(folder))
    with pytest.raises(CalibrationError, match=r"row 0 column 'text' holds a non-text value \(int\)"):
        load_texts(folder)


def test_plain_folder_is_not_a_dataset(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(CalibrationError, match=r"notes is a folder but not a datasets folder"):
        load_texts(tmp_path / "notes")


def test_datasets_not_installed(tmp_path, monkeypatch):
    import datasets

    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(str(folder))
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(MissingDependencyError, match=r"datasets is not installed; .*'convert' extra"):
        load_texts(folder)


def test_bad_json_line(tmp_path):
    p = write(tmp_path / "s.jsonl", '{"text": "a"}\n{"text": "b",}\n')
    with pytest.raises(CalibrationError, match=r"s\.jsonl: line 2 is not valid JSON"):
        load_texts(p)


def test_jsonl_line_not_an_object(tmp_path):
    p = write(tmp_path / "s.jsonl", '["a", "b"]\n')
    with pytest.raises(CalibrationError, match=r"line 1 is a JSON list, not an object"):
        load_texts(p)


def test_csv_short_row(tmp_path):
    p = write(tmp_path / "s.csv", "id,text\n1,a\n2\n")
    with pytest.raises(CalibrationError, match=r"s\.csv: line 3 has 1 fields but the header has 2"):
        load_texts(p)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text_column": "text"}, r"does not apply to .*a \.txt file has one sample per line"),
        ({"num_samples": 0}, r"num_samples must be a positive integer or None, got 0"),
        ({"num_samples": 2.5}, r"num_samples must be a positive integer"),
        ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
    ],
)
def test_bad_arguments_txt(tmp_path, kwargs, match):
    p = write(tmp_path / "s.txt", "a\n")
    with pytest.raises(ConfigError, match=match):
        load_texts(p, **kwargs)


@pytest.mark.parametrize("column", ["a,b,c", "a,", ""])
def test_bad_text_column(tmp_path, column):
    p = write(tmp_path / "s.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(ConfigError, match=r"must name one column or two separated by a comma"):
        load_texts(p, text_column=column)


def test_text_samples_pairs_must_match():
    with pytest.raises(ConfigError, match=r"text_pairs has 1 entries but texts has 2"):
        TextSamples(texts=("a", "b"), text_pairs=("x",), source="s", num_available=2)


# ---------------------------------------------------------------------------------------------------------------------
# tokenizing with the real MiniLM tokenizer


def test_load_samples_shapes_dtypes_masks(minilm_tokenizer):
    L = 32
    data = load_samples(None, minilm_tokenizer, num_samples=64, sequence_length=L)
    assert isinstance(data, CalibrationSet)
    assert set(data.inputs()) == {"input_ids", "attention_mask", "token_type_ids"}
    for arr in data.inputs().values():
        assert arr.shape == (64, L) and arr.dtype == np.int32
    assert len(data) == 64 and data.sequence_length == L

    lengths = np.array([len(ids) for ids in minilm_tokenizer(list(data.texts))["input_ids"]])
    real = data.attention_mask.sum(axis=1)
    np.testing.assert_array_equal(real, np.minimum(lengths, L))
    for i in range(len(data)):
        n = real[i]
        assert data.attention_mask[i, :n].all() and not data.attention_mask[i, n:].any()  # right padding
        assert data.input_ids[i, 0] == minilm_tokenizer.cls_token_id
        assert data.input_ids[i, n - 1] == minilm_tokenizer.sep_token_id  # truncation keeps the final [SEP]
        assert (data.input_ids[i, n:] == minilm_tokenizer.pad_token_id).all()
    assert not data.token_type_ids.any()  # single sentences: segment 0 everywhere

    r = data.report
    assert (r.num_samples, r.num_requested, r.sequence_length) == (64, 64, L)
    assert r.num_available == len(load_texts())
    assert r.num_truncated == int((lengths > L).sum()) > 0
    assert (r.length_min, r.length_max) == (lengths.min(), lengths.max())
    assert r.length_min <= r.length_p50 <= r.length_p90 <= r.length_max
    assert r.length_p50 in lengths and r.length_p90 in lengths
    assert r.length_mean == pytest.approx(lengths.mean(), abs=0.01)
    assert r.source == str(corpus_path())


def test_worked_example_from_docstring(tmp_path, minilm_tokenizer):
    p = write(tmp_path / "s.txt", "Thanks!\n")
    data = load_samples(p, minilm_tokenizer, num_samples=1, sequence_length=8)
    assert data.input_ids.tolist() == [[101, 4283, 999, 102, 0, 0, 0, 0]]
    assert data.attention_mask.tolist() == [[1, 1, 1, 1, 0, 0, 0, 0]]
    assert data.report.to_dict()["length_max"] == 4 and data.report.num_truncated == 0


def test_tokenizer_as_folder_path_matches_object(minilm_dir, minilm_tokenizer):
    a = load_samples(None, minilm_dir, num_samples=16, sequence_length=24, seed=5)
    b = load_samples(None, minilm_tokenizer, num_samples=16, sequence_length=24, seed=5)
    for name, arr in a.inputs().items():
        np.testing.assert_array_equal(arr, b.inputs()[name])
    assert a.report == b.report


def test_pairs_get_segment_ids(tmp_path, minilm_tokenizer):
    p = write(tmp_path / "qa.csv", "question,context\nWho wrote it?,Ann wrote the report in 1990.\n")
    data = load_samples(p, minilm_tokenizer, num_samples=1, sequence_length=32, text_column="question,context")
    ids, types, mask = data.input_ids[0], data.token_type_ids[0], data.attention_mask[0]
    n = int(mask.sum())
    first_sep = int(np.argmax(ids == minilm_tokenizer.sep_token_id))
    assert not types[: first_sep + 1].any() and types[first_sep + 1 : n].all() and not types[n:].any()
    assert data.text_pairs == ("Ann wrote the report in 1990.",)
    assert data.report.columns == ("question", "context")


def test_left_padding_follows_the_tokenizer(tmp_path, minilm_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm_dir), padding_side="left")
    p = write(tmp_path / "s.txt", "Thanks!\n")
    data = load_samples(p, tok, num_samples=1, sequence_length=8)
    assert data.input_ids.tolist() == [[0, 0, 0, 0, 101, 4283, 999, 102]]
    assert data.attention_mask.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]


def test_tokenizer_without_pad_token_pads_with_eos(tmp_path):
    """Decoder LM tokenizers (GPT-2 style) often have no pad token: rows are padded with eos, masked out."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "</s>": 1, "hello": 2, "world": 3, "again": 4}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="</s>")
    assert tok.pad_token is None
    p = write(tmp_path / "s.txt", "hello world\nhello world again hello world again hello world again\n")
    data = load_samples(p, tok, num_samples=2, sequence_length=8)
    assert data.token_type_ids is None and set(data.inputs()) == {"input_ids", "attention_mask"}
    assert data.input_ids.tolist() == [[2, 3, 1, 1, 1, 1, 1, 1], [2, 3, 4, 2, 3, 4, 2, 3]]
    assert data.attention_mask.tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1] * 8]
    assert (data.report.length_max, data.report.num_truncated) == (9, 1)


def test_batches_and_report_roundtrip(minilm_tokenizer):
    data = load_samples(None, minilm_tokenizer, num_samples=10, sequence_length=16)
    batches = list(data.batches(4))
    assert [b["input_ids"].shape for b in batches] == [(4, 16), (4, 16), (2, 16)]
    np.testing.assert_array_equal(np.concatenate([b["attention_mask"] for b in batches]), data.attention_mask)
    d = data.report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert CalibrationReport.from_dict(d) == data.report
    with pytest.raises(ConfigError, match=r"batch_size must be >= 1, got 0"):
        next(data.batches(0))


def test_load_samples_too_few_warns_at_caller(tmp_path, minilm_tokenizer):
    p = write(tmp_path / "s.txt", "one\ntwo\n")
    with pytest.warns(CalibrationWarning, match=r"has 2 samples but 128 were requested") as rec:
        data = load_samples(p, minilm_tokenizer)
    assert rec[0].filename == __file__
    assert len(data) == 2 and data.report.num_requested == 128


@pytest.mark.parametrize("length", [4, 7, 16.0, True])
def test_bad_sequence_length(minilm_tokenizer, length):
    with pytest.raises(ConfigError, match=r"sequence_length must be an integer >= 8"):
        load_samples(None, minilm_tokenizer, sequence_length=length)


def test_tokenizer_folder_missing(tmp_path):
    with pytest.raises(ModelFileError, match=r"tokenizer folder .*nowhere does not exist"):
        load_samples(None, tmp_path / "nowhere")


def test_tokenizer_folder_without_tokenizer_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match=r"could not load a tokenizer from .*empty") as e:
        load_samples(None, tmp_path / "empty")
    one_line(e)


def test_export_folder_with_tokenizer_subfolder(tmp_path, minilm_tokenizer):
    minilm_tokenizer.save_pretrained(str(tmp_path / "bundle" / "tokenizer"))
    data = load_samples(None, tmp_path / "bundle", num_samples=4, sequence_length=16)
    assert data.input_ids.shape == (4, 16)


def test_tokenizer_of_wrong_type():
    with pytest.raises(ConfigError, match=r"tokenizer must be a Hugging Face tokenizer or the path .* got int"):
        load_samples(None, 42)
