"""Issue 16: never lose a user's files, never crash on a bad model file.

--overwrite replaces only edgellm's folders; every shipped file's size and sha256 is in edgellm.json and checked by
every loader; bad inputs are one line, exit 2, before any conversion; SIGTERM is handled like Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgellm import cli
from edgellm.bundle import outdir
from edgellm.bundle.outdir import atomic_output_dir, check_output_dir
from edgellm.errors import ConfigError, ModelFileError
from edgellm.manifest import FILES, file_digests, read_manifest, verify_files, write_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def llm_export(tmp_path_factory) -> Path:
    """The tiny llama's fp32 export (tests/generate/tiny_llm.py, shared with tests/generate)."""
    sys.path.insert(0, str(ROOT / "tests" / "generate"))
    from tiny_llm import cached_export

    return cached_export(tmp_path_factory)[1]


def _ours(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(b"old")
    write_manifest(folder, {"format_version": 1, "task": "feature-extraction"})
    return folder


# ---------------------------------------------------------------------------------------------- 1. --overwrite
def test_overwrite_refuses_a_folder_edgellm_did_not_write(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("thesis.docx", "notes.txt", "train.py", "data.csv", "photo.jpg"):
        (docs / name).write_text("mine")
    with pytest.raises(ConfigError, match=r"--overwrite replaces only a folder edgellm wrote.*no edgellm.json; "
                                          r"it holds data.csv, notes.txt, photo.jpg, thesis.docx and 1 more"):
        check_output_dir(docs, overwrite=True)
    (docs / "edgellm.json").write_text("[1, 2]")  # a manifest read_manifest refuses is not ours either
    with pytest.raises(ConfigError, match="its edgellm.json is not edgellm's"):
        check_output_dir(docs, overwrite=True)
    assert len(list(docs.iterdir())) == 6
    assert check_output_dir(_ours(tmp_path / "export"), overwrite=True) == tmp_path / "export"
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty", overwrite=True) == tmp_path / "empty"


def test_overwrite_never_replaces_the_model_source_the_cwd_or_a_folder_above_them(tmp_path, monkeypatch):
    parent = _ours(tmp_path / "work")  # even a folder of ours, when it holds the model
    model = parent / "models" / "bert"
    model.mkdir(parents=True)
    for out in (parent, model):
        with pytest.raises(ConfigError, match="is the model source .* or holds it"):
            check_output_dir(out, overwrite=True, source=model)
    monkeypatch.chdir(model)
    for out in (".", "..", str(tmp_path)):
        with pytest.raises(ConfigError, match="is the current directory or holds it"):
            check_output_dir(out, overwrite=True)


def test_cli_export_overwrite_on_the_parent_of_the_model_deletes_nothing(tiny_bert, tmp_path, capsys):
    home = tmp_path / "project"
    model = home / "bert"
    shutil.copytree(tiny_bert, model)
    (home / "train.py").write_text("print('mine')")
    assert cli.main(["export", "--model", str(model), "--sequence-length", "16", "--overwrite", str(home)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is the model source" in err
    assert (home / "train.py").exists() and (model / "config.json").exists()


def test_overwrite_must_be_a_bool_in_the_python_api(tmp_path):
    from edgellm.bench.format import write_output
    from edgellm.export import ExportConfig

    (tmp_path / "report.txt").write_text("mine")
    for call in (lambda: check_output_dir(tmp_path, overwrite="false"),
                 lambda: write_output(str(tmp_path / "report.txt"), "x", overwrite="false"),
                 lambda: ExportConfig(overwrite="false")):
        with pytest.raises(ConfigError, match="overwrite must be True or False; got 'false'"):
            call()
    assert (tmp_path / "report.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------- 4. replace
def test_replace_never_leaves_no_output_and_restores_the_old_one_on_failure(tmp_path, monkeypatch):
    out = _ours(tmp_path / "out")
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "model.tflite").write_bytes(b"new")
    assert (out / "model.tflite").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]

    _ours(tmp_path / "out2")
    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)  # the two-rename fallback
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".out2.partial-"):
            raise KeyboardInterrupt  # lands between the two renames
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_dir(tmp_path / "out2", overwrite=True) as tmp:
            (tmp / "model.tflite").write_bytes(b"new")
    assert (tmp_path / "out2" / "model.tflite").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out2"]


def test_a_swallowed_signal_still_stops_the_write(tmp_path, monkeypatch):
    from edgellm import signals

    monkeypatch.setattr(signals, "_received", signal.SIGTERM)  # a handler ran, its exception was swallowed
    with pytest.raises(signals.Terminated):
        with atomic_output_dir(tmp_path / "out", overwrite=False) as tmp:
            (tmp / "model.tflite").write_bytes(b"new")
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_an_export_exits_143_and_leaves_nothing(tiny_bert, tmp_path):
    out = tmp_path / "exports" / "bert"
    out.parent.mkdir()
    child = subprocess.Popen([sys.executable, "-m", "edgellm.cli", "export", "--model", str(tiny_bert),
                              "--sequence-length", "16", str(out)], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines = []
    for line in child.stderr:  # the bundle stage (the one with a temporary folder) starts after validate
        lines.append(line)
        if "validate done" in line:
            child.send_signal(signal.SIGTERM)
            break
    rest = child.stderr.read()
    assert child.wait(timeout=120) == 143, lines + [rest]
    assert rest.strip().splitlines() == ["edgellm export: stopped by SIGTERM; nothing was left half-written"]
    assert list(out.parent.iterdir()) == []


# ---------------------------------------------------------------------------------------------- 2. integrity
def test_bundle_records_every_shipped_file_and_loaders_refuse_a_tampered_one(tiny_bert_export, tmp_path, capsys):
    manifest = read_manifest(tiny_bert_export)
    names = {p.name for p in tiny_bert_export.iterdir()} - {"edgellm.json"}
    assert set(manifest[FILES]) == names and manifest[FILES] == file_digests(tiny_bert_export)
    assert verify_files(tiny_bert_export, manifest) is True
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bert_export, bad)
    data = bytearray((bad / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"^model.tflite: sha256 differs from edgellm.json: the file was changed "
                                             r"after export; re-export it, or pass --no-verify$"):
        verify_files(bad, manifest)
    for argv in (["inspect", str(bad)], ["bench", "--runs", "1", "--min-seconds", "0", "--warmup", "0", str(bad)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "model.tflite: sha256 differs from edgellm.json" in err, err
    assert cli.main(["inspect", "--no-verify", "--no-runtime", str(bad)]) == 0
    (bad / "model.tflite").write_bytes(bytes(data[:100]))
    with pytest.raises(ModelFileError, match="model.tflite: 100 bytes, edgellm.json says"):
        verify_files(bad, manifest)


def test_an_export_without_hashes_loads_with_a_warning(tiny_bert_export, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_bert_export, old)
    manifest = read_manifest(old)
    del manifest[FILES]
    write_manifest(old, manifest)
    with pytest.warns(UserWarning, match="records no file hashes"):
        assert verify_files(old, manifest) is False
    from edgellm.bench.inspect import inspect

    with pytest.warns(UserWarning, match="records no file hashes"):
        assert inspect(old).models[0]["xnnpack"]["partitions"] >= 1  # loaded in safe mode first, then here


def test_generate_refuses_a_tampered_llm_export(llm_export, tmp_path, capsys):
    from edgellm.generate import load_llm

    bad = tmp_path / "llm"
    shutil.copytree(llm_export, bad)
    with (bad / "tokenizer.json").open("a") as f:
        f.write(" ")
    with pytest.raises(ModelFileError, match="^tokenizer.json: .* bytes, edgellm.json says"):
        load_llm(bad)
    assert cli.main(["generate", str(bad), "--prompt", "hello", "--max-new-tokens", "2"]) == 2
    assert "tokenizer.json" in capsys.readouterr().err
    assert cli.main(["generate", str(bad), "--prompt", "hello", "--max-new-tokens", "2", "--no-verify"]) == 0
    with pytest.raises(ConfigError, match="verify must be True or False"):
        load_llm(bad, verify="no")


# ---------------------------------------------------------------------------------------------- 3. crash-proof
def test_a_truncated_llm_model_is_one_line_not_a_segfault(llm_export, tmp_path):
    bad = tmp_path / "llm"
    shutil.copytree(llm_export, bad)
    data = (bad / "model.tflite").read_bytes()
    (bad / "model.tflite").write_bytes(data[: len(data) // 2])
    for argv in (["generate", str(bad), "--prompt", "hi", "--no-verify"],
                 ["bench", "--no-verify", "--runs", "1", "--prompt-tokens", "4", "--new-tokens", "4", str(bad)]):
        r = subprocess.run([sys.executable, "-m", "edgellm.cli", *argv], capture_output=True, text=True, timeout=300)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "model.tflite" in r.stderr, r.stderr


def test_a_child_killed_by_a_signal_is_a_one_line_model_file_error(tmp_path, monkeypatch):
    from edgellm.runtime.probe import probe

    (tmp_path / "crashy.py").write_text("def load(path):\n    import ctypes\n    ctypes.string_at(0)\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with pytest.raises(ModelFileError, match=r"m.tflite: LiteRT crashed loading it \(SIGSEGV in a test process"):
        probe("crashy:load", tmp_path / "m.tflite")
    with pytest.raises(ModelFileError, match=r"LiteRT could not load it \(.*Could not open"):
        probe("edgellm.runtime.probe:load_and_invoke", tmp_path / "missing.tflite")


# ---------------------------------------------------------------------------------------------- 5. fail fast
def test_bad_output_paths_fail_before_any_conversion(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot create output folder .*: .*file' is a file"):
        check_output_dir(tmp_path / "file" / "out", overwrite=False)
    monkeypatch.setattr(outdir.os, "access", lambda path, mode: False)  # root ignores modes: the check itself
    with pytest.raises(ConfigError, match="is not writable"):
        check_output_dir(tmp_path / "ro" / "out", overwrite=False)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="not enough free disk"):
        check_output_dir(tmp_path / "out", overwrite=False, needed_bytes=1 << 60)


def test_cli_bad_paths_are_one_line_exit_2(tiny_bert, tiny_bert_export, tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.chdir(tmp_path)
    cases = [
        (["export", "--model", str(tiny_bert), str(tmp_path / "file" / "out")], "is a file"),
        (["export", "--model", str(tiny_bert), "--overwrite", "."], "is the current directory"),
        (["inspect", "--no-runtime", "--output", str(tmp_path), str(tiny_bert_export)], "is a folder; pass a file"),
        (["export", "--model", str(tiny_bert), "--quantize", "int3", "o"], "available: fp32, fp16, int8-dynamic, "
                                                                          "int8, int16x8, int8-full$"),
    ]
    for argv, message in cases:
        t0 = time.perf_counter()
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and __import__("re").search(message, err.strip()), err
        assert time.perf_counter() - t0 < 10  # before any conversion


def test_json_lists_and_unreadable_weights_are_model_file_errors(tiny_bert, tiny_bert_export, tmp_path, capsys,
                                                                 monkeypatch):
    from edgellm.convert import read_source
    from edgellm.convert.decoder.source import read_decoder_source

    model = tmp_path / "model"
    shutil.copytree(tiny_bert, model)
    (model / "config.json").write_text("[1, 2]")
    for read in (read_source, read_decoder_source):
        with pytest.raises(ModelFileError, match="config.json' holds a JSON list, expected a JSON object"):
            read(model)
    export = tmp_path / "export"
    shutil.copytree(tiny_bert_export, export)
    (export / "edgellm.json").write_text("[1, 2]")
    assert cli.main(["bench", str(export)]) == 2
    assert "holds a JSON list, not an object" in capsys.readouterr().err
    shutil.copy(tiny_bert / "config.json", model / "config.json")
    import edgellm.convert.source as source

    monkeypatch.setattr(source.os, "access", lambda path, mode: not str(path).endswith(".safetensors"))
    with pytest.raises(ModelFileError, match=r"model.safetensors' cannot be read \(permission denied\)"):
        read_source(model)


def test_argparse_errors_are_two_lines(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["export", "--sequence-length", "x", "out"])
    assert e.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["edgellm export: error: argument --sequence-length: invalid int value: 'x'",
                   "run `edgellm export --help` for usage"]


def test_fuzzed_model_files_never_kill_traceback_or_hang(tiny_bert_export, llm_export, tmp_path):
    """50 mutated copies of each export kind through inspect, bench (and generate) with --no-verify: every run
    ends in exit 0 or a one-line error (about a minute). The 200-copy run: benchmarks/fuzz_model_files.py."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fuzz_model_files import fuzz

    for kind, export in (("encoder", tiny_bert_export), ("llm", llm_export)):
        counts, bad = fuzz(export, kind, 50, seed=1, work=tmp_path)
        assert not bad, (kind, counts, bad)
        assert counts["error"] > 0  # the mutations are not all harmless
