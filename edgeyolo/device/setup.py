"""Installing edgeyolo on one device over SSH, and on several one after another.

Ask the device's Python what it is (:func:`probe_platform`), build the wheelhouse for that platform here,
copy what the device lacks, install it with no index, and verify with the benchmark agent's ``info``; a venv
that already holds exactly this wheelhouse and passes the check is left alone.

The working venv is never taken down before its replacement works. ``<workdir>/venv`` is a symbolic link to the
venv in use, ``venv.<n>``: a fresh install goes into the next ``venv.<n+1>``, is verified there, and only then
does the link switch to it (one atomic rename) and the previous one get removed; a failed, crashed or timed-out
install removes only its own new folder. A link rather than renaming the new folder into place: a venv's
console scripts (``bin/edgeyolo``) and ``activate`` name the folder it was made in, so a renamed venv would carry
dead script paths, while ``venv.<n>`` keeps its name for its whole life. ``venv/bin/python`` stays the path to
give bench (``--remote-python``): Python finds ``pyvenv.cfg`` next to the folder of the executable it was
started as, so ``python -m edgeyolo`` and ``python -m pip`` through the link run in ``venv.<n>``. A ``venv``
that is a real folder (made by an older edgeyolo) is moved aside the same way, at the switch.

Each install step runs under the benchmark agent's ``run`` (:mod:`edgeyolo.bench.agent`, copied next to the
wheelhouse and run by the device's own Python, as edgeyolo may not be installed there yet): at its time limit,
or when this connection goes away, the agent ends the step's whole process group on the device (pip and its
children), as it does for a benchmark candidate; past a grace period this side kills the group itself.
"""

from __future__ import annotations

import json
import posixpath
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo._io import sha256_file
from edgeyolo._version import __version__
from edgeyolo.bench import agent as _agent
from edgeyolo.bench.agent import PGID_LINE, TIMEOUT_EXIT, TIMEOUT_LINE
from edgeyolo.bench.remote.inventory import Device
from edgeyolo.bench.remote.session import (
    Expired,
    RemoteError,
    RemoteOptions,
    Session,
    last_line_json,
    transport_errors,
)
from edgeyolo.device.wheelhouse import (
    DevicePlatform,
    Log,
    SetupError,
    build_wheelhouse,
    default_wheelhouse,
    last_error,
)
from edgeyolo.errors import ConfigError, EdgeYoloError
from edgeyolo.formats import RUNTIME_TABLE
from edgeyolo.profiles import DeviceProfile

VENV = "venv"  # under the work folder: a link to the venv in use, venv.<n> (see the module doc)
MARKER = "edgeyolo-setup.json"  # in the venv: what was installed, from which wheels
AGENT = "edgeyolo-agent.py"  # under <workdir>/wheelhouse: the benchmark agent, run by the device's own Python
INSTALL_TIMEOUT_S = 3600.0  # pip on a slow board's SD card (or under emulation)
STEP_TIMEOUT_S = 600.0  # making or removing a venv
# Past a step's limit the agent on the device ends it; past this grace too, this side kills the step's group.
GRACE_S = 30.0

# Run by the device's own Python (edgeyolo is not there yet): what to build the wheelhouse for.
_PROBE = (
    "import json,platform,sys;"
    "print(json.dumps({'machine':platform.machine(),'python':platform.python_version(),"
    "'implementation':sys.implementation.name,'libc':list(platform.libc_ver()),'executable':sys.executable}))"
)
# Run by the device's Python before an install: removes what earlier installs left (venv.<n> folders other than
# the one the link points to, a half-made link) and prints the folder for the new venv, the next venv.<n>.
_PREPARE = """import json,os,re,shutil,sys
link=sys.argv[1];d,b=os.path.split(link);cur=os.path.realpath(link);ns=[0]
for f in sorted(os.listdir(d)):
    m=re.fullmatch(re.escape(b)+r"[.]([0-9]+|old|link)",f);p=os.path.join(d,f)
    if not m: continue
    if m.group(1).isdigit(): ns.append(int(m.group(1)))
    if os.path.realpath(p)==cur: continue
    if os.path.isdir(p) and not os.path.islink(p): shutil.rmtree(p,ignore_errors=True)
    else: os.remove(p)
print(json.dumps({"new":os.path.join(d,b+"."+str(max(ns)+1))}))
"""
# Run by the device's Python once the new venv works: point the link at it (a rename over the old link, so the
# link is always whole), then remove the venv it pointed to. A real folder there (an older edgeyolo's venv) is
# moved aside first.
_SWITCH = """import os,shutil,sys
link,new=sys.argv[1],sys.argv[2];tmp=link+".link"
old=os.path.realpath(link) if os.path.islink(link) else None
if os.path.isdir(link) and not os.path.islink(link): old=link+".old";os.rename(link,old)
if os.path.lexists(tmp): os.remove(tmp)
os.symlink(os.path.basename(new),tmp);os.replace(tmp,link)
if old and os.path.realpath(old)!=os.path.realpath(new): shutil.rmtree(old,ignore_errors=True)
"""
_RMTREE = "import shutil,sys;shutil.rmtree(sys.argv[1],ignore_errors=True)"
# Run by the venv's Python after the install: the agent's info plus whether an emulator runs it.
_VERIFY = (
    "import json;from edgeyolo.bench.agent import info;from edgeyolo.bench.environment import emulation;"
    "print(json.dumps({**info(),'emulation':emulation()}))"
)


