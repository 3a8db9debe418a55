"""`edgellm report FILE.json ... --output DIR` in process: a fleet of boards in one report; bad input exits 2."""

import json

import pytest
from report_data import PI4, PI5, X86, bench, encoder_row, llm_row

from edgellm import cli
from edgellm.errors import ConfigError
from edgellm.report import entries_from_bench


def _save(path, rows, host):
    path.write_text(json.dumps(bench(rows, host)))
    return str(path)


@pytest.fixture()
def fleet(tmp_path):
    return [_save(tmp_path / "x86.json", [encoder_row("minilm-int8", 8.0, 23_000_000),
                                          encoder_row("minilm-int8", 5.0, 23_000_000, 2)], X86),
            _save(tmp_path / "pi4.json", [encoder_row("minilm-int8", 60.0, 23_000_000),
                                          encoder_row("minilm-int8", 33.0, 23_000_000, 2)], PI4),
            _save(tmp_path / "pi5.json", [encoder_row("model", 25.0, 23_000_000)], PI5)]


def test_a_fleet_of_boards_in_one_report(fleet, tmp_path, capsys):
    out = tmp_path / "fleet"
    assert cli.main(["report", *fleet, "--output", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.split() == [str(out / "report.html"), str(out / "report.md"), str(out / "report.json")]
    doc = json.loads((out / "report.json").read_text())
    assert [(r["label"], r["threads"], r["speedup"]) for r in doc["rows"]] == [
        ("AMD EPYC 7B13", 1, 1.0), ("AMD EPYC 7B13", 2, 1.0),
        ("Raspberry Pi 4 Model B Rev 1.4", 1, 0.133), ("Raspberry Pi 4 Model B Rev 1.4", 2, 0.152),
        ("Raspberry Pi 5 Model B Rev 1.0", 1, 0.32)]
    assert doc["title"] == "minilm-int8, model on 3 bench reports"
    assert len(doc["plots"]) == 3  # no fidelity recorded: no speed vs fidelity plot, and the report says so
    assert any("speed vs fidelity not drawn" in n for n in doc["notes"])


def test_two_files_from_the_same_board_are_told_apart_by_file_name(tmp_path):
    a = _save(tmp_path / "pi4a.json", [encoder_row("m", 60.0, 100)], PI4)
    b = _save(tmp_path / "pi4b.json", [encoder_row("m", 61.0, 100)], PI4)
    assert [e.label for e in entries_from_bench([a, b])] == ["Raspberry Pi 4 Model B Rev 1.4 (pi4a.json)",
                                                             "Raspberry Pi 4 Model B Rev 1.4 (pi4b.json)"]


def test_files_timing_two_models_give_an_entry_per_board_and_model(tmp_path):
    rows = [encoder_row("fp32", 20.0, 90, recipe="fp32"), encoder_row("int8", 8.0, 23)]
    a, b = _save(tmp_path / "a.json", rows, X86), _save(tmp_path / "b.json", rows, PI5)
    assert [e.label for e in entries_from_bench([a, b])] == [
        "AMD EPYC 7B13: fp32", "AMD EPYC 7B13: int8", "Raspberry Pi 5 Model B Rev 1.0: fp32",
        "Raspberry Pi 5 Model B Rev 1.0: int8"]


def test_llm_bench_reports_from_two_devices(tmp_path):
    a = _save(tmp_path / "a.json", [llm_row("smollm2", 50.0, 148), llm_row("smollm2", 80.0, 148, 2)], X86)
    b = _save(tmp_path / "b.json", [llm_row("smollm2", 9.0, 148), llm_row("smollm2", 15.0, 148, 2)], PI5)
    assert cli.main(["report", a, b, "--output", str(tmp_path / "r")]) == 0
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["kind"] == "llm" and doc["rows"][2]["decode_tokens_per_second"] == 9.0
    assert doc["rows"][3]["speedup"] == 0.188


def _bad_inputs(tmp_path, fleet):
    other = _save(tmp_path / "fp32.json", [encoder_row("minilm-fp32", 20.0, 90_000_000, recipe="fp32")], X86)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**bench([encoder_row("minilm-int8", 8.0, 23_000_000)]), "schema": "edgellm.bench/2"}))
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": "edgellm.bench/1", "results": [')
    return {
        "different model": ([fleet[0], other], "fp32.json times minilm-fp32 .* where .*x86.json times minilm-int8"),
        "unknown schema": ([fleet[0], str(newer)], "schema 'edgellm.bench/2' is not supported"),
        "unreadable": ([fleet[0], str(broken)], "broken.json could not be read"),
        "missing": ([fleet[0], str(tmp_path / "nope.json")], "nope.json could not be read"),
        "not a report": ([fleet[0], fleet[0].replace("x86.json", "")], "could not be read"),
    }


@pytest.mark.parametrize("case", ["different model", "unknown schema", "unreadable", "missing", "not a report"])
def test_bad_input_exits_2_with_one_line_and_keeps_the_earlier_report(fleet, tmp_path, capsys, case):
    out = tmp_path / "fleet"
    assert cli.main(["report", *fleet[:2], "--output", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    paths, match = _bad_inputs(tmp_path, fleet)[case]
    assert cli.main(["report", *paths, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edgellm report: error: ") and err.count("\n") == 1, err
    with pytest.raises(ConfigError, match=match):
        entries_from_bench(paths)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_bad_input_writes_no_new_folder(tmp_path, fleet):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert cli.main(["report", fleet[0], str(bad), "--output", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["report", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--output DIR" in out and "(default: report)" in out and "Exit codes: 0 success, 2 bad input" in out


def test_debug_after_the_command_shows_the_traceback(tmp_path, fleet):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="not an edgellm bench report"):
        cli.main(["report", "--debug", fleet[0], str(bad), "--output", str(tmp_path / "r")])


def test_reading_reports_and_building_rows_needs_no_matplotlib(fleet):
    import subprocess
    import sys

    code = ("import sys; from edgellm.report import entries_from_bench; from edgellm.report.table import build_rows; "
            f"rows = build_rows(entries_from_bench({fleet!r})); from edgellm import cli; cli.build_parser(); "
            "print(len(rows), 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["5", "False"]
