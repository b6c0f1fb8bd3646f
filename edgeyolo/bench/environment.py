"""What the benchmark ran on, captured into every record."""

from __future__ import annotations

import os
import platform
import re
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


def _run(cmd: list[str]) -> str | None:
    """Output of a device tool (nvpmodel, vcgencmd), or None when it is absent or fails."""
    import shutil
    import subprocess

    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def parse_nvpmodel(text: str) -> str | None:
    """``nvpmodel -q`` -> the power mode name, e.g. '15W' or 'MAXN'."""
    for line in text.splitlines():
        if line.startswith("NV Power Mode:"):
            return line.split(":", 1)[1].strip() or None
    return None


_FREQ_RE = re.compile(r"^(cpu\d+|GPU|EMC):?\s.*?MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)")


def parse_jetson_clocks(text: str) -> dict | None:
    """``jetson_clocks --show`` -> whether clocks are locked at maximum (what ``sudo jetson_clocks`` does).

    Locked = every online CPU and the GPU have MinFreq == MaxFreq; without the lock DVFS moves the clocks
    during a run and latency figures are not comparable with locked ones.
    """
    cpus, gpu, emc = [], None, None
    for line in text.splitlines():
        m = _FREQ_RE.match(line.strip())
        if not m or (m[1].startswith("cpu") and "Online=0" in line):
            continue
        lo, hi, cur = (int(v) for v in m.group(2, 3, 4))
        if m[1].startswith("cpu"):
            cpus.append((lo, hi, cur))
        elif m[1] == "GPU":
            gpu = (lo, hi, cur)
        else:
            emc = (lo, hi, cur)
    if not cpus and gpu is None:
        return None
    return {
        "locked": all(lo == hi for lo, hi, _ in cpus) and (gpu is None or gpu[0] == gpu[1]),
        "cpu_mhz": max(cur for *_, cur in cpus) / 1000.0 if cpus else None,  # kHz
        "gpu_mhz": gpu[2] / 1e6 if gpu else None,  # Hz
        "emc_mhz": emc[2] / 1e6 if emc else None,
    }


# vcgencmd get_throttled bits: now (0-3) and since boot (16-19).
_THROTTLE_BITS = {"under_voltage": 0, "freq_capped": 1, "throttled": 2, "soft_temp_limit": 3}


def parse_throttled(text: str) -> dict | None:
    """``vcgencmd get_throttled`` ('throttled=0x50005') -> flags now and since boot."""
    if "throttled=" not in text:
        return None
    try:
        value = int(text.strip().split("=", 1)[1], 16)
    except ValueError:
        return None
    return {
        "now": {k: bool(value >> b & 1) for k, b in _THROTTLE_BITS.items()},
        "since_boot": {k: bool(value >> (b + 16) & 1) for k, b in _THROTTLE_BITS.items()},
        "raw": hex(value),
    }


def _mhz(raw: str | None) -> float | None:
    return int(raw) / 1000.0 if raw and raw.isdigit() else None


def cpu_mhz() -> float | None:
    return _mhz(_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq"))


def thermal_state() -> dict:
    """What can throttle a run, read now: temperature, CPU clock, and the Pi's throttle flags."""
    out = {"temperature_c": cpu_temperature_c(), "cpu_mhz": cpu_mhz()}
    text = _run(["vcgencmd", "get_throttled"])
    out["throttled"] = parse_throttled(text) if text else None
    return out


# ELF e_machine -> platform.machine() name, for the emulator's own architecture.
_ELF_MACHINES = {3: "i686", 8: "mips", 20: "ppc", 21: "ppc64le", 22: "s390x", 40: "armv7l", 62: "x86_64",
                 183: "aarch64", 243: "riscv64"}  # fmt: skip


def _elf_machine(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if head[:4] != b"\x7fELF" or len(head) < 20:
        return None
    return _ELF_MACHINES.get(int.from_bytes(head[18:20], "little" if head[5] == 1 else "big"))


def emulation() -> dict | None:
    """Whether a user-mode emulator (qemu-user) runs this process, and which; None when it runs natively.

    qemu-user answers /proc/self/exe with the emulated program but not /proc/thread-self/exe, which still names
    the emulator (e.g. /usr/bin/qemu-aarch64-static); natively both name the same file. Latency measured under
    emulation says nothing about the device; accuracy still should match.
    """
    try:
        exe, real = os.readlink("/proc/self/exe"), os.readlink("/proc/thread-self/exe")
    except OSError:  # no procfs (macOS) or a kernel without thread-self (< 3.17)
        return None
    if exe == real:
        return None
    return {"emulator": os.path.basename(real), "host_arch": _elf_machine(real), "arch": platform.machine()}


def capture_environment(profile: str) -> dict:
    """Device facts for a benchmark record (no network; only the device tools that exist run)."""
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
        "cpu_max_mhz": _mhz(_read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")),
        "temperature_c": cpu_temperature_c(),
        "power_mode": parse_nvpmodel(_run(["nvpmodel", "-q"]) or ""),  # Jetson
        "jetson_clocks": parse_jetson_clocks(
            _run(["jetson_clocks", "--show"]) or ""
        ),  # needs root; else null
        "emulation": emulation(),  # null natively; {emulator, host_arch, arch} under qemu-user
    }
