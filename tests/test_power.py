"""Power parsers on recorded real-format output; RAPL on a powercap tree laid out as the kernel does."""

from __future__ import annotations

import os
import time

import pytest

from edgeyolo.bench.power import PowerMeter, RaplCounter, parse_pmic, parse_tegrastats

# Jetson Orin Nano, JetPack 6 (tegrastats --interval 100)
TEGRA_ORIN = (
    "11-25-2026 10:00:00 RAM 2034/7620MB (lfb 1x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [12%@1510,8%@1510,5%@1510,3%@1510,0%@729,0%@729] EMC_FREQ 0% GR3D_FREQ 61% "
    "cpu@49.5C soc2@47.9C soc0@48.5C gpu@50.1C tj@50.1C soc1@47.4C "
    "VDD_IN 7264mW/6021mW VDD_CPU_GPU_CV 2210mW/1605mW VDD_SOC 1998mW/1843mW"
)
# Jetson Nano / Xavier generation (no units on rails)
TEGRA_NANO = (
    "RAM 1852/3956MB (lfb 120x4MB) SWAP 0/1978MB (cached 0MB) CPU [9%@1479,4%@1479,3%@1479,2%@1479] "
    "EMC_FREQ 3%@1600 GR3D_FREQ 0%@921 APE 25 PLL@36C CPU@38.5C PMIC@50C GPU@36.5C AO@44C thermal@37.25C "
    "POM_5V_IN 3013/2890 POM_5V_GPU 0/0 POM_5V_CPU 528/498"
)
# Raspberry Pi 5 (vcgencmd pmic_read_adc), trimmed to a few rails of each kind
PMIC = """\
   3V7_WL_SW_A current(0)=0.00390372A
     3V3_SYS_A current(1)=0.05660400A
     1V8_SYS_A current(2)=0.18250900A
    DDR_VDD2_A current(4)=0.02439825A
      VDD_CORE_A current(7)=0.97432000A
     EXT5V_V volt(24)=5.15061200V
   3V7_WL_SW_V volt(8)=3.71216000V
     3V3_SYS_V volt(9)=3.31159200V
     1V8_SYS_V volt(10)=1.80256200V
    DDR_VDD2_V volt(12)=1.11282200V
      VDD_CORE_V volt(14)=0.87290100V
"""


def test_tegrastats_lines():
    assert parse_tegrastats(TEGRA_ORIN) == pytest.approx(7.264)
    assert parse_tegrastats(TEGRA_NANO) == pytest.approx(3.013)
    assert parse_tegrastats("RAM 1852/3956MB CPU [9%@1479]") is None


def test_pmic_sums_rails_with_current_and_voltage():
    expected = (0.00390372 * 3.71216 + 0.056604 * 3.311592 + 0.182509 * 1.802562 + 0.02439825 * 1.112822
                + 0.97432 * 0.872901)  # fmt: skip
    assert parse_pmic(PMIC) == pytest.approx(expected)
    assert parse_pmic("") is None


def _zone(root, name, energy, max_range=262143328850):
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    return z


def test_rapl_counts_packages_and_handles_wrap(tmp_path):
    p0 = _zone(tmp_path, "intel-rapl:0", 1_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 500)  # core subzone: part of the package, not added again
    p1 = _zone(tmp_path, "intel-rapl:1", 262143328850 - 1_000_000, max_range=262143328850)
    rapl = RaplCounter(tmp_path)
    assert [z.name for z in rapl.zones] == ["intel-rapl:0", "intel-rapl:1"] and rapl.available()
    start = rapl.energy_uj()
    (p0 / "energy_uj").write_text("3000000\n")  # +2 J
    (p1 / "energy_uj").write_text("1000000\n")  # wrapped: +2 J
    assert rapl.delta_uj(start, rapl.energy_uj()) == 4_000_000


def test_meter_without_a_sensor_is_null_not_zero(tmp_path):
    with PowerMeter("rapl", rapl_root=tmp_path) as m:
        pass
    assert m.result(100) is None and "RAPL" in m.reason
    with PowerMeter("none") as m:
        pass
    assert m.result(100) is None


def test_meter_with_rapl_reports_watts_and_energy_per_image(tmp_path):
    z = _zone(tmp_path, "intel-rapl:0", 0)
    with PowerMeter("rapl", rapl_root=tmp_path) as m:
        time.sleep(0.2)
        (z / "energy_uj").write_text("500000\n")  # 0.5 J over the window
    r = m.result(50)
    assert r["source"] == "rapl" and r["mj_per_image"] == pytest.approx(10.0, rel=1e-3)
    assert r["mean_w"] == pytest.approx(0.5 / r["window_s"], rel=1e-2)


def test_device_tool_outputs():
    from edgeyolo.bench.environment import parse_nvpmodel, parse_throttled

    assert parse_nvpmodel("NV Power Mode: 15W\n0\n") == "15W"
    assert parse_nvpmodel("NV Power Mode: MAXN_SUPER\n2\n") == "MAXN_SUPER"
    assert parse_nvpmodel("nvpmodel: command failed") is None
    t = parse_throttled("throttled=0x50005\n")  # under-voltage + throttled now; both also since boot
    assert t["now"] == {
        "under_voltage": True,
        "freq_capped": False,
        "throttled": True,
        "soft_temp_limit": False,
    }
    assert (
        t["since_boot"]["under_voltage"]
        and t["since_boot"]["throttled"]
        and not t["since_boot"]["freq_capped"]
    )
    assert parse_throttled("throttled=0x0")["now"] == dict.fromkeys(t["now"], False)
    assert parse_throttled("error=1") is None


