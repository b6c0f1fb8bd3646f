"""The wheelhouse for a device's platform, built here: edgeyolo's own wheel (made from the installed package;
edgeyolo is not on a package index) plus ``pip download --platform ... --python-version ...
--only-binary=:all:`` of its dependencies, the runtime packages and pip itself, resolved to the exact set
that pip on the device installs with no index. Kept per platform, so a rerun downloads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeyolo._version import __version__
from edgeyolo.errors import EdgeYoloError
from edgeyolo.formats import RUNTIME_TABLE

Log = Callable[[str], None]


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


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files() -> list[tuple[str, Path]]:
    """(path in the wheel, file here) of the installed edgeyolo package, without bytecode; the built-in
    profiles go to ``edgeyolo/profiles/`` as in a wheel built from the source (a checkout keeps them in the
    top-level ``profiles/`` folder)."""
    import edgeyolo
    from edgeyolo.profiles import builtin_profile_files

    root = Path(edgeyolo.__file__).resolve().parent
    files = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root.parent).as_posix()
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            files[rel] = p
    for p in builtin_profile_files():
        files.setdefault(f"edgeyolo/profiles/{p.name}", p)
    return sorted(files.items())


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
    """Each runtime's pip package with the version range edgeyolo's extra gives it (``onnxruntime>=1.18``)."""
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in _distribution().requires or []]
    out = []
    for runtime in runtimes:
        rt = RUNTIME_TABLE[runtime]
        match = [
            r
            for r in reqs
            if r.name.lower() == rt.package and r.marker and r.marker.evaluate({"extra": rt.extra})
        ]
        out.append(f"{rt.package}{match[0].specifier}" if match else rt.package)
    return out


def _pip(args: list[str], timeout_s: float = 1800) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        verb = next(a for a in args if not a.startswith("-"))
        raise SetupError(f"pip {verb} took longer than {timeout_s:g} s; check this machine's network and pip "
                         "configuration") from None  # fmt: skip


def last_error(text: str) -> str:
    """What went wrong in a command's output: its last ERROR line, else its last line (at most 400 characters)."""
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
            why = last_error(got.stderr + got.stdout) if offline else last_error(r.stderr + r.stdout)
            raise SetupError(f"cannot build the wheelhouse for {platform}: {why}; this machine needs PyPI (or your "
                             f"pip index) once, or put the missing wheels into {dest}")  # fmt: skip
        items = json.loads(report.read_text())["install"]
    if offline:
        log(
            f"the package index was not reachable ({last_error(got.stderr)}); using the wheels already in {dest}"
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
