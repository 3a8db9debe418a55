"""scripts/install_chromium.sh (run by scripts/setup.sh): nothing when chromium is there, apt-get as root on
Debian, a note and exit 0 elsewhere. Run with a PATH of fake commands, so nothing is installed."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install_chromium.sh"


def _fake(folder: Path, name: str, log: Path) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f'#!/bin/bash\necho "{name} $*" >> {log}\n')
    tool.chmod(0o755)


def _run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(SCRIPT)], env={"PATH": str(path)}, capture_output=True, text=True,
                          timeout=30)


def test_nothing_to_do_when_chromium_is_on_path(tmp_path):
    log = tmp_path / "calls"
    _fake(tmp_path / "bin", "chromium", log)
    _fake(tmp_path / "bin", "apt-get", log)
    done = _run(tmp_path / "bin")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "") and not log.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the apt-get path runs as root only")
def test_root_on_debian_installs_it_with_apt_get(tmp_path):
    log = tmp_path / "calls"
    _fake(tmp_path / "bin", "apt-get", log)
    done = _run(tmp_path / "bin")
    assert done.returncode == 0 and done.stdout == ""
    assert log.read_text().splitlines() == ["apt-get update -qq", "apt-get install -y -qq chromium"]


def test_without_apt_get_a_note_and_setup_goes_on(tmp_path):
    (tmp_path / "empty").mkdir()
    done = _run(tmp_path / "empty")
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr.startswith("note: chromium is not installed") and done.stderr.count("\n") == 1
