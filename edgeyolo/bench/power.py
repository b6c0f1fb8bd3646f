"""Power readings over a benchmark window, with the source named; absent sensors give ``None``, never 0.

Sources:
- ``tegrastats`` (Jetson): the board input rail ``VDD_IN`` (Orin; ``POM_5V_IN`` on older modules), sampled
  from ``tegrastats --interval 100`` while the window runs.
- ``rapl`` (x86): package energy counters under ``/sys/class/powercap/intel-rapl:*`` (Intel, and AMD
  Zen with the rapl driver); average power = energy delta / time, counter wrap handled.
- ``rpi-pmic`` (Raspberry Pi 5): ``vcgencmd pmic_read_adc``; power = sum over rails of current x voltage.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_TEGRA_RAILS = (re.compile(r"\bVDD_IN (\d+)mW/(\d+)mW"), re.compile(r"\bPOM_5V_IN (\d+)/(\d+)"))
_PMIC = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([0-9.]+)[AV]\s*$")


def parse_tegrastats(line: str) -> float | None:
    """Instantaneous board input power in watts from one tegrastats line."""
    for rx in _TEGRA_RAILS:
        m = rx.search(line)
        if m:
            return int(m.group(1)) / 1000.0
    return None


def parse_pmic(text: str) -> float | None:
    """Total power in watts from ``vcgencmd pmic_read_adc`` output (rails with both current and voltage)."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = _PMIC.match(line)
        if m:
            (amps if m.group(2) == "A" else volts)[m.group(1)] = float(m.group(3))
    rails = set(amps) & set(volts)
    return sum(amps[r] * volts[r] for r in rails) if rails else None


@dataclass
class RaplCounter:
    """Package energy counters of ``/sys/class/powercap`` (subzones such as core/dram are not added twice)."""

    root: Path = Path("/sys/class/powercap")
    zones: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zones = sorted(p for p in self.root.glob("intel-rapl:*") if p.name.count(":") == 1)

    def available(self) -> bool:
        return bool(self.zones) and all(self._read(z / "energy_uj") is not None for z in self.zones)

    @staticmethod
    def _read(path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def energy_uj(self) -> list[int]:
        return [self._read(z / "energy_uj") or 0 for z in self.zones]

    def delta_uj(self, start: list[int], end: list[int]) -> int:
        total = 0
        for z, a, b in zip(self.zones, start, end):
            wrap = self._read(z / "max_energy_range_uj") or 0
            total += b - a if b >= a else b + wrap - a
        return total


class PowerMeter:
    """``with PowerMeter(source) as pm: ...`` then ``pm.result(images)``: mean W and mJ per image, or None."""

    def __init__(self, source: str, interval_s: float = 0.1, rapl_root: Path | None = None):
        self.source = source
        self.interval_s = interval_s
        self.samples: list[float] = []
        self.reason: str | None = None
        self._rapl = RaplCounter(rapl_root or Path("/sys/class/powercap")) if source == "rapl" else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._t0 = self._t1 = 0.0
        self._e0: list[int] = []
        self._joules: float | None = None

    def __enter__(self) -> PowerMeter:
        if self.source == "rapl":
            if self._rapl.available():
                self._e0 = self._rapl.energy_uj()
            else:
                self.reason = (
                    "no readable RAPL counters under /sys/class/powercap (needs root or a supported CPU)"
                )
        elif self.source == "tegrastats":
            exe = shutil.which("tegrastats")
            if exe is None:
                self.reason = "tegrastats not found (not a Jetson?)"
            else:
                self._proc = subprocess.Popen([exe, "--interval", str(int(self.interval_s * 1000))],
                                              stdout=subprocess.PIPE, text=True)  # fmt: skip
                self._thread = threading.Thread(target=self._read_tegrastats, daemon=True)
                self._thread.start()
        elif self.source == "rpi-pmic":
            if shutil.which("vcgencmd") is None:
                self.reason = "vcgencmd not found (not a Raspberry Pi 5?)"
            else:
                self._thread = threading.Thread(target=self._poll_pmic, daemon=True)
                self._thread.start()
        else:
            self.reason = "no power source in the profile"
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._t1 = time.perf_counter()
        if self._rapl is not None and self._e0:
            self._joules = self._rapl.delta_uj(self._e0, self._rapl.energy_uj()) / 1e6
        self._stop.set()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read_tegrastats(self) -> None:
        stdout = self._proc.stdout if self._proc is not None else None
        for line in stdout or ():
            if self._stop.is_set():
                break
            w = parse_tegrastats(line)
            if w is not None:
                self.samples.append(w)

    def _poll_pmic(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["vcgencmd", "pmic_read_adc"], capture_output=True, text=True).stdout
            w = parse_pmic(out)
            if w is not None:
                self.samples.append(w)
            self._stop.wait(self.interval_s)

    def result(self, images: int) -> dict | None:
        """Power over the window for ``images`` inferences; None when nothing could be read."""
        seconds = self._t1 - self._t0
        if self._joules is not None and seconds > 0:
            mean_w = self._joules / seconds
        elif self.samples:
            mean_w = sum(self.samples) / len(self.samples)
        else:
            if self.reason is None:
                self.reason = (f"{self.source} gave no readable power sample in the {seconds:.2f} s window "
                               f"(sampled every {self.interval_s:g} s; use --min-duration for a longer window)")  # fmt: skip
            return None
        return {
            "source": self.source,
            "mean_w": round(mean_w, 3),
            "mj_per_image": round(mean_w * seconds / max(images, 1) * 1000, 3),
            "window_s": round(seconds, 3),
            "samples": len(self.samples) if self._joules is None else None,
        }
