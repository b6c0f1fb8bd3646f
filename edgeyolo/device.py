"""``edgeyolo device setup``: install edgeyolo's torch-free runtime on a device over SSH, with no internet there.

1. Ask the device (over SSH, with its own Python) for its architecture, Python version and C library.
2. Build a wheelhouse here for exactly that platform: edgeyolo's own wheel, made from the installed package
   (edgeyolo is not on a package index), plus ``pip download --platform ... --python-version ...
   --only-binary=:all:`` of its dependencies and the runtime package of each runtime the device's profile
   needs (``onnxruntime`` of the ``onnx`` extra, ``openvino``, ``ncnn``; not the export-time packages those
   extras also carry: onnx, onnxslim, nncf) and pip itself. Kept per platform, so a second device of the same
   kind, or a rerun, downloads nothing.
3. Copy it over SFTP into the device's work folder (files already there with the same size are kept).
4. Install it there into a virtual environment, ``<workdir>/venv``, with no index: ``--no-index
   --find-links`` and ``--require-hashes`` (every wheel pinned to its sha256). The venv is made
   ``--without-pip`` and pip runs from its wheel in the wheelhouse, so Debian's ``python3-venv`` (ensurepip) is
   not needed either. ``--no-compile``: byte-compiling every module at install is two thirds of pip's time on a
   slow CPU, and most of them (matplotlib's, OpenVINO's tools) are never imported by the runtime; Python
   compiles what it imports on first use (the venv is the user's, so the cache is written).
5. Verify with the benchmark agent's ``info`` (edgeyolo's version, each runtime imports).

Idempotent: a device whose venv holds exactly this wheelhouse (same files, same checksums) and still passes the
check is left alone; anything else gets a fresh venv; ``force`` reinstalls. Host keys, the work folder rules and
errors are those of remote benchmarking (:mod:`edgeyolo.bench.remote`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import posixpath
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo._io import sha256_file
from edgeyolo._version import __version__
from edgeyolo.bench.agent import RUNTIME_PACKAGES
from edgeyolo.bench.remote import Device, RemoteError, RemoteOptions, _Expired, _Session, _transport_errors
from edgeyolo.errors import ConfigError, EdgeYoloError
from edgeyolo.profiles import DeviceProfile

Log = Callable[[str], None]
VENV = "venv"  # under the work folder
MARKER = "edgeyolo-setup.json"  # in the venv: what was installed, from which wheels
INSTALL_TIMEOUT_S = 3600.0  # pip on a slow board's SD card (or under emulation)
# Runtimes that pip cannot put on a device: TensorRT comes with JetPack (apt), matched to its CUDA.
NOT_FROM_PIP = {
    "tensorrt": "TensorRT comes with JetPack on a Jetson (apt install python3-libnvinfer), not from PyPI"
}

# Run by the device's own Python (edgeyolo is not there yet): what to build the wheelhouse for.
_PROBE = (
    "import json,platform,sys;"
    "print(json.dumps({'machine':platform.machine(),'python':platform.python_version(),"
    "'implementation':sys.implementation.name,'libc':list(platform.libc_ver()),'executable':sys.executable}))"
)
# Run by the venv's Python after the install: the agent's info plus whether an emulator runs it.
_VERIFY = (
    "import json;from edgeyolo.bench.agent import info;from edgeyolo.bench.environment import emulation;"
    "print(json.dumps({**info(),'emulation':emulation()}))"
)


class SetupError(EdgeYoloError, RuntimeError):
    """Installing edgeyolo on a device failed (the message names the device and the fix)."""


@dataclass(frozen=True)
class DevicePlatform:
    """What a wheel must match to install on the device."""

    machine: str  # platform.machine(): aarch64, x86_64, armv7l
    python: str  # platform.python_version(): 3.11.2
    implementation: str = "cpython"
    libc: tuple[str, str] = ("glibc", "")  # platform.libc_ver()

    @property
    def python_version(self) -> str:
        return ".".join(self.python.split(".")[:2])

    @property
    def glibc_minor(self) -> int:
        return int(self.libc[1].split(".")[1])

    def platform_tags(self) -> list[str]:
        """manylinux tags from the device's glibc down to the oldest (what pip on the device would accept)."""
        arch, minor = self.machine, self.glibc_minor
        oldest = 5 if arch in ("x86_64", "i686") else 17  # manylinux1 (x86) / manylinux2014 (the others)
        tags = [f"manylinux_2_{m}_{arch}" for m in range(minor, oldest - 1, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        return tags + [f"{name}_{arch}" for m, name in legacy.items() if oldest <= m <= minor]

    @property
    def key(self) -> str:
        """Names this platform's wheelhouse, e.g. ``cp311-manylinux_2_36_aarch64``."""
        return f"cp{self.python_version.replace('.', '')}-manylinux_2_{self.glibc_minor}_{self.machine}"

    def __str__(self) -> str:
        return f"{self.machine}, Python {self.python}, {self.libc[0]} {self.libc[1]}"


@dataclass(frozen=True)
class SetupConfig:
    """What to install where. ``runtimes``: names (onnxruntime, openvino, ncnn), or None for those of
    ``profile``'s targets (default: the device's own profile)."""

    device: Device
    runtimes: tuple[str, ...] | None = None
    profile: DeviceProfile | None = None
    base_python: str = "python3"  # the device's Python the venv is made from (its version decides the wheels)
    wheelhouse: Path | None = None  # here; default <EDGEYOLO_HOME>/wheelhouse/<platform>
    force: bool = False  # copy and install everything again even when the device already has it


@dataclass
class SetupResult:
    device: str  # the device's name
    host: str
    platform: DevicePlatform
    python: str  # the venv's Python on the device: pass it as --remote-python / devices.yaml python:
    packages: dict[str, str]  # name -> version installed
    runtimes: dict[str, str | None]  # runtime -> version, as the agent reports it
    wheelhouse: Path  # here
    changed: bool  # False: the device already had exactly this (nothing copied or installed)
    emulation: dict | None = None  # the device runs under an emulator (qemu-user): its latency means nothing
    skipped: dict[str, str] = field(default_factory=dict)  # runtime -> why it was not installed
    seconds: float = 0.0


def setup_runtimes(cfg: SetupConfig) -> tuple[tuple[str, ...], dict[str, str]]:
    """The runtimes to install (given, or the profile's targets') and the profile runtimes left out, with why."""
    if cfg.runtimes is not None:
        wanted, skipped = tuple(dict.fromkeys(cfg.runtimes)), {}
        for r in wanted:
            if r not in RUNTIME_PACKAGES:
                raise ConfigError(f"--runtimes: unknown runtime '{r}'; known: {', '.join(RUNTIME_PACKAGES)}")
            if r in NOT_FROM_PIP:
                raise ConfigError(f"--runtimes: {r} cannot be installed by device setup: {NOT_FROM_PIP[r]}")
        if not wanted:
            raise ConfigError("--runtimes: name at least one runtime, e.g. --runtimes onnxruntime,ncnn")
        return wanted, skipped
    profile = cfg.profile or cfg.device.profile
    if profile is None:
        raise ConfigError(
            "device setup: no runtimes to install; pass --profile (its targets name them) or --runtimes "
            "onnxruntime,ncnn, or give the device a profile: in devices.yaml"
        )
    names = tuple(dict.fromkeys(t.runtime for t in profile.targets))
    skipped = {r: NOT_FROM_PIP[r] for r in names if r in NOT_FROM_PIP}
    wanted = tuple(r for r in names if r not in skipped)
    if not wanted:
        raise ConfigError(f"device setup: profile {profile.name} needs only {', '.join(skipped)}, which device "
                          f"setup cannot install ({'; '.join(skipped.values())})")  # fmt: skip
    return wanted, skipped


# ---------------------------------------------------------------------------------------- the wheelhouse
def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files() -> list[tuple[str, Path]]:
    """(path in the wheel, file here) of the installed edgeyolo package, without bytecode."""
    import edgeyolo

    root = Path(edgeyolo.__file__).resolve().parent
    files = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root.parent).as_posix()
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            files.append((rel, p))
    return files


def _distribution() -> Any:
    """The installed edgeyolo's metadata: its dist-info (an ``edgeyolo.egg-info`` left in a source folder on
    sys.path may be older)."""
    from importlib import metadata

    dists = list(metadata.distributions(name="edgeyolo"))
    if not dists:
        raise SetupError("edgeyolo is not installed here (no package metadata); install it (pip install -e . or pip "
                         "install edgeyolo) and run device setup again")  # fmt: skip
    return next((d for d in dists if d.read_text("METADATA")), dists[0])


def build_own_wheel(dest: Path) -> Path:
    """edgeyolo's wheel made from the installed package (an editable install too) and its metadata; the same
    files always give the same bytes (fixed timestamps, sorted), so its checksum says whether it changed."""
    dist = _distribution()
    version = dist.version
    if version != __version__:
        raise SetupError(f"the installed edgeyolo metadata says {version}, the package {__version__}; reinstall "
                         "edgeyolo here (pip install -e . or pip install edgeyolo) and run device setup again")  # fmt: skip
    info = f"edgeyolo-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [(rel, p.read_bytes()) for rel, p in _package_files()]
    meta = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    if not meta:
        raise SetupError(
            "the installed edgeyolo has no METADATA; reinstall it (pip install -e . or pip install edgeyolo)"
        )
    entries.append((f"{info}/METADATA", meta.encode()))
    if ep := dist.read_text("entry_points.txt"):
        entries.append((f"{info}/entry_points.txt", ep.encode()))
    wheel_meta = (
        "Wheel-Version: 1.0\nGenerator: edgeyolo device setup\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entries.append((f"{info}/WHEEL", wheel_meta.encode()))
    record = (
        "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries) + f"{info}/RECORD,,\n"
    )
    entries.append((f"{info}/RECORD", record.encode()))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"edgeyolo-{version}-py3-none-any.whl"
    fd, tmp = tempfile.mkstemp(prefix=".edgeyolo-", suffix=".whl", dir=dest)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries:
                zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                zi.external_attr = 0o644 << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def runtime_requirements(runtimes: Sequence[str]) -> list[str]:
    """Each runtime's package with the version range edgeyolo's extra gives it (``onnxruntime>=1.18``)."""
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in _distribution().requires or []]
    out = []
    for runtime in runtimes:
        module, extra = RUNTIME_PACKAGES[runtime]
        match = [
            r for r in reqs if r.name.lower() == module and r.marker and r.marker.evaluate({"extra": extra})
        ]
        out.append(f"{module}{match[0].specifier}" if match else module)
    return out


def _pip(args: list[str], timeout_s: float = 1800) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        verb = next(a for a in args if not a.startswith("-"))
        raise SetupError(f"pip {verb} took longer than {timeout_s:g} s; check this machine's network and pip "
                         "configuration") from None  # fmt: skip


def _last_error(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1][:400]


def build_wheelhouse(platform: DevicePlatform, runtimes: Sequence[str], dest: Path,
                     log: Log = lambda m: None) -> dict[str, Path]:  # fmt: skip
    """Every wheel edgeyolo and these runtimes need on ``platform``, in ``dest``; returns {name: wheel}.

    Wheels already in ``dest`` are not downloaded again; when the package index cannot be reached, the
    wheelhouse is used as it is if it already holds everything.
    """
    own = build_own_wheel(dest)
    target = ["--only-binary=:all:", "--python-version", platform.python_version, "--implementation", "cp",
              *(x for t in platform.platform_tags() for x in ("--platform", t))]  # fmt: skip
    reqs = [str(own), *runtime_requirements(runtimes), "pip"]
    log(f"wheelhouse {dest}: resolving {', '.join(['edgeyolo', *reqs[1:]])} for {platform}")
    got = _pip(["download", "--disable-pip-version-check", "--dest", str(dest), "--find-links", str(dest),
                *target, *reqs])  # fmt: skip
    offline = got.returncode != 0
    with tempfile.TemporaryDirectory(prefix="edgeyolo-resolve-") as tmp:
        report = Path(tmp) / "report.json"
        # What pip on the device will install from this wheelhouse (no index): the exact closure. --isolated:
        # no find-links or index from this machine's pip configuration, the wheelhouse alone.
        r = _pip(["--isolated", "install", "--disable-pip-version-check", "--dry-run", "--ignore-installed", "--quiet",
                  "--no-index", "--find-links", str(dest), "--target", str(Path(tmp) / "none"), "--report",
                  str(report), *target, *reqs], timeout_s=600)  # fmt: skip
        if r.returncode != 0:
            why = _last_error(got.stderr + got.stdout) if offline else _last_error(r.stderr + r.stdout)
            raise SetupError(f"cannot build the wheelhouse for {platform}: {why}; this machine needs PyPI (or your "
                             f"pip index) once, or put the missing wheels into {dest}")  # fmt: skip
        items = json.loads(report.read_text())["install"]
    if offline:
        log(
            f"the package index was not reachable ({_last_error(got.stderr)}); using the wheels already in {dest}"
        )
    wheels = {}
    for item in items:
        url = item["download_info"]["url"]
        parsed = urllib.parse.urlparse(url)
        path = Path(urllib.parse.unquote(parsed.path))
        if parsed.scheme != "file" or not path.is_file() or path.parent.resolve() != dest.resolve():
            raise SetupError(f"pip resolved {item['metadata']['name']} to {url}, not a wheel in {dest}")
        wheels[item["metadata"]["name"]] = path
    return wheels


def default_wheelhouse(platform: DevicePlatform) -> Path:
    """``<EDGEYOLO_HOME>/wheelhouse/<platform>`` (EDGEYOLO_HOME defaults to ~/.cache/edgeyolo)."""
    home = Path(os.environ.get("EDGEYOLO_HOME", Path.home() / ".cache" / "edgeyolo")).expanduser()
    return home / "wheelhouse" / platform.key


# ------------------------------------------------------------------------------------------ the device
def _remote_json(s: _Session, argv: list[str], timeout_s: float, what: str) -> tuple[int, Any, str]:
    try:
        code, out = s.run(argv, timeout_s)
    except _Expired:
        raise SetupError(f"{s.device.host}: {what} did not finish within {timeout_s:g} s") from None
    try:
        return code, json.loads(out.strip().splitlines()[-1]), out
    except (json.JSONDecodeError, IndexError):
        return code, None, out


def probe_platform(s: _Session, python: str) -> DevicePlatform:
    """Ask the device's Python what it is."""
    code, got, out = _remote_json(s, [python, "-c", _PROBE], 300, f"{python} -c ...")
    host = s.device.host
    if code != 0 or not isinstance(got, dict):
        last = _last_error(out) if out.strip() else f"exit code {code}"
        if code == 127 or "not found" in out:
            raise SetupError(f"{host}: no Python at '{python}' ({last}); install python3 there or pass --base-python "
                             "with the device's Python")  # fmt: skip
        raise SetupError(f"{host}: {python} could not describe the device ({last}); pass --base-python with a "
                         "working Python 3.10+")  # fmt: skip
    libc = tuple(got.get("libc") or ("", ""))
    plat = DevicePlatform(machine=got["machine"], python=got["python"], implementation=got["implementation"],
                          libc=(libc[0], libc[1]))  # fmt: skip
    if plat.implementation != "cpython":
        raise SetupError(f"{host}: {python} is {plat.implementation}; edgeyolo's wheels need CPython 3.10+ "
                         "(pass --base-python)")  # fmt: skip
    if tuple(int(x) for x in plat.python_version.split(".")) < (3, 10):
        raise SetupError(f"{host}: {python} is Python {plat.python}; edgeyolo needs 3.10 or newer: install it "
                         "there and pass --base-python (e.g. python3.11)")  # fmt: skip
    if plat.libc[0] != "glibc" or not re.fullmatch(r"\d+\.\d+", plat.libc[1]):
        raise SetupError(f"{host}: {python} runs on '{plat.libc[0] or 'an unknown C library'}', not glibc; the "
                         "runtime wheels on PyPI (manylinux) need a glibc Linux such as Raspberry Pi OS or Debian")  # fmt: skip
    return plat


def _read_marker(s: _Session, path: str) -> dict | None:
    try:
        with s.sftp.open(path, "r") as f:
            data = json.loads(f.read().decode())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _import_failure(s: _Session, python: str, module: str) -> str | None:
    """Why ``import module`` fails in the device's ``python`` (its last line and exit code), or None."""
    code, out = s.run([python, "-c", f"import {module}"], 600)
    if code == 0:
        return None
    crash = " (it crashed: killed by a signal)" if code > 128 or code < 0 else f" (exit code {code})"
    return (_last_error(out) if out.strip() else "no output") + crash


def _verify(s: _Session, python: str, runtimes: Sequence[str]) -> dict:
    """The venv's agent info, or SetupError naming what does not work."""
    code, got, out = _remote_json(s, [python, "-c", _VERIFY], 600, "the check of the installed edgeyolo")
    host, fix = (
        s.device.host,
        "leave it out with --runtimes, or check the device's CPU and OS against its requirements",
    )
    if code != 0 or not isinstance(got, dict):
        # A runtime that crashes at import (SIGSEGV, SIGILL) takes the whole check down: name it.
        for r in runtimes:
            why = _import_failure(s, python, RUNTIME_PACKAGES[r][0])
            if why:
                raise SetupError(
                    f"{host}: {RUNTIME_PACKAGES[r][0]} was installed but does not import there: {why}; {fix}"
                )
        raise SetupError(f"{host}: edgeyolo does not start in {python}: {_last_error(out)}; run device setup again "
                         "with --force")  # fmt: skip
    if got.get("edgeyolo") != __version__:
        raise SetupError(f"{host}: {python} has edgeyolo {got.get('edgeyolo')}, expected {__version__}; run device "
                         "setup again with --force")  # fmt: skip
    for r in runtimes:
        if got["runtimes"].get(r) is None:
            why = _import_failure(s, python, RUNTIME_PACKAGES[r][0]) or "the agent could not read its version"
            raise SetupError(
                f"{host}: {RUNTIME_PACKAGES[r][0]} was installed but does not import there: {why}; {fix}"
            )
    return got


def _display(path: str, home: str) -> str:
    """A device path as the user would type it (``~/...`` under the home folder)."""
    return "~" + path[len(home) :] if path == home or path.startswith(home.rstrip("/") + "/") else path


def setup_device(
    cfg: SetupConfig, opts: RemoteOptions | None = None, log: Log = lambda m: None
) -> SetupResult:
    """Install edgeyolo and the runtimes on ``cfg.device`` from a wheelhouse built here; see the module doc."""
    t0 = time.perf_counter()
    opts = opts or RemoteOptions()
    runtimes, skipped = setup_runtimes(cfg)
    for r, why in skipped.items():
        log(f"{r}: not installed ({why})")
    dev = cfg.device
    s = _Session(Device(name=dev.name, host=dev.host, key_file=dev.key_file, python=cfg.base_python,
                        workdir=dev.workdir), opts, log)  # fmt: skip
    try:
        home = s.sftp.normalize(".")
        base = home + cfg.base_python[1:] if cfg.base_python.startswith("~/") else cfg.base_python
        plat = probe_platform(s, base)
        log(f"{plat} ({base})")
        local = Path(cfg.wheelhouse).expanduser() if cfg.wheelhouse else default_wheelhouse(plat)
        wheels = build_wheelhouse(plat, runtimes, local, log)
        shas = {name: sha256_file(p) for name, p in wheels.items()}
        files = {p.name: shas[name] for name, p in wheels.items()}
        versions = {name: _wheel_version(p) for name, p in wheels.items()}
        venv = s.path(VENV)
        python = posixpath.join(venv, "bin", "python")
        marker_path = posixpath.join(venv, MARKER)
        want = {"edgeyolo": __version__, "python": plat.python, "machine": plat.machine, "runtimes": list(runtimes),
                "wheels": files}  # fmt: skip
        have = None if cfg.force else _read_marker(s, marker_path)
        same_base = have is not None and all(have.get(k) == want[k] for k in ("python", "machine"))
        old: dict[str, str] = (have.get("wheels") or {}) if same_base else {}

        def result(got: dict, changed: bool) -> SetupResult:
            return SetupResult(dev.name, str(dev.host), plat, _display(python, home), versions, got["runtimes"],
                               local, changed=changed, emulation=got.get("emulation"), skipped=skipped,
                               seconds=time.perf_counter() - t0)  # fmt: skip

        if same_base and old == files and have.get("runtimes") == want["runtimes"]:
            try:
                got = _verify(s, python, runtimes)
            except SetupError as e:
                log(f"the installed venv fails its check ({e}); installing again")
                old = {}
            else:
                log(f"already set up with this wheelhouse ({len(files)} wheels); nothing to do (--force "
                    "reinstalls)")  # fmt: skip
                return result(got, changed=False)
        # Only new or rebuilt wheels (edgeyolo's own after a code change, another runtime's), nothing dropped:
        # install just those into the venv; anything else (other versions, another Python) gets a fresh venv.
        changed = sorted(name for name, p in wheels.items() if old.get(p.name) != files[p.name])
        incremental = bool(old) and not set(old) - set(files) and len(changed) < len(wheels)
        remote_wh = s.path("wheelhouse", plat.key)
        _upload(s, wheels, remote_wh, old, files, cfg.force, log)
        todo = changed if incremental else sorted(wheels)
        req_lines = [f"{name}=={versions[name]} --hash=sha256:{shas[name]}" for name in todo]
        requirements = posixpath.join(remote_wh, "requirements.txt")
        s.write_text(requirements, "\n".join(req_lines) + "\n")
        pip = [python, posixpath.join(remote_wh, wheels["pip"].name, "pip"), "install", "--no-index", "--find-links",
               remote_wh, "--require-hashes", "--no-compile", "--no-input", "--disable-pip-version-check",
               "--progress-bar", "off"]  # fmt: skip
        if incremental:
            log(f"installing {', '.join(changed) or 'nothing new'} into {venv} with no index")
            only = pip + ["--no-deps", "--force-reinstall", "-r", requirements]
            steps = [(only, "pip install", INSTALL_TIMEOUT_S)] if changed else []
        else:
            log(f"making {venv} and installing {len(wheels)} wheels with no index (this takes a while on "
                "a small board)")  # fmt: skip
            steps = [
                ([base, "-c", "import shutil,sys;shutil.rmtree(sys.argv[1],ignore_errors=True)", venv],
                 "removing the old venv", 600),
                ([base, "-m", "venv", "--without-pip", venv], "making the venv", 600),
                (pip + ["-r", requirements], "pip install", INSTALL_TIMEOUT_S),
            ]  # fmt: skip
        for argv, what, limit in steps:
            t = time.perf_counter()
            try:
                code, out = s.run(argv, limit)
            except _Expired:
                raise SetupError(f"{dev.host}: {what} did not finish within {limit:g} s") from None
            if code != 0:
                damaged = "hash" in out.lower()  # pip's --require-hashes check: a wheel changed on the way
                hint = (
                    "; the copied wheels may be damaged, run device setup again with --force"
                    if damaged
                    else ""
                )
                raise SetupError(f"{dev.host}: {what} failed: {_last_error(out)}{hint}")
            log(f"{what}: {time.perf_counter() - t:.0f} s")
        got = _verify(s, python, runtimes)
        marker = {**want, "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "packages": versions}
        s.write_text(marker_path, json.dumps(marker, indent=1) + "\n")
        return result(got, changed=True)
    finally:
        s.close()


def _wheel_version(path: Path) -> str:
    return path.name.split("-")[1]


def _upload(s: _Session, wheels: dict[str, Path], remote_dir: str, old: dict[str, str], files: dict[str, str],
            force: bool, log: Log) -> None:  # fmt: skip
    """Copy the wheels. A file already there is kept when its size matches and the last install did not record
    another checksum for it (pip checks every wheel's sha256 when it installs); ``force`` copies them all."""
    s.makedirs(remote_dir)
    present = {a.filename: a.st_size for a in s.sftp.listdir_attr(remote_dir)}
    todo = [p for p in wheels.values() if force or present.get(p.name) != p.stat().st_size
            or old.get(p.name, files[p.name]) != files[p.name]]  # fmt: skip
    size = sum(p.stat().st_size for p in todo) / 1e6
    log(f"copying {len(todo)} of {len(wheels)} wheels ({size:.0f} MB) to {remote_dir}")
    s.upload_tree([(p, posixpath.join(remote_dir, p.name)) for p in todo])


def setup_devices(configs: Sequence[SetupConfig], opts: RemoteOptions | None = None,
                  log: Log = lambda m: None) -> list[SetupResult | EdgeYoloError]:  # fmt: skip
    """:func:`setup_device` for each device, one after another (the wheelhouse of a platform is built once);
    a device that fails gives its error and the others go on."""
    out: list[SetupResult | EdgeYoloError] = []
    for cfg in configs:
        try:
            out.append(setup_device(cfg, opts, lambda m, n=cfg.device.name: log(f"[{n}] {m}")))
        except (SetupError, RemoteError, ConfigError) as e:
            out.append(e)
        except _transport_errors() as e:  # the connection dropped mid-setup
            out.append(
                SetupError(
                    f"{cfg.device.host}: connection lost during setup ({type(e).__name__}: {e}); "
                    "run device setup again"
                )
            )
    return out


__all__ = ["DevicePlatform", "SetupConfig", "SetupError", "SetupResult", "build_own_wheel", "build_wheelhouse",
           "setup_device", "setup_devices"]  # fmt: skip
