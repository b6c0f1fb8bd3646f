"""A Raspberry Pi in every test run: ``edgeyolo device setup`` onto an emulated arm64 device, then bench and
predict there over SSH, compared with this machine; and device setup's rules and errors.

The device (tests/_emulated.py): a Debian bookworm arm64 userland (the base of Raspberry Pi OS) whose Python runs
under qemu-aarch64-static as a Cortex-A76, reached through the real OpenSSH server the remote tests start. Its
root is made once and cached in ~/.cache/edgeyolo-test; the aarch64 wheelhouse that edgeyolo's own
``device setup`` builds is kept there too, so a warm run downloads nothing (pip still asks the index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from _emulated import CACHE, MODEL_RECIPE, memorized_model, start_emulated_pi
from click.testing import CliRunner
from test_remote import sshd  # noqa: F401  (sshd: a real server of this module)

from edgeyolo.bench.environment import capture_environment, emulation
from edgeyolo.bench.remote import Device, Host, RemoteError, RemoteOptions
from edgeyolo.bench.remote.session import Session
from edgeyolo.bench.store import read_records, schema_errors
from edgeyolo.cli import main
from edgeyolo.device import (
    DevicePlatform,
    SetupConfig,
    SetupError,
    build_own_wheel,
    build_wheelhouse,
    setup_device,
    setup_runtimes,
)
from edgeyolo.errors import ConfigError
from edgeyolo.profiles import TargetSpec, load_profile

TINY = 128
WHEELHOUSE = CACHE / "wheelhouse-arm64"  # built by edgeyolo's device setup, kept between runs
TIMINGS = CACHE / "timings.json"
EM_AARCH64 = 183
# Under emulation an inference is ~1 s (ONNX Runtime, NCNN) to ~7 s (OpenVINO) at 128 px: measure a few.
EMU_BENCH = ["--iterations", "2", "--warmup", "0", "--threads", "1", "--rounds", "1"]
MAP_TOL = 0.005


def _record_timing(key: str, seconds: float) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    data.setdefault(key, []).append(round(seconds, 1))
    data[key] = data[key][-10:]
    TIMINGS.write_text(json.dumps(data, indent=1))


# ------------------------------------------------------------------------------------ without a device
def test_platform_tags():
    pi = DevicePlatform("aarch64", "3.11.2", "cpython", ("glibc", "2.36"))
    tags = pi.platform_tags()
    assert tags[0] == "manylinux_2_36_aarch64" and tags[-2:] == [
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
    ]
    assert pi.python_version == "3.11" and pi.key == "cp311-manylinux_2_36_aarch64"
    x86 = DevicePlatform("x86_64", "3.10.12", "cpython", ("glibc", "2.31")).platform_tags()
    assert "manylinux_2_5_x86_64" in x86 and {
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
    } <= set(x86)


def _dev(**kw) -> Device:
    return Device(name="pi", host=Host("pi", "10.0.0.5", 22), **kw)


def test_runtimes_come_from_the_profile_or_the_flag():
    assert setup_runtimes(SetupConfig(_dev(), profile=load_profile("rpi5")))[0] == (
        "onnxruntime",
        "openvino",
        "ncnn",
    )
    assert setup_runtimes(SetupConfig(_dev(profile=load_profile("rpi4"))))[0][0] == "onnxruntime"
    wanted, skipped = setup_runtimes(SetupConfig(_dev(), profile=load_profile("jetson-orin-nano")))
    assert "tensorrt" not in wanted and "JetPack" in skipped["tensorrt"]
    assert setup_runtimes(SetupConfig(_dev(), runtimes=("ncnn", "ncnn")))[0] == ("ncnn",)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(runtimes=("onnx",)), "--runtimes: unknown runtime 'onnx'; known: onnxruntime"),
        (
            dict(runtimes=("tensorrt",)),
            "--runtimes: tensorrt cannot be installed by device setup: TensorRT comes with JetPack",
        ),
        (dict(), "no runtimes to install; pass --profile"),
    ],
)
def test_runtimes_rejected(kw, match):
    with pytest.raises(ConfigError, match=match):
        setup_runtimes(SetupConfig(_dev(), **kw))


def test_own_wheel_is_reproducible_and_installs(tmp_path):
    """edgeyolo's wheel, made from this installation: the same bytes twice, and pip installs it (with the
    built-in profiles and the console script) into a folder where it imports."""
    a = build_own_wheel(tmp_path / "a")
    b = build_own_wheel(tmp_path / "b")
    assert a.name == b.name and a.read_bytes() == b.read_bytes()
    names = zipfile.ZipFile(a).namelist()
    assert "edgeyolo/profiles/rpi5.yaml" in names and "edgeyolo/bench/record.schema.json" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                        str(target), str(a)], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (target / "bin" / "edgeyolo").is_file()
    r = subprocess.run([sys.executable, "-c", "import edgeyolo, edgeyolo.profiles as p; print(edgeyolo.__file__); "
                        "print(p.load_profile('rpi5').name)"], capture_output=True, text=True,
                       env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(target / "edgeyolo" / "__init__.py"), "rpi5"]


@pytest.mark.parametrize(
    "args, code, match",
    [
        ([], 2, "name the device: --host USER@HOST[:PORT] or --devices devices.yaml"),
        (["--host", "pi@", "--profile", "rpi5"], 1, "--host: 'pi@' is not user@host[:port]"),
        (["--host", "pi@10.0.0.5", "--runtimes", "onnx"], 1, "--runtimes: unknown runtime 'onnx'"),
        (["--host", "pi@10.0.0.5", "--profile", "rpi6"], 1, "Unknown profile 'rpi6'"),
        (
            ["--host", "pi@10.0.0.5", "--remote-workdir", "/"],
            1,
            "--remote-workdir: workdir '/' is the root folder",
        ),
        (["--only", "pi5"], 2, "name the device"),
    ],
)
def test_cli_setup_rejects(runner, args, code, match):
    res = runner.invoke(main, ["device", "setup", *args])
    assert res.exit_code == code, res.output
    assert match in res.output and "Traceback" not in res.output


def _no_index(monkeypatch) -> None:
    """This process's pip children see no package index (as on a host without internet)."""
    for var in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "3")


