import sys

import pytest

from edgellm.bench.host import _ARM_PARTS, current_rss_mb, host_info, peak_rss_mb, reset_peak_rss


def test_host_info_keys():
    h = host_info()
    assert {"cpu", "board", "cores", "usable_cores", "os", "kernel", "arch", "python", "python_bits", "numpy"} <= set(h)
    assert h["cores"] >= 1 and h["python_bits"] in (32, 64) and h["cpu"]


def test_raspberry_pi_cores_are_named():
    assert _ARM_PARTS[0xD08] == "Cortex-A72" and _ARM_PARTS[0xD0B] == "Cortex-A76"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux only")
def test_rss_on_linux():
    before = peak_rss_mb()
    block = bytearray(64 * 1024 * 1024)  # touch 64 MB
    for i in range(0, len(block), 4096):
        block[i] = 1
    assert peak_rss_mb() >= current_rss_mb() >= 64
    del block
    if not reset_peak_rss():  # a platform limit (e.g. a sandbox that forbids /proc/self/clear_refs), shown as a skip
        pytest.skip("/proc/self/clear_refs is not writable here: the peak-RSS mark cannot be reset")
    assert peak_rss_mb() < before + 64
