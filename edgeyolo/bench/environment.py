"""What the benchmark ran on, captured into every record."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine()


def cpu_temperature_c() -> float | None:
    """Highest thermal zone reading in degrees Celsius, if the kernel exposes any."""
    temps = []
    for zone in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        raw = _read(str(zone))
        if raw and raw.lstrip("-").isdigit():
            temps.append(int(raw) / 1000.0)
    return max(temps) if temps else None


def capture_environment(profile: str) -> dict:
    """Device facts for a benchmark record (no network, no subprocesses)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return {
        "profile": profile,
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": cores,
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "temperature_c": cpu_temperature_c(),
    }