@dataclass(frozen=True)
class SetupConfig:
    """What to install where. ``runtimes``: names (those pip installs: :data:`edgeyolo.formats.PIP_RUNTIMES`),
    or None for those of ``profile``'s targets (default: the device's own profile)."""

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
            if r not in RUNTIME_TABLE:
                raise ConfigError(f"--runtimes: unknown runtime '{r}'; known: {', '.join(RUNTIME_TABLE)}")
            if RUNTIME_TABLE[r].not_from_pip:  # TensorRT comes with JetPack (apt), matched to its CUDA
                raise ConfigError(
                    f"--runtimes: {r} cannot be installed by device setup: {RUNTIME_TABLE[r].not_from_pip}"
                )
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
    skipped = {r: RUNTIME_TABLE[r].not_from_pip for r in names if RUNTIME_TABLE[r].not_from_pip}
    wanted = tuple(r for r in names if r not in skipped)
    if not wanted:
        raise ConfigError(f"device setup: profile {profile.name} needs only {', '.join(skipped)}, which device "
                          f"setup cannot install ({'; '.join(skipped.values())})")  # fmt: skip
    return wanted, skipped


def _remote_json(s: Session, argv: list[str], timeout_s: float, what: str) -> tuple[int, Any, str]:
    """Run ``argv`` on the device: its exit code, the JSON on its last line (None when there is none), its
    output."""
    try:
        code, out = s.run(argv, timeout_s)
    except Expired:
        raise SetupError(f"{s.device.host}: {what} did not finish within {timeout_s:g} s") from None
    try:
        return code, last_line_json(out), out
    except ValueError:
        return code, None, out


def probe_platform(s: Session, python: str) -> DevicePlatform:
    """Ask the device's Python what it is."""
    code, got, out = _remote_json(s, [python, "-c", _PROBE], 300, f"{python} -c ...")
    host = s.device.host
    if code != 0 or not isinstance(got, dict):
        last = last_error(out) if out.strip() else f"exit code {code}"
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


def _read_marker(s: Session, path: str) -> dict | None:
    try:
        with s.sftp.open(path, "r") as f:
            data = json.loads(f.read().decode())
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _import_failure(s: Session, python: str, module: str) -> str | None:
    """Why ``import module`` fails in the device's ``python`` (its last line and exit code), or None."""
    code, out = s.run([python, "-c", f"import {module}"], 600)
    if code == 0:
        return None
    crash = " (it crashed: killed by a signal)" if code > 128 or code < 0 else f" (exit code {code})"
    return (last_error(out) if out.strip() else "no output") + crash


