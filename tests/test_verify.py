"""`edgellm verify`: MATCH on a fresh tiny-model export and optimize run; a changed byte, input or lock named."""

from __future__ import annotations

import json
import shutil

import pytest

from edgellm import cli
from edgellm.errors import ConfigError
from edgellm.lock import verify


@pytest.fixture(scope="module")
def optimized(tiny_bert, tmp_path_factory):
    from edgellm.optimize import optimize

    out = tmp_path_factory.mktemp("verify") / "opt"
    optimize(tiny_bert, out, recipes=("fp32",), sequence_length=16, runs=3, min_seconds=0.0)  # one rebuild each
    return out


def test_an_export_folder_verifies_match(optimized, capsys):
    """best/ is an ordinary export folder: its edgellm.json carries its own lock."""
    assert cli.main(["verify", str(optimized / "best" / "edgellm.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MATCH: 5 files of"), out


def test_a_changed_byte_and_a_changed_input_are_named(optimized, tmp_path, capsys):
    copy = tmp_path / "opt"
    shutil.copytree(optimized, copy)
    model = copy / "best" / "model.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    # and an input whose recorded sha256 is not the file's any more
    doc = json.loads((copy / "report.json").read_text())
    doc["lock"]["inputs"]["validation/en_eval.txt"]["sha256"] = "0" * 64
    (copy / "report.json").write_text(json.dumps(doc))
    assert cli.main(["verify", str(copy / "report.json")]) == 1
    printed = capsys.readouterr().out
    assert printed.startswith("DIFFERS: 1 of 5 files of"), printed
    assert "  best/model.tflite: differs: changed on disk after it was written" in printed
    assert f"first difference at byte {len(data) // 2}" in printed and "op census identical" in printed
    assert "note: different input: validation/en_eval.txt sha256" in printed
    assert "the recorded measurements pick fp32 again" in printed


def test_a_lock_whose_inputs_are_missing_exits_2(optimized, tmp_path, capsys):
    doc = json.loads((optimized / "report.json").read_text())
    doc["lock"]["inputs"]["model/model.safetensors"]["path"] = str(tmp_path / "gone" / "model.safetensors")
    (tmp_path / "report.json").write_text(json.dumps(doc))
    assert cli.main(["verify", str(tmp_path / "report.json")]) == 2
    err = capsys.readouterr().err
    assert "the lock's input model/model.safetensors" in err and "is missing" in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary folder left


def test_no_lock_or_no_file_is_a_config_error(tmp_path, tiny_bert_export):
    manifest = json.loads((tiny_bert_export / "edgellm.json").read_text())
    del manifest["lock"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "edgellm.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match="records no lock"):
        verify(tmp_path / "old" / "edgellm.json")
    with pytest.raises(ConfigError, match="does not exist"):
        verify(tmp_path / "nothing.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds no edgellm.lock/1 lock"):
        verify(tmp_path / "other.json")


def test_litertlm_stamps_are_blanked_and_every_other_byte_compared(tmp_path):
    """litert-lm-builder writes a random uuid4 and the build time into each bundle: the lock's digest ignores
    exactly those two strings."""
    from edgellm.lock import file_digest

    def bundle(name, uuid, when, body=b"weights"):
        path = tmp_path / name / "model.litertlm"
        path.parent.mkdir()
        path.write_bytes(b"LITERTLM\x00" + when + b"\x00\x00uuid" + uuid + b"creation_timestamp" + body)
        return path

    a = bundle("a", b"f3b014f9-277a-4bd4-9b70-c311cc657bed", b"2026-12-06T20:51:36.936304+00:00")
    b = bundle("b", b"0c6f1f7e-9d1e-4f0a-8b2c-3d4e5f607182", b"2027-01-01T00:00:00.000001+00:00")
    c = bundle("c", b"0c6f1f7e-9d1e-4f0a-8b2c-3d4e5f607182", b"2027-01-01T00:00:00.000001+00:00", b"weighTs")
    assert file_digest(a) == file_digest(b) != file_digest(c)
    plain = tmp_path / "a" / "model.tflite"
    plain.write_bytes(a.read_bytes())
    (tmp_path / "b" / "model.tflite").write_bytes(b.read_bytes())
    assert file_digest(plain) != file_digest(tmp_path / "b" / "model.tflite")  # only bundles are stamped
