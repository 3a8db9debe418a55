"""write_report on fabricated bench reports: the table rows, the plots (decoded, not blank), the HTML, atomicity."""

import json
import re

import numpy as np
import pytest
from report_data import X86, bench, encoder_row, encoders as _encoders, llms as _llms

from edgellm.errors import ConfigError
from edgellm.report import ReportEntry, write_report
from edgellm.report.plots import pareto_front


def _md_rows(text: str) -> dict[str, list[list[str]]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]
    return {"header": [header], "rows": rows}


def test_encoder_report_has_the_expected_rows(tmp_path):
    paths = write_report(_encoders(), tmp_path / "r", title="MiniLM recipes", lock={"inputs": {"w": "ab"}},
                         extra={"budget": "cosine:0.99"})
    md = _md_rows(paths["md"].read_text())
    assert md["header"][0] == ["entry", "status", "threads", "size MB", "p50 ms", "p90 ms", "speed-up", "validation",
                               "cosine", "top-1", "XNNPACK partitions", "peak RSS MB", "reason"]
    rows = md["rows"]
    assert [r[:3] for r in rows] == [["fp32", "ok", "1"], ["fp32", "ok", "2"], ["int8", "best", "1"],
                                     ["int8", "best", "2"], ["int8-full", "failed validation", "1"]]
    assert rows[0][6] == "(reference)" and rows[2][6] == "2.50×" and rows[3][6] == "2.40×" and rows[4][6] == "0.67×"
    assert rows[2][3] == "23.0" and rows[2][4] == "8.000" and rows[2][5] == "8.800"
    assert rows[4][7] == "FAIL" and rows[4][8] == "0.96000" and rows[4][10] == "3"
    assert rows[2][12] == "fastest inside cosine 0.99"

    doc = json.loads(paths["json"].read_text())
    assert doc["schema"] == "edgellm.report/1" and doc["kind"] == "encoder" and doc["reference"] == "fp32"
    assert doc["lock"] == {"inputs": {"w": "ab"}} and doc["extra"] == {"budget": "cosine:0.99"}
    assert [(r["label"], r["threads"], r["speedup"]) for r in doc["rows"]] == [
        ("fp32", 1, 1.0), ("fp32", 2, 1.0), ("int8", 1, 2.5), ("int8", 2, 2.4), ("int8-full", 1, 0.667)]
    assert doc["rows"][2]["cosine"] == 0.995 and doc["rows"][2]["top1"] == 0.97
    assert [ReportEntry.from_dict(e) for e in doc["entries"]] == _encoders()
    assert {p["file"] for p in doc["plots"]} == {"report_plots/speed_vs_size.png",
                                                  "report_plots/speed_vs_fidelity.png",
                                                  "report_plots/latency_distribution.png",
                                                  "report_plots/speed_per_threads.png"}
    assert "Pareto front (int8, fp32)" in paths["md"].read_text()  # int8-full failed: never on the front


def test_llm_report_has_ttft_decode_and_perplexity_columns(tmp_path):
    paths = write_report(_llms(), tmp_path / "r", title="SmolLM2 recipes")
    md = _md_rows(paths["md"].read_text())
    assert md["header"][0] == ["entry", "status", "threads", "size MB", "TTFT ms", "decode tok/s", "speed-up",
                               "validation", "top-1", "ppl ratio", "peak RSS MB", "reason"]
    int4_2 = md["rows"][5]
    assert int4_2[:3] == ["int4", "slower", "2"] and int4_2[5] == "70.0" and int4_2[6] == "2.19×"
    assert int4_2[9] == "1.0200"
    names = sorted(p.name for p in paths["plots"])
    assert names == ["speed_per_threads.png", "speed_vs_fidelity.png", "speed_vs_size.png",
                     "time_to_first_token.png"]