def test_wheelhouse_without_an_index_names_the_fix(tmp_path, monkeypatch):
    _no_index(monkeypatch)
    pi = DevicePlatform("aarch64", "3.11.2", "cpython", ("glibc", "2.36"))
    with pytest.raises(SetupError, match="cannot build the wheelhouse for aarch64, Python 3.11.2, glibc 2.36: .*"
                                         "needs PyPI .* once, or put the missing wheels into"):  # fmt: skip
        build_wheelhouse(pi, ["ncnn"], tmp_path / "wh")


@pytest.mark.parametrize("cmd", [["device"], ["device", "setup"]])
def test_help_has_an_example(runner, cmd):
    r = runner.invoke(main, [*cmd, "--help"])
    assert r.exit_code == 0 and "Example" in r.output, r.output


def test_emulation_is_none_natively():
    assert emulation() is None
    assert capture_environment("x86-cpu")["emulation"] is None


def _fake_python(path: Path, answer: dict) -> str:
    """A stand-in for a device's Python that answers device setup's question (the platform) as given."""
    path.write_text(f"#!/bin/sh\necho '{json.dumps(answer)}'\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    "answer, match",
    [
        (None, "no Python at '/nonexistent/python3'"),
        (dict(machine="aarch64", python="3.9.2", implementation="cpython", libc=["glibc", "2.31"]),
         "is Python 3.9.2; edgeyolo needs 3.10 or newer"),
        (dict(machine="aarch64", python="3.11.9", implementation="cpython", libc=["", ""]),
         "not glibc; the runtime wheels on PyPI (manylinux) need a glibc Linux"),
        (dict(machine="aarch64", python="3.11.9", implementation="pypy", libc=["glibc", "2.36"]),
         "is pypy; edgeyolo's wheels need CPython"),
    ],
)  # fmt: skip
def test_setup_refuses_devices_it_cannot_serve(tmp_path, sshd, answer, match):  # noqa: F811
    """Over the real sshd: what the device's Python says decides; nothing is built or copied for a refusal."""
    base = "/nonexistent/python3" if answer is None else _fake_python(tmp_path / "python3", answer)
    dev = sshd.device("refuse", python=base)
    wh = tmp_path / "wheelhouse"
    with pytest.raises(SetupError, match=re.escape(match)):
        setup_device(SetupConfig(dev, runtimes=("ncnn",), base_python=base, wheelhouse=wh), sshd.opts())
    assert not wh.exists() and not (Path(dev.workdir) / "venv").exists()


