#!/usr/bin/env bash
# Debian's chromium for the test that opens report.html in a real browser (tests/report/test_report_browser.py).
# Idempotent and quiet: nothing to do when chromium is on PATH; installed with apt-get when running as root on
# Debian/Ubuntu; anywhere else a one-line note (exit 0), and that test is skipped (failed under CI=true).
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "${EUID:-$(id -u)}" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    if { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1; then
        exit 0
    fi
    echo "note: apt-get install chromium failed; the browser test of report.html will be skipped" >&2
else
    echo "note: chromium is not installed (scripts/install_chromium.sh needs Debian's apt-get, as root); the" \
         "browser test of report.html will be skipped" >&2
fi
exit 0
