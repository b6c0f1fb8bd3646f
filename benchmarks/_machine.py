"""The machine line the benchmark scripts print: CPU model and vCPU count."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} vCPU"
    except OSError:
        pass
    return platform.processor() or platform.machine()
