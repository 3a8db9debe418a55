"""What machine a benchmark ran on, and how much memory the process holds. Standard library only.

On Linux the peak RSS (``VmHWM``) is reset before each model is loaded (``/proc/self/clear_refs``), so each
result's ``peak_rss_mb`` is that model's peak, not the process's; elsewhere it is the process peak so far.
"""

from __future__ import annotations

import os
import platform
import struct
import sys

# ARM "CPU part" codes (implementer 0x41) -> core name: what /proc/cpuinfo on a Raspberry Pi says instead
# of a model name. Pi 3: A53, Pi 4: A72, Pi 5: A76.
_ARM_PARTS = {
    0xD03: "Cortex-A53", 0xD04: "Cortex-A35", 0xD05: "Cortex-A55", 0xD07: "Cortex-A57", 0xD08: "Cortex-A72",
    0xD09: "Cortex-A73", 0xD0A: "Cortex-A75", 0xD0B: "Cortex-A76", 0xD0C: "Neoverse-N1", 0xD0D: "Cortex-A77",
    0xD41: "Cortex-A78", 0xD44: "Cortex-X1", 0xD46: "Cortex-A510", 0xD47: "Cortex-A710", 0xD48: "Cortex-X2",
    0xD4B: "Cortex-A78C", 0xC07: "Cortex-A7", 0xC08: "Cortex-A8", 0xC09: "Cortex-A9", 0xC0F: "Cortex-A15",
    0xB76: "ARM1176",
}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip().rstrip("\x00")
    except OSError:
        return None


def _cpu_model() -> str:
    info = _read("/proc/cpuinfo") or ""
    fields: dict[str, str] = {}
    parts = set()
    for line in info.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "CPU part":
            try:
                parts.add(int(value, 16))
            except ValueError:
                pass
        fields.setdefault(key, value)
    if fields.get("model name") and not fields["model name"].startswith("ARMv"):
        return fields["model name"]
    if parts:
        return " + ".join(sorted(_ARM_PARTS.get(p, f"ARM part {p:#x}") for p in parts))
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=2)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return fields.get("model name") or platform.processor() or platform.machine() or "unknown"


def _os_name() -> str:
    release = _read("/etc/os-release") or ""
    for line in release.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform(terse=True)


def host_info() -> dict:
    """CPU model, cores, OS, architecture, Python: the ``host`` object of a bench report.

    ``python_bits`` tells a 32-bit Raspberry Pi OS (armv7l userland, 32) from a 64-bit one (aarch64, 64) even
    when the kernel is 64-bit; ``board`` is the device-tree model ("Raspberry Pi 4 Model B Rev 1.4") if any.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    freq = _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    import numpy

    info = {
        "cpu": _cpu_model(),
        "board": _read("/proc/device-tree/model") or _read("/sys/firmware/devicetree/base/model"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_max_mhz": int(freq) // 1000 if freq and freq.isdigit() else None,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "os": _os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "python_bits": struct.calcsize("P") * 8,
        "numpy": numpy.__version__,
    }
    return info


# ---------------------------------------------------------------------------------------------- memory
def _status_kb(key: str) -> int | None:
    status = _read("/proc/self/status")
    if not status:
        return None
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def current_rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024.0


def peak_rss_mb() -> float | None:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024.0
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