def test_setup_host_key_rules(tmp_path, sshd):  # noqa: F811
    """The remote rules: an unknown host key is refused with the fix, before anything runs on the device."""
    dev = sshd.device("keys", python="/nonexistent/python3")
    with pytest.raises(RemoteError, match="host key is not in .*--accept-new-host-key"):
        setup_device(SetupConfig(dev, runtimes=("ncnn",)), sshd.opts(known_hosts=tmp_path / "known_hosts"))


def test_bench_without_edgeyolo_points_to_device_setup(tmp_path, sshd, onnx_artifact, runner):  # noqa: F811
    bare = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    dev = sshd.device("bare-cli")
    res = runner.invoke(main, ["bench", "--profile", "x86-cpu", str(onnx_artifact), "--host", str(dev.host),
                               "--identity", str(sshd.key), "--known-hosts", str(sshd.known_hosts),
                               "--remote-python", bare, "--remote-workdir", dev.workdir,
                               "--out", str(tmp_path / "r.jsonl")])  # fmt: skip
    assert res.exit_code == 1
    [rec] = read_records(tmp_path / "r.jsonl")
    assert "edgeyolo is not installed" in rec["message"]
    assert f"edgeyolo device setup --host {dev.host}" in rec["message"]


def test_select_and_report_say_emulated(tmp_path):
    from _records import device, record

    from edgeyolo.report import report
    from edgeyolo.select import select

    emu = {"emulator": "qemu-aarch64-static", "host_arch": "x86_64", "arch": "aarch64"}
    dev = device("rpi5", "pi-emu", arch="aarch64", emulation=emu)
    recs = [
        record(fmt=f, p90=p, map_=m, dev=dev, root=str(tmp_path))
        for f, p, m in (("onnx", 20.0, 0.3), ("ncnn", 15.0, 0.29))
    ]
    assert all(schema_errors(r) == [] for r in recs)
    sel = select(recs)
    assert sel.selected is not None
    assert sel.reason.startswith(
        "Measured under emulation (qemu-aarch64-static on x86_64): the latencies are not"
    )
    assert sel.to_dict()["emulated"] == "qemu-aarch64-static on x86_64"
    native = select([record(fmt="onnx", root=str(tmp_path))])
    assert native.emulated is None and "emulation" not in native.reason
    out = report(recs, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "**emulated** by qemu-aarch64-static on x86_64" in md and "latency is not the device's" in md
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Measured under emulation" in html and "emulated (qemu-aarch64-static)" in html
    assert out is not None


# --------------------------------------------------------------------- the emulated Raspberry Pi
@pytest.fixture(scope="module")
def pi(tmp_path_factory):
    t = time.perf_counter()
    device = start_emulated_pi(tmp_path_factory.mktemp("pi"))
    _record_timing("fixture_s", time.perf_counter() - t)
    yield device
    if device.server.proc.poll() is None:
        device.server.proc.terminate()
        device.server.proc.wait(10)


@pytest.fixture(scope="module")
def pi_setup(pi, tmp_path_factory):
    """``edgeyolo device setup`` from an empty work folder: edgeyolo's own code builds the aarch64 wheelhouse,
    copies it over SFTP and installs it with no index."""
    workdir = tmp_path_factory.mktemp("pi-work")
    assert not any(workdir.iterdir())
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["device", "setup", "--host", pi.host, *pi.ssh_args(), "--profile", "rpi5",
                                    "--base-python", pi.python3, "--remote-workdir", str(workdir),
                                    "--wheelhouse", str(WHEELHOUSE)])  # fmt: skip
    seconds = time.perf_counter() - t
    assert res.exit_code == 0, res.output
    _record_timing("device_setup_s", seconds)
    return workdir, workdir / "venv" / "bin" / "python", res.output


def _elf_machine(path: Path) -> int:
    with open(path, "rb") as f:
        return int.from_bytes(f.read(20)[18:20], "little")