def _pixels(path):
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return np.asarray(image.convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize("entries", [_encoders, _llms], ids=["encoders", "llms"])
def test_plots_decode_and_are_not_blank(tmp_path, entries):
    paths = write_report(entries(), tmp_path / "r", title="plots")
    assert len(paths["plots"]) == 4
    for png in paths["plots"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = _pixels(png)
        assert pixels.shape == (440, 700, 3), png.name
        assert pixels.std() > 10, f"{png.name} is almost one colour"
        rgb = pixels.astype(np.int64)
        colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
        assert len(colours) > 50, f"{png.name}: {len(colours)} colours"
        # some non-grey ink: the data points and lines are coloured, not only the black axes
        assert (np.ptp(pixels, axis=2) > 60).sum() > 200, png.name


def test_html_is_self_contained(tmp_path):
    paths = write_report(_encoders(), tmp_path / "r", title="A <b>title</b>")
    text = paths["html"].read_text()
    assert "<title>A &lt;b&gt;title&lt;/b&gt;</title>" in text
    sources = re.findall(r'<img src="([^"]+)"', text)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(src|href)="(?!data:)', text), "the page must not load anything from outside"
    assert 'class="best"' in text


def test_same_entries_give_the_same_bytes(tmp_path):
    a = write_report(_encoders(), tmp_path / "a", title="t")
    b = write_report(_encoders(), tmp_path / "b", title="t")
    for key in ("md", "html", "json"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    assert [p.read_bytes() for p in a["plots"]] == [p.read_bytes() for p in b["plots"]]


def test_a_rerun_replaces_only_the_report_files(tmp_path):
    out = tmp_path / "r"
    write_report(_encoders(), out, title="first")
    (out / "best").mkdir()
    (out / "best" / "edgellm.json").write_text("{}")
    paths = write_report(_encoders()[:1], out, title="second")
    assert "# second" in paths["md"].read_text() and (out / "best" / "edgellm.json").is_file()
    assert sorted(p.name for p in (out / "report_plots").iterdir()) == ["latency_distribution.png",
                                                                        "speed_per_threads.png",
                                                                        "speed_vs_fidelity.png", "speed_vs_size.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_an_interrupted_run_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / "r"
    write_report(_encoders(), out, title="first")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    import edgellm.report.write as write

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(write, "_html", stop)
    with pytest.raises(KeyboardInterrupt):
        write_report(_llms(), out, title="second")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_an_interrupted_first_run_leaves_no_folder(tmp_path, monkeypatch):
    import edgellm.report.write as write

    monkeypatch.setattr(write, "_markdown", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_report(_encoders(), tmp_path / "new", title="t")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_someone_elses_report_is_refused(tmp_path):
    (tmp_path / "report.md").write_text("my notes")
    with pytest.raises(ConfigError, match="report.md that edgellm did not write"):
        write_report(_encoders(), tmp_path, title="t")
    assert (tmp_path / "report.md").read_text() == "my notes"


@pytest.mark.parametrize("kwargs, match", [
    ({"entries": []}, "at least one entry"),
    ({"entries": [{"label": "x"}]}, "must be ReportEntry objects"),
    ({"title": ""}, "title must be a non-empty"),
    ({"lock": {"f": object()}}, "lock must hold JSON data"),
    ({"extra": ["x"]}, "extra must be a dict"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, kwargs, match):
    args = {"entries": _encoders(), "title": "t", **kwargs}
    with pytest.raises(ConfigError, match=match):
        write_report(args.pop("entries"), tmp_path / "r", **args)
    assert not (tmp_path / "r").exists()


def test_duplicate_labels_and_mixed_kinds_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="labels must be unique; 'fp32'"):
        write_report([_encoders()[0], _encoders()[0]], tmp_path / "r", title="t")
    with pytest.raises(ConfigError, match="compares one kind of model"):
        write_report([_encoders()[0], _llms()[1]], tmp_path / "r", title="t")


def test_entry_without_rows_gets_a_row_of_its_own(tmp_path):
    failed = ReportEntry(label="int16x8", bench=bench([]), status="failed validation", reason="export failed")
    paths = write_report([*_encoders(), failed], tmp_path / "r", title="t")
    last = _md_rows(paths["md"].read_text())["rows"][-1]
    assert last[:4] == ["int16x8", "failed validation", "-", "-"] and last[-1] == "export failed"


def test_speedups_only_against_the_first_entry():
    from edgellm.report.table import build_rows

    first = ReportEntry(label="a", bench=bench([encoder_row("m", 10.0, 100)]))
    second = ReportEntry(label="b", bench=bench([encoder_row("n", 5.0, 100), encoder_row("n", 4.0, 100, 4)]))
    rows = build_rows([first, second])
    assert [(r["label"], r["threads"], r["speedup"], r["reference"]) for r in rows] == [
        ("a", 1, 1.0, "a"), ("b", 1, 2.0, "a"), ("b", 4, None, None)]


def test_pareto_front_handles_ties_and_directions():
    # lower latency and higher cosine are better; (0.99, 8) ties (0.99, 8): both stay on the front
    assert pareto_front([(0.999, 20.0), (0.99, 8.0), (0.98, 10.0), (0.99, 8.0)], x_higher=True,
                        y_higher=False) == [0, 1, 3]
    # LLMs: perplexity ratio lower, decode tok/s higher
    assert pareto_front([(1.0, 20.0), (1.03, 50.0), (1.02, 46.0), (1.05, 45.0)], x_higher=False,
                        y_higher=True) == [0, 1, 2]


def test_report_entry_checks_its_fields():
    good = bench([encoder_row("m", 10.0, 100)])
    with pytest.raises(ConfigError, match="label must be a non-empty one-line string"):
        ReportEntry(label="", bench=good)
    with pytest.raises(ConfigError, match="schema 'edgellm.bench/7' is not supported"):
        ReportEntry(label="x", bench={**good, "schema": "edgellm.bench/7"})
    with pytest.raises(ConfigError, match="times 2 models"):
        ReportEntry(label="x", bench=bench([encoder_row("m", 10.0, 100), encoder_row("n", 10.0, 200)]))
    with pytest.raises(ConfigError, match="size_bytes must be an integer"):
        ReportEntry(label="x", bench=good, size_bytes=-1)
    with pytest.raises(ConfigError, match="reason must be a one-line string"):
        ReportEntry(label="x", bench=good, reason="a\nb")
    with pytest.raises(ConfigError, match="unknown ReportEntry keys 'colour'"):
        ReportEntry.from_dict({"label": "x", "bench": good, "colour": "red"})
    entry = ReportEntry(label="x", bench=good, size_bytes=5)
    assert ReportEntry.from_dict(entry.to_dict()) == entry and entry.model_size == 5
    assert ReportEntry(label="x", bench=good).model_size == 100


def test_host_lines_name_each_device(tmp_path):
    pi = {**X86, "cpu": "Cortex-A76", "board": "Raspberry Pi 5 Model B Rev 1.0", "arch": "aarch64"}
    entries = [ReportEntry(label="x86", bench=bench([encoder_row("m", 8.0, 100)])),
               ReportEntry(label="pi5", bench=bench([encoder_row("m", 25.0, 100)], pi))]
    text = write_report(entries, tmp_path / "r", title="t")["md"].read_text()
    assert "- x86: host: AMD EPYC 7B13" in text and "- pi5: host: Raspberry Pi 5 Model B Rev 1.0, Cortex-A76" in text


def test_without_matplotlib_the_error_names_the_extra_and_nothing_is_written(tmp_path, monkeypatch):
    import sys

    from edgellm.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgellm\[report\]'"):
        write_report(_encoders(), tmp_path / "r", title="t")
    assert list(tmp_path.iterdir()) == []