def test_stability_flags():
    from edgeyolo.bench.measure import _stability

    calm = {"temperature_c": 50.0, "cpu_mhz": 2400.0, "throttled": None}
    assert _stability(0.03, calm, calm)["noisy"] is False
    hot = {"temperature_c": 85.0, "cpu_mhz": 1500.0, "throttled": {"now": {"throttled": True}, "raw": "0x4"}}
    s = _stability(0.03, calm, hot)
    assert (
        s["noisy"] and any("throttling" in r for r in s["reasons"]) and any("MHz" in r for r in s["reasons"])
    )
    assert _stability(0.2, calm, calm)["reasons"] == ["end-to-end CV 0.20 > 0.1"]
    from edgeyolo.bench.environment import parse_jetson_clocks

    dvfs = _stability(0.03, calm, calm, parse_jetson_clocks(JETSON_CLOCKS_DVFS))
    assert dvfs["noisy"] and "Jetson clocks not locked" in dvfs["reasons"][0]
    assert _stability(0.03, calm, calm, parse_jetson_clocks(JETSON_CLOCKS_LOCKED))["noisy"] is False
    ondemand = _stability(0.03, calm, calm, governor="ondemand")
    assert ondemand["noisy"] and "governor 'ondemand'" in ondemand["reasons"][0]
    assert _stability(0.03, calm, calm, governor="performance")["noisy"] is False


# `sudo jetson_clocks --show` on a Jetson AGX Orin (JetPack 6) before and after `sudo jetson_clocks`.
JETSON_CLOCKS_DVFS = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600 CurrentFreq=1497600 IdleStates: WFI=1 c7=1
cpu1: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600 CurrentFreq=2188800 IdleStates: WFI=1 c7=1
GPU MinFreq=306000000 MaxFreq=1300500000 CurrentFreq=306000000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=2133000000 FreqOverride=0
FAN Dynamic Speed control=active hwmon4_pwm=63
NV Power Mode: MAXN
"""
JETSON_CLOCKS_LOCKED = """SOC family:tegra234  Machine:NVIDIA Jetson Orin Nano Developer Kit
Online CPUs: 0-5
cpu0:  Online=1 Governor=schedutil MinFreq=1728000 MaxFreq=1728000 CurrentFreq=1728000 IdleStates: WFI=0 c7=0
cpu1:  Online=1 Governor=schedutil MinFreq=1728000 MaxFreq=1728000 CurrentFreq=1728000 IdleStates: WFI=0 c7=0
cpu5:  Online=0 Governor=schedutil MinFreq=729600 MaxFreq=1728000 CurrentFreq=729600 IdleStates: WFI=0 c7=0
GPU MinFreq=1020000000 MaxFreq=1020000000 CurrentFreq=1020000000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
FAN Dynamic Speed Control=disabled hwmon0_pwm1=255
NV Power Mode: MAXN_SUPER
"""


def test_jetson_clocks_state():
    from edgeyolo.bench.environment import parse_jetson_clocks

    dvfs = parse_jetson_clocks(JETSON_CLOCKS_DVFS)
    assert dvfs == {"locked": False, "cpu_mhz": 2188.8, "gpu_mhz": 306.0, "emc_mhz": 2133.0}
    locked = parse_jetson_clocks(JETSON_CLOCKS_LOCKED)  # the offline core does not count
    assert locked["locked"] is True and locked["gpu_mhz"] == 1020.0 and locked["cpu_mhz"] == 1728.0
    assert parse_jetson_clocks("jetson_clocks: must be run as root\n") is None


def _fake_tegrastats(tmp_path, monkeypatch, lines: list[str]) -> None:
    """A stand-in for the Jetson-only tool that prints recorded tegrastats lines, then idles."""
    exe = tmp_path / "bin" / "tegrastats"
    exe.parent.mkdir()
    body = "".join(f"echo '{ln}'\nsleep 0.02\n" for ln in lines)
    exe.write_text(f"#!/bin/sh\n{body}exec sleep 30\n")  # exec: terminate() stops the sleep too
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{exe.parent}:{os.environ['PATH']}")


def test_meter_reads_tegrastats_output(tmp_path, monkeypatch):
    _fake_tegrastats(tmp_path, monkeypatch, [TEGRA_ORIN, TEGRA_ORIN])
    with PowerMeter("tegrastats") as m:
        time.sleep(0.5)
    r = m.result(10)
    assert r["source"] == "tegrastats" and r["mean_w"] == pytest.approx(7.264) and r["samples"] == 2


def test_meter_with_no_tegrastats_sample_says_why(tmp_path, monkeypatch):
    _fake_tegrastats(tmp_path, monkeypatch, [])
    with PowerMeter("tegrastats") as m:
        time.sleep(0.1)
    assert m.result(10) is None and "gave no readable power sample" in m.reason