def test_device_setup_installs_arm64_wheels(pi, pi_setup, monkeypatch):
    workdir, python, output = pi_setup
    assert "✅" in output and "(aarch64, Python 3.11" in output and "glibc 2.36" in output
    assert f"--remote-python '{python}'" in output
    assert "emulated: qemu-aarch64-static on x86_64" in output
    marker = json.loads((workdir / "venv" / "edgeyolo-setup.json").read_text())
    assert marker["machine"] == "aarch64" and marker["runtimes"] == ["onnxruntime", "openvino", "ncnn"]
    site = workdir / "venv" / "lib" / "python3.11" / "site-packages"
    for lib in ("onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-aarch64-linux-gnu.so",
                "numpy/_core/_multiarray_umath.cpython-311-aarch64-linux-gnu.so", "cv2/cv2.abi3.so"):  # fmt: skip
        assert _elf_machine(site / lib) == EM_AARCH64, lib
    assert not (site / "torch").exists() and not (site / "onnx").exists() and not (site / "nncf").exists()
    wheels = sorted(p.name for p in (workdir / "wheelhouse").rglob("*.whl"))
    assert any(w.startswith("edgeyolo-") for w in wheels) and any("aarch64" in w for w in wheels)
    # venv is a link to the venv made by this install; nothing else of the install is left next to it.
    assert os.readlink(workdir / "venv") == "venv.1" and _venvs(workdir) == ["venv", "venv.1"]

    # Idempotent: the same wheelhouse again leaves the device alone (nothing copied, nothing installed). The
    # rerun gets the edgeyolo wheel the device has: this checkout may be edited in between, and the update of
    # that wheel alone is test_device_setup_updates_only_what_changed.
    own = next(w for w in marker["wheels"] if w.startswith("edgeyolo-"))
    _pin_own_wheel(monkeypatch, workdir, own, marker["wheels"][own])
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["device", "setup", "--host", pi.host, *pi.ssh_args(), "--profile", "rpi5",
                                    "--base-python", pi.python3, "--remote-workdir", str(workdir),
                                    "--wheelhouse", str(WHEELHOUSE)])  # fmt: skip
    assert res.exit_code == 0, res.output
    _record_timing("device_setup_again_s", time.perf_counter() - t)
    again = json.loads((workdir / "venv" / "edgeyolo-setup.json").read_text())
    assert "already set up" in res.output and "copying" not in res.output, res.output
    assert again == marker and os.readlink(workdir / "venv") == "venv.1"


def _venvs(workdir: Path) -> list[str]:
    """The venv link and the venv folders in a device's work folder."""
    return sorted(p.name for p in workdir.iterdir() if p.name == "venv" or p.name.startswith("venv."))


def _pin_own_wheel(monkeypatch, workdir: Path, name: str, sha: str) -> None:
    """This process's device setup builds no edgeyolo wheel: it takes the one already on the device (the device
    is this machine's filesystem), the bytes its venv was installed from."""
    import hashlib

    import edgeyolo.device.wheelhouse as wh

    installed = next((workdir / "wheelhouse").rglob(name))
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == sha

    def same(dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(installed, dest / name)
        return dest / name

    monkeypatch.setattr(wh, "build_own_wheel", same)


def test_wheelhouse_is_reused_without_an_index(pi_setup, monkeypatch):
    """With the wheels already here, a host without internet still sets devices up (the same closure)."""
    workdir, _, _ = pi_setup
    marker = json.loads((workdir / "venv" / "edgeyolo-setup.json").read_text())
    _no_index(monkeypatch)
    pi = DevicePlatform("aarch64", marker["python"], "cpython", ("glibc", "2.36"))
    wheels = build_wheelhouse(pi, marker["runtimes"], WHEELHOUSE)
    assert {p.name for p in wheels.values()} == set(marker["wheels"])


@pytest.mark.slow  # 30 s under emulation; the first setup and the "left alone" rerun are in the default run
def test_device_setup_updates_only_what_changed(pi, pi_setup):
    """A device whose edgeyolo is another build of the same version (as after an update here): only edgeyolo's
    wheel is copied and installed, into the same venv, and the device checks out again."""
    workdir, python, _ = pi_setup
    path = workdir / "venv" / "edgeyolo-setup.json"
    marker = json.loads(path.read_text())
    own = next(w for w in marker["wheels"] if w.startswith("edgeyolo-"))
    path.write_text(json.dumps({**marker, "wheels": {**marker["wheels"], own: "0" * 64}}))  # an older build
    numpy_before = next((workdir / "venv" / "lib" / "python3.11" / "site-packages").glob("numpy-*.dist-info"))
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["device", "setup", "--host", pi.host, *pi.ssh_args(), "--profile", "rpi5",
                                    "--base-python", pi.python3, "--remote-workdir", str(workdir),
                                    "--wheelhouse", str(WHEELHOUSE)])  # fmt: skip
    _record_timing("device_setup_update_s", time.perf_counter() - t)
    assert res.exit_code == 0, res.output
    assert (
        "copying 1 of" in res.output
        and "installing edgeyolo into" in res.output
        and "making" not in res.output
    )
    assert numpy_before.is_dir()  # the rest of the venv stayed as it was
    assert json.loads(path.read_text())["wheels"][own] != "0" * 64


