"""The Android demo's pure-Kotlin logic (manifest reader, WordPiece, buckets, dequantization, stats) on the JVM.

No Android SDK here: android_demo/run_jvm_tests.sh compiles the core sources with kotlinc and runs their JUnit 4
tests; it installs JDK/JUnit (Debian) and kotlin-compiler (npm) when missing.
"""

import re
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "android_demo" / "run_jvm_tests.sh"


@pytest.mark.slow
def test_android_demo_jvm_tests_pass():
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1200)
    summary = re.search(r"jvm-tests: (\d+) passed, (\d+) failed", proc.stdout + proc.stderr)
    assert proc.returncode == 0 and summary, proc.stdout[-3000:] + proc.stderr[-3000:]
    passed, failed = map(int, summary.groups())
    assert passed >= 20 and failed == 0