def _verify(s: Session, python: str, runtimes: Sequence[str]) -> dict:
    """The venv's agent info, or SetupError naming what does not work."""
    code, got, out = _remote_json(s, [python, "-c", _VERIFY], 600, "the check of the installed edgeyolo")
    host, fix = (
        s.device.host,
        "leave it out with --runtimes, or check the device's CPU and OS against its requirements",
    )
    if code != 0 or not isinstance(got, dict):
        # A runtime that crashes at import (SIGSEGV, SIGILL) takes the whole check down: name it.
        for r in runtimes:
            why = _import_failure(s, python, RUNTIME_TABLE[r].module)
            if why:
                raise SetupError(
                    f"{host}: {RUNTIME_TABLE[r].module} was installed but does not import there: {why}; {fix}"
                )
        raise SetupError(f"{host}: edgeyolo does not start in {python}: {last_error(out)}; run device setup again "
                         "with --force")  # fmt: skip
    if got.get("edgeyolo") != __version__:
        raise SetupError(f"{host}: {python} has edgeyolo {got.get('edgeyolo')}, expected {__version__}; run device "
                         "setup again with --force")  # fmt: skip
    for r in runtimes:
        if got["runtimes"].get(r) is None:
            why = (
                _import_failure(s, python, RUNTIME_TABLE[r].module) or "the agent could not read its version"
            )
            raise SetupError(
                f"{host}: {RUNTIME_TABLE[r].module} was installed but does not import there: {why}; {fix}"
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
    s = Session(Device(name=dev.name, host=dev.host, key_file=dev.key_file, python=cfg.base_python,
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
        agent = s.path("wheelhouse", AGENT)
        s.write_text(agent, Path(_agent.__file__).read_text(encoding="utf-8"))
        run = _Steps(s, base, agent)

        def pip(py: str) -> list[str]:
            return [py, posixpath.join(remote_wh, wheels["pip"].name, "pip"), "install", "--no-index", "--find-links",
                    remote_wh, "--require-hashes", "--no-compile", "--no-input", "--disable-pip-version-check",
                    "--progress-bar", "off"]  # fmt: skip

        if incremental:
            log(f"installing {', '.join(changed) or 'nothing new'} into {venv} with no index")
            if changed:
                run(pip(python) + ["--no-deps", "--force-reinstall", "-r", requirements], "pip install",
                    INSTALL_TIMEOUT_S)  # fmt: skip
            got = _verify(s, python, runtimes)
            marker_at = marker_path
        else:
            # A new venv next to the one in use, which stays until the new one passes its check.
            new = _prepared(s, base, venv)
            new_python = posixpath.join(new, "bin", "python")
            log(f"making {new} and installing {len(wheels)} wheels with no index (this takes a while on "
                "a small board)")  # fmt: skip
            try:
                run([base, "-m", "venv", "--without-pip", new], "making the venv", STEP_TIMEOUT_S)
                run(pip(new_python) + ["-r", requirements], "pip install", INSTALL_TIMEOUT_S)
                got = _verify(s, new_python, runtimes)
            except BaseException:
                run.remove(new)
                raise
            marker_at = posixpath.join(new, MARKER)
        marker = {**want, "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "packages": versions}
        s.write_text(marker_at, json.dumps(marker, indent=1) + "\n")
        if not incremental:
            run([base, "-c", _SWITCH, venv, new], "switching to the new venv", STEP_TIMEOUT_S)
            log(f"{venv} -> {posixpath.basename(new)}")
        return result(got, changed=True)
    finally:
        s.close()


class _Steps:
    """Runs install steps on the device, each under the agent's time limit (see the module doc)."""

    def __init__(self, s: Session, base: str, agent: str):
        self.s, self.base, self.agent = s, base, agent

    def __call__(self, argv: list[str], what: str, limit: float) -> str:
        """Run ``argv``; its output, or SetupError naming what failed (a step over ``limit`` is stopped there:
        its whole process group on the device)."""
        s, host, pgid = self.s, self.s.device.host, []

        def on_line(line: str) -> None:
            if line.startswith(PGID_LINE):
                pgid.append(int(line[len(PGID_LINE) :]))

        t = time.perf_counter()
        try:
            code, out = s.run(
                [self.base, self.agent, "run", f"{limit:g}", "--", *argv], limit + GRACE_S, on_line
            )
        except Expired:  # the agent did not end it (a device too slow to answer): end it from here
            if pgid:
                try:
                    s.run(["kill", "-KILL", "--", f"-{pgid[0]}"], 15)
                except (Expired, *transport_errors()):
                    pass
            raise SetupError(f"{host}: {what} did not finish within {limit:g} s; stopped it there") from None
        if code == TIMEOUT_EXIT and TIMEOUT_LINE in out:
            raise SetupError(f"{host}: {what} did not finish within {limit:g} s; stopped it there")
        if code != 0:
            damaged = "hash" in out.lower()  # pip's --require-hashes check: a wheel changed on the way
            hint = (
                "; the copied wheels may be damaged, run device setup again with --force" if damaged else ""
            )
            raise SetupError(f"{host}: {what} failed: {last_error(out)}{hint}")
        s.log(f"{what}: {time.perf_counter() - t:.0f} s")
        return out

    def remove(self, folder: str) -> None:
        """Remove a folder on the device, best effort (the connection may be the reason we are here)."""
        try:
            self.s.run([self.base, "-c", _RMTREE, folder], STEP_TIMEOUT_S)
        except (Expired, *transport_errors()):
            pass


def _prepared(s: Session, base: str, venv: str) -> str:
    """The folder for a new venv (``venv.<n>``), after removing what earlier installs left next to ``venv``."""
    code, got, out = _remote_json(s, [base, "-c", _PREPARE, venv], STEP_TIMEOUT_S, "preparing the new venv")
    if code != 0 or not isinstance(got, dict) or not isinstance(got.get("new"), str):
        raise SetupError(f"{s.device.host}: preparing the new venv failed: {last_error(out)}")
    return s.path(got["new"])


def _wheel_version(path: Path) -> str:
    return path.name.split("-")[1]


def _upload(s: Session, wheels: dict[str, Path], remote_dir: str, old: dict[str, str], files: dict[str, str],
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
        except transport_errors() as e:  # the connection dropped mid-setup
            out.append(
                SetupError(
                    f"{cfg.device.host}: connection lost during setup ({type(e).__name__}: {e}); "
                    "run device setup again"
                )
            )
    return out