def _pi_device(pi, workdir: Path) -> Device:
    return Device("pi", Host(pi.user, "127.0.0.1", pi.server.port), key_file=pi.server.key, python=pi.python3,
                  workdir=str(workdir))  # fmt: skip


def _agent_info(python: Path) -> dict:
    """The benchmark agent's info from the device's venv Python, started as bench starts it (through the link)."""
    r = subprocess.run([str(python), "-m", "edgeyolo.bench.agent", "info"], capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _working(workdir: Path, python: Path, link: str, marker: str) -> None:
    """The venv the device had: the same link, marker and folders, and its edgeyolo and runtimes still import."""
    from edgeyolo._version import __version__

    assert os.readlink(workdir / "venv") == link and _venvs(workdir) == ["venv", link]
    assert (workdir / "venv" / "edgeyolo-setup.json").read_text() == marker
    info = _agent_info(python)
    assert info["edgeyolo"] == __version__ and info["executable"] == str(python)
    assert all(info["runtimes"][r] for r in json.loads(marker)["runtimes"]), info


def _offline_reinstall(monkeypatch, workdir):
    """The device's current venv (link target, setup marker text and its parsed content), with setup kept off
    the package index and edgeyolo's own wheel pinned to the one already installed there."""
    link, marker = os.readlink(workdir / "venv"), (workdir / "venv" / "edgeyolo-setup.json").read_text()
    m = json.loads(marker)
    _no_index(monkeypatch)
    _pin_own_wheel(
        monkeypatch, workdir, *next((w, h) for w, h in m["wheels"].items() if w.startswith("edgeyolo-"))
    )
    return link, marker, m


def test_failed_install_leaves_the_working_venv(pi, pi_setup, monkeypatch):
    """A fresh install whose pip fails (here: a wheelhouse without numpy, which edgeyolo needs) goes into a new
    folder: the device keeps the venv it had, working, and the new folder is removed."""
    import edgeyolo.device.setup as setup

    workdir, python, _ = pi_setup
    link, marker, m = _offline_reinstall(monkeypatch, workdir)
    wheels = build_wheelhouse(DevicePlatform("aarch64", m["python"], "cpython", ("glibc", "2.36")), m["runtimes"],
                              WHEELHOUSE)  # fmt: skip
    monkeypatch.setattr(
        setup, "build_wheelhouse", lambda *a, **k: {n: w for n, w in wheels.items() if n != "numpy"}
    )
    with pytest.raises(SetupError, match="pip install failed: ERROR: In --require-hashes mode"):
        setup_device(SetupConfig(_pi_device(pi, workdir), profile=load_profile("rpi5"), base_python=pi.python3,
                                 wheelhouse=WHEELHOUSE), RemoteOptions(known_hosts=pi.server.known_hosts))  # fmt: skip
    _working(workdir, python, link, marker)


def test_timed_out_install_is_stopped_on_the_device(pi, pi_setup, monkeypatch):
    """A fresh install past its time limit: pip's whole process group is ended on the device (nothing of it
    runs on), the new folder is removed, and the venv the device had still works."""
    from test_remote import _processes_with

    import edgeyolo.device.setup as setup

    workdir, python, _ = pi_setup
    link, marker, m = _offline_reinstall(monkeypatch, workdir)
    monkeypatch.setattr(
        setup, "_read_marker", lambda s, path: None
    )  # as if the venv were another: a fresh one
    monkeypatch.setattr(setup, "INSTALL_TIMEOUT_S", 4.0)  # pip of 30-odd wheels takes ~20 s under emulation
    started = time.monotonic()
    with pytest.raises(SetupError, match="pip install did not finish within 4 s; stopped it there"):
        setup_device(SetupConfig(_pi_device(pi, workdir), profile=load_profile("rpi5"), base_python=pi.python3,
                                 wheelhouse=WHEELHOUSE), RemoteOptions(known_hosts=pi.server.known_hosts))  # fmt: skip
    assert time.monotonic() - started < 4.0 + setup.GRACE_S  # the agent stopped it, not this side's grace
    token = str(workdir / "wheelhouse")  # in the command lines of pip and of the agent that ran it
    deadline = time.monotonic() + 15  # SIGTERM reaches pip under qemu-user within a moment
    while _processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with(token) == []
    _working(workdir, python, link, marker)


def test_venv_link_switch_and_an_older_real_venv(tmp_path):
    """The link switch on the device, run here: an older edgeyolo's venv (a real folder) and leftovers of an
    interrupted install are cleared; a venv used through the link runs in its folder (Python finds pyvenv.cfg
    next to the folder it was started from), its console scripts keep working."""
    from edgeyolo.device.setup import _PREPARE, _SWITCH

    def py(code: str, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
        ).stdout

    link = tmp_path / "venv"
    (link / "bin").mkdir(parents=True)  # made by an older edgeyolo: a real folder
    (tmp_path / "venv.3").mkdir()  # an install that was interrupted
    (tmp_path / "venv.link").symlink_to("venv.3")  # a switch that was interrupted
    (tmp_path / "venv-notes").mkdir()  # not ours: left alone
    new = json.loads(py(_PREPARE, str(link)))["new"]
    assert new == str(tmp_path / "venv.4") and _venvs(tmp_path) == ["venv"]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", new], check=True)
    py(_SWITCH, str(link), new)
    assert os.readlink(link) == "venv.4" and _venvs(tmp_path) == ["venv", "venv.4"]
    assert (tmp_path / "venv-notes").is_dir()
    prefix = subprocess.run([str(link / "bin" / "python"), "-c", "import sys; print(sys.prefix, sys.base_prefix)"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert prefix[0] == str(link) and prefix[1] != prefix[0]  # the venv, through the link
    (Path(new) / "bin" / "hello").write_text(f"#!{new}/bin/python\nprint('hi')\n")  # as pip writes scripts
    (Path(new) / "bin" / "hello").chmod(0o755)
    assert subprocess.run([str(link / "bin" / "hello")], capture_output=True, text=True).stdout == "hi\n"
    again = json.loads(py(_PREPARE, str(link)))["new"]
    assert again == str(tmp_path / "venv.5") and _venvs(tmp_path) == [
        "venv",
        "venv.4",
    ]  # the one in use stays
    Path(again).mkdir()
    py(_SWITCH, str(link), again)
    assert os.readlink(link) == "venv.5" and _venvs(tmp_path) == ["venv", "venv.5"]


@pytest.fixture(scope="module")
def memorized(tmp_path_factory):
    """Weights with confident detections on their val images, and those images (see memorized_model)."""
    t = time.perf_counter()
    weights, data = memorized_model(tmp_path_factory.mktemp("memorized"))
    _record_timing("memorized_model_s", time.perf_counter() - t)
    return weights, data


@pytest.fixture(scope="module")
def pi_artifacts(tmp_path_factory, memorized) -> dict[str, Path]:
    """The FP32 ONNX, NCNN and OpenVINO artifacts of the memorized model, exported here (x86) by edgeyolo."""
    from edgeyolo.export import ExportConfig, export

    weights, data = memorized
    targets = tuple(
        TargetSpec(f, "fp32", r)
        for f, r in (("onnx", "onnxruntime"), ("ncnn", "ncnn"), ("openvino", "openvino"))
    )
    r = export(ExportConfig(profile=load_profile("rpi5"), weights=weights, out=tmp_path_factory.mktemp("pi-arts"),
                            imgsz=(TINY,), targets=targets, data=data))  # fmt: skip
    assert [i.status for i in r.items] == ["ok"] * 3, [i.reason for i in r.items]
    return {i.target.format: i.artifact for i in r.items}


@pytest.fixture(scope="module")
def pi_bench(pi, pi_setup, pi_artifacts, memorized, tmp_path_factory):
    """``bench --host`` of every artifact on the emulated Pi, and the same measurement here."""
    from edgeyolo.bench import BenchConfig, benchmark

    workdir, python, _ = pi_setup
    _, data = memorized
    out = tmp_path_factory.mktemp("pi-bench")
    arts = [str(pi_artifacts[f]) for f in ("onnx", "ncnn", "openvino")]
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["bench", "--profile", "rpi5", *arts, "--data", str(data), "--host", pi.host,
                                    *pi.ssh_args(), "--remote-python", str(python), "--remote-workdir", str(workdir),
                                    "--out", str(out / "arm64.jsonl"), *EMU_BENCH])  # fmt: skip
    _record_timing("bench_arm64_s", time.perf_counter() - t)
    assert res.exit_code == 0, res.output
    here = benchmark(BenchConfig(profile=load_profile("rpi5"), artifacts=tuple(Path(a) for a in arts), data=data,
                                 out=out / "x86.jsonl", iterations=2, warmup=0, threads=1, rounds=1))  # fmt: skip
    by_format = lambda recs: {r["candidate"]["format"]: r for r in recs}  # noqa: E731
    return by_format(read_records(out / "arm64.jsonl")), by_format(here.records), out


@pytest.mark.parametrize("fmt", ["onnx", "ncnn", "openvino"])
def test_bench_on_arm64_matches_x86(pi_bench, fmt):
    """The same artifact's mAP measured on arm64 (aarch64 wheels, NEON kernels) and here (x86) agree within
    0.005; the record says where and how it was measured."""
    arm, x86, _ = pi_bench
    a, x = arm[fmt], x86[fmt]
    assert a["status"] == "ok", a.get("message")
    assert schema_errors(a) == []
    assert a["device"]["arch"] == "aarch64" and x["device"]["arch"] == "x86_64"
    assert a["device"]["emulation"]["emulator"] == "qemu-aarch64-static"
    assert a["device"]["emulation"]["host_arch"] == "x86_64" and x["device"]["emulation"] is None
    assert a["candidate"]["sha256"] == x["candidate"]["sha256"]  # the same artifact
    assert a["accuracy"]["images"] == x["accuracy"]["images"] == MODEL_RECIPE["images"]
    assert x["accuracy"]["map50_95"] > 0.2, x["accuracy"]  # a model whose mAP can move
    assert abs(a["accuracy"]["map50_95"] - x["accuracy"]["map50_95"]) <= MAP_TOL, (
        a["accuracy"],
        x["accuracy"],
    )
    assert abs(a["accuracy"]["map50"] - x["accuracy"]["map50"]) <= MAP_TOL
    # An FP32 artifact is computed in FP32 on arm64 too, where both runtimes default to FP16 arithmetic on a
    # CPU that has it (the Cortex-A76 here, as on a Pi 5): a mAP equal to x86's alone could hide that.
    settings = a["settings"]["runtime"]
    if fmt == "openvino":
        assert settings["INFERENCE_PRECISION_HINT"] == "f32", settings
    if fmt == "ncnn":
        assert settings["cpu_fp16_arithmetic"] is True and settings["use_fp16_arithmetic"] is False, settings


def test_ncnn_map_equals_onnx_on_a_model_whose_map_can_move(pi_bench):
    """NCNN FP32 vs ONNX FP32 of the same weights, measured here: within 0.01 mAP50-95. On the memorized model
    (the session's tiny model scores ~0.004, where any artifact would pass)."""
    _, x86, _ = pi_bench
    onnx, ncnn = x86["onnx"]["accuracy"], x86["ncnn"]["accuracy"]
    assert onnx["map50_95"] > 0.2, onnx
    assert abs(ncnn["map50_95"] - onnx["map50_95"]) <= 0.01 and abs(ncnn["map50"] - onnx["map50"]) <= 0.01


def test_select_and_report_on_arm64_records_say_emulated(pi_bench, runner):
    _, _, out = pi_bench
    res = runner.invoke(main, ["select", str(out / "arm64.jsonl")])
    assert "Measured under emulation (qemu-aarch64-static on x86_64)" in res.output, res.output
    res = runner.invoke(main, ["report", str(out / "arm64.jsonl"), "--out", str(out / "report")])
    assert res.exit_code == 0, res.output
    assert "**emulated** by qemu-aarch64-static on x86_64" in (out / "report" / "report.md").read_text()


def _detections(path: Path) -> dict[str, list[dict]]:
    """detections.json by image stem (the device's copy of the val split prefixes its names with an index)."""
    frames = json.loads(path.read_text())["frames"]
    return {Path(f["source"]).stem.split("_", 1)[-1] if Path(f["source"]).stem[:6].isdigit() else Path(f["source"]).stem:
            f["detections"] for f in frames}  # fmt: skip


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


PREDICT_CONF = 0.05  # 20-odd detections of the memorized model on its 8 images
SCORE_TOL = 2e-3


def _unmatched(dets: list[dict], others: list[dict]) -> list[dict]:
    """Detections clear of the threshold (by more than the score tolerance) that have no counterpart in
    ``others``: the same class, IoU >= 0.99 and a score within the tolerance."""
    return [d for d in dets if d["score"] >= PREDICT_CONF + SCORE_TOL and not any(
        o["class_id"] == d["class_id"] and _iou(o["box"], d["box"]) >= 0.99 and abs(o["score"] - d["score"]) <= SCORE_TOL
        for o in others)]  # fmt: skip


# NCNN's arm64 accuracy is checked by the bench test in the default run; its predict round trip is slow.
@pytest.mark.parametrize("fmt", ["onnx", pytest.param("ncnn", marks=pytest.mark.slow)])
def test_predict_on_arm64_matches_x86(pi, pi_setup, pi_bench, memorized, tmp_path, fmt):
    """``edgeyolo predict`` run on the device (over SSH, on the artifact and images bench copied there) gives
    this machine's detections: same boxes (IoU >= 0.99), classes and scores (within 2e-3)."""
    from edgeyolo.predict import PredictConfig, predict

    workdir, python, _ = pi_setup
    arm, _, _ = pi_bench
    rec = arm[fmt]
    remote_art = rec["candidate"]["remote_artifact"]
    remote_images = Path(rec["accuracy"]["remote_dataset"]).parent / "images" / "val"
    remote_out = str(workdir / f"predict-{fmt}")
    s = Session(Device("pi", Host(pi.user, "127.0.0.1", pi.server.port), key_file=pi.server.key, python=str(python),
                       workdir=str(workdir)), RemoteOptions(known_hosts=pi.server.known_hosts), log=lambda m: None)  # fmt: skip
    try:
        t = time.perf_counter()
        code, output = s.run([str(python), "-m", "edgeyolo", "predict", remote_art, str(remote_images), "--conf",
                              str(PREDICT_CONF), "--threads", "1", "--no-save", "--out", remote_out], timeout_s=900)  # fmt: skip
        _record_timing(f"predict_arm64_{fmt}_s", time.perf_counter() - t)
        assert code == 0, output
        with s.sftp.open(f"{remote_out}/detections.json") as f:
            (tmp_path / "arm64.json").write_bytes(f.read())
    finally:
        s.close()
    _, data = memorized
    predict(PredictConfig(artifact=Path(rec["candidate"]["artifact"]), source=data.parent / "images" / "val",
                          out=tmp_path / "x86", conf=PREDICT_CONF, threads=1, save_images=False))  # fmt: skip
    arm_dets, x86_dets = (
        _detections(tmp_path / "arm64.json"),
        _detections(tmp_path / "x86" / "detections.json"),
    )
    assert sorted(arm_dets) == sorted(x86_dets) and len(arm_dets) == MODEL_RECIPE["images"]
    assert sum(len(d) for d in x86_dets.values()) >= 2 * MODEL_RECIPE["images"]  # something to compare
    for image, want in x86_dets.items():
        got = arm_dets[image]
        assert _unmatched(want, got) == [], (image, "on x86 only", got)
        assert _unmatched(got, want) == [], (image, "on arm64 only", want)
