"""report.html in a real browser: headless Chromium (Debian's chromium, which scripts/setup.sh installs) opens the
file, every image decodes (naturalWidth > 0), no console error; the screenshot is kept as a test artefact under
pytest's temporary folder (its path is printed; `pytest -s` shows it)."""

import os

import pytest
from chromium_cdp import find, look
from report_data import encoders, llms

from edgellm.report import write_report

_MISSING = ("chromium not found at /usr/bin/chromium or on PATH: apt-get install chromium, or bash "
            "scripts/install_chromium.sh (setup.sh runs it)")


@pytest.fixture(scope="module")
def chromium():
    if find() is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):  # setup.sh installs it: CI must not pass by skipping
            pytest.fail(f"CI=true and {_MISSING}")
        pytest.skip(_MISSING)
    return find()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    return tmp_path_factory.mktemp("report-screenshots")


@pytest.mark.parametrize("entries", [encoders, llms], ids=["encoders", "llms"])
def test_report_html_loads_in_chromium(chromium, artefacts, tmp_path, entries):
    paths = write_report(entries(), tmp_path / "r", title="browser check")
    shot = artefacts / f"report-{entries.__name__}.png"
    seen = look(paths["html"], shot)
    print(f"screenshot: {shot}")
    assert seen["title"] == "browser check"
    assert seen["errors"] == []
    assert len(seen["images"]) == len(paths["plots"]) == 4
    for image in seen["images"]:
        assert image["error"] is None and (image["width"], image["height"]) == (700, 440), image
    from PIL import Image

    with Image.open(shot) as image:
        assert image.width == 1200 and image.height > 4 * 440  # the whole page, four plots under the table


def test_the_check_sees_a_broken_image_and_a_console_error(chromium, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>b</title></head><body><img alt="x" '
                    'src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>')
    seen = look(page, tmp_path / "broken.png")
    assert seen["images"][0]["width"] == 0 and seen["images"][0]["error"]
    assert seen["errors"] == ["console: boom"]
