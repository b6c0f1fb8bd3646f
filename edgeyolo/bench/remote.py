"""Benchmark on remote devices over SSH: copy artifacts (checksummed), run ``edgeyolo bench`` there, fetch.

Each device runs its candidates one at a time, in interleaved rounds (A B C, A B C, ...; one remote
``edgeyolo bench --round-index`` per candidate and round, each a fresh process there), and a candidate's record
comes back as soon as it has all its rounds (rounds measured so far wait in ``<results>.rounds.jsonl`` here,
so a run that stopped continues them); several devices run in parallel threads. Anything that goes
wrong on a device (unreachable, authentication, unknown host key, missing runtime, a crash, a dropped
connection, a malformed record, a candidate past its time limit) becomes an error record for that device's
candidates; the others continue and nothing measured is lost.

Each candidate runs under ``python -m edgeyolo.bench.agent run``, in a process group of its own that is
ended as a whole when the candidate outlives its total time limit or the connection drops, so the next
candidate is never measured next to a leftover one.

Security: key-based authentication only; host keys are checked against known_hosts and an unknown key is
refused unless ``accept_new_host_key`` (a changed key is always refused); remote commands are argument
lists quoted with :func:`shlex.quote`; every remote path lives under the device's work folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from edgeyolo._io import jsonl_lines, sha256_file
from edgeyolo._version import __version__
from edgeyolo.bench import BenchConfig, BenchResult, done_checksums, error_record, training_imgsz
from edgeyolo.bench.agent import PGID_LINE, RUNTIME_PACKAGES, TIMEOUT_EXIT, TIMEOUT_LINE
from edgeyolo.bench.rounds import (
    RoundStore,
    Slot,
    StopRounds,
    effective_rounds,
    per_image_dir,
    rounds_path,
    run_interleaved,
    run_key,
)
from edgeyolo.bench.store import SCHEMA, _missing_field, append_record, resolve_sidecars
from edgeyolo.errors import BackendUnavailableError, ConfigError, EdgeYoloError
from edgeyolo.profiles import DeviceProfile, load_profile
from edgeyolo.runtime.base import artifact_sha256, load_artifact, verify_artifact

DEFAULT_WORKDIR = "~/.cache/edgeyolo-remote"
Log = Callable[[str], None]
# A candidate's total time limit on a device (see candidate_limit_s): a slow board's start-up (interpreter,
# imports, model load or compile, environment capture), then each image at a slow allowance.
STARTUP_S = 300.0
PER_IMAGE_MIN_S = 1.0  # per image (warm-up, timed or accuracy) at least this long ...
PER_IMAGE_BUDGETS = 20  # ... or this many times the profile's latency budget
CONTROLLER_GRACE_S = 30.0  # past the limit the agent on the device ends the candidate; past this, we do
# Folders a work folder must not be, nor lie in: edgeyolo writes (and overwrites) files under it.
_SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr")  # fmt: skip
_KNOWN_HOSTS_LOCK = threading.Lock()  # device threads add keys to one known_hosts file


class RemoteError(EdgeYoloError, RuntimeError):
    """Something on a remote device stopped its benchmark (the message names the device and the fix)."""


@dataclass(frozen=True)
class Host:
    user: str | None
    hostname: str
    port: int = 22

    def __str__(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user + '@' if self.user else ''}{host}:{self.port}"


_HOST_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._-]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$")  # fmt: skip


def parse_host(text: str, where: str = "--host") -> Host:
    """``user@host[:port]`` (IPv6 as ``user@[::1]:2222``)."""
    m = _HOST_RE.match(str(text).strip())
    if not m:
        raise ConfigError(
            f"{where}: '{text}' is not user@host[:port] (e.g. pi@192.168.1.20 or pi@rpi5.local:2222)"
        )
    port = int(m["port"] or 22)
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: port {port} in '{text}' is not between 1 and 65535")
    return Host(m["user"], m["v6"] or m["name"], port)


@dataclass(frozen=True)
class Device:
    """One benchmark target: where it is, what it is (profile) and how edgeyolo runs there."""

    name: str
    host: Host
    profile: DeviceProfile | None = None  # None = the profile of the bench run
    key_file: Path | None = None  # private key; None = ssh-agent and ~/.ssh/id_*
    python: str = "python3"  # the device's Python with edgeyolo installed (a venv's bin/python)
    workdir: str = DEFAULT_WORKDIR  # every remote file lives under this folder


_DEVICE_KEYS = ("host", "profile", "key", "python", "workdir")


def load_inventory(path: str | Path) -> dict[str, Device]:
    """``devices.yaml``: ``devices: {NAME: {host: user@host[:port], profile: rpi5, key:, python:, workdir:}}``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"Inventory '{path}' not found; write a devices.yaml (see 'edgeyolo bench --help')."
        )
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {getattr(e, 'problem', e)}") from None
    devices = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(devices, dict) or not devices:
        raise ConfigError(
            f"{p}: expected a 'devices:' mapping of names to {{host: user@host, profile: NAME}}"
        )
    out = {}
    for name, d in devices.items():
        where = f"{p} devices.{name}"
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: must be a mapping with at least 'host'")
        unknown = sorted(set(d) - set(_DEVICE_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}'; known: {', '.join(_DEVICE_KEYS)}")
        if "host" not in d:
            raise ConfigError(f"{where}: missing 'host' (user@host[:port])")
        prof = d.get("profile")
        if prof is not None:
            prof_path = Path(str(prof)).expanduser()
            if not prof_path.is_absolute() and (p.parent / prof_path).is_file():
                prof = p.parent / prof_path  # a profile file next to the inventory
        out[str(name)] = Device(
            name=str(name), host=parse_host(d["host"], f"{where}.host"),
            profile=_inventory_profile(prof, f"{where}.profile") if prof is not None else None,
            key_file=Path(str(d["key"])).expanduser() if d.get("key") else None,
            python=str(d.get("python", "python3")), workdir=_check_workdir(str(d.get("workdir", DEFAULT_WORKDIR)), where),
        )  # fmt: skip
    return out


def remote_devices(
    hosts: Sequence[str], inventory: str | Path | None = None, names: Sequence[str] = (), *,
    python: str = "python3", workdir: str | None = None,
) -> list[Device]:  # fmt: skip
    """Devices from ``--host`` values and/or an inventory (only ``names`` of it, when given)."""
    devices = [Device(name=str(h), host=h, python=python, workdir=_check_workdir(workdir or DEFAULT_WORKDIR, "--remote-workdir"))
               for h in (parse_host(t) for t in hosts)]  # fmt: skip
    if inventory is not None:
        fleet = load_inventory(inventory)
        for n in names:
            if n not in fleet:
                raise ConfigError(f"--only {n}: not in {inventory}; known: {', '.join(fleet)}")
        devices += [d for n, d in fleet.items() if not names or n in names]
    return devices


def _inventory_profile(prof: Any, where: str) -> DeviceProfile:
    try:
        return load_profile(prof)
    except EdgeYoloError as e:
        raise ConfigError(f"{where}: {e}") from None


def _check_workdir(workdir: str, where: str) -> str:
    if not (workdir.startswith("/") or workdir == "~" or workdir.startswith("~/")):
        raise ConfigError(f"{where}: workdir '{workdir}' must be absolute or start with ~/")
    if ".." in workdir.split("/"):
        raise ConfigError(f"{where}: workdir '{workdir}' must not contain '..'")
    problem = _workdir_problem(workdir)
    if problem:
        raise ConfigError(f"{where}: workdir '{workdir}' is {problem}")
    return workdir.rstrip("/") or "/"


def _workdir_problem(workdir: str, home: str | None = None) -> str | None:
    """Why a work folder is refused (``/``, a home folder itself or above it, a system folder), or None."""
    wd = posixpath.normpath(workdir)
    fix = f"; give edgeyolo a folder of its own, e.g. {DEFAULT_WORKDIR}"
    if wd in ("/", "//"):
        return "the root folder" + fix
    if wd == "~" or (home is not None and wd == posixpath.normpath(home)):
        return "the home folder itself" + fix
    if home is not None and posixpath.normpath(home).startswith(wd.rstrip("/") + "/"):
        return f"a folder above the home folder {home}" + fix
    parts = wd.strip("/").split("/")
    if wd.startswith("/") and len(parts) == 1:
        return "a top-level system folder" + fix
    if wd.startswith("/") and parts[0] in ("home", "Users") and len(parts) == 2:
        return "a home folder itself" + fix
    if any(wd == d or wd.startswith(d + "/") for d in _SYSTEM_DIRS):
        return "a system folder" + fix
    return None


@dataclass(frozen=True)
class RemoteOptions:
    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # add an unknown host's key to known_hosts (a changed key is refused)
    key_file: Path | None = None  # default private key for devices that name none
    connect_timeout_s: float = 15.0
    candidate_timeout_s: float | None = None  # total per candidate; None = candidate_limit_s (from its work)


def candidate_limit_s(cfg: BenchConfig, profile: DeviceProfile, val_images: int = 0) -> float:
    """Total seconds one candidate may take on a device: start-up, plus warm-up, timed and accuracy images at
    a slow per-image allowance (the profile's latency budget x 20, at least 1 s), plus ``--min-duration``."""
    warmup = profile.bench.warmup if cfg.warmup is None else cfg.warmup
    iterations = cfg.iterations or profile.bench.iterations
    min_duration = profile.bench.min_duration_s if cfg.min_duration_s is None else cfg.min_duration_s
    images = 0
    if cfg.data is not None:
        images = val_images if cfg.accuracy_images is None else min(cfg.accuracy_images, val_images)
    per_image = max(PER_IMAGE_MIN_S, PER_IMAGE_BUDGETS * profile.latency_budget_ms / 1000)
    return STARTUP_S + min_duration + (1 + warmup + iterations + images) * per_image


class _Expired(Exception):
    """A remote command outlived its total time limit (its channel is closed)."""


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "x"


class _Session:
    """One SSH connection to a device with its SFTP channel; every path it writes is under ``workdir``."""

    def __init__(self, device: Device, opts: RemoteOptions, log: Log):
        self.device, self.opts, self.log = device, opts, log
        self.client = self._connect()
        try:
            self.sftp = self.client.open_sftp()
        except Exception as e:  # paramiko.SSHException "Channel closed." when sshd has no sftp subsystem
            self.client.close()
            raise RemoteError(
                f"{device.host}: no SFTP on the device ({type(e).__name__}: {e}); enable the sftp subsystem in its "
                "sshd_config (Subsystem sftp internal-sftp), edgeyolo copies files with it"
            ) from None
        try:
            home = self.sftp.normalize(".")
            wd = device.workdir
            self.workdir = posixpath.normpath(home + wd[1:] if wd.startswith("~") else wd)
            problem = _workdir_problem(self.workdir, home)
            if problem:  # the resolved folder: '~/' and absolute spellings of the home folder alike
                raise RemoteError(f"{device.host}: workdir '{wd}' ({self.workdir}) is {problem}")
            self.python = home + device.python[1:] if device.python.startswith("~/") else device.python
            self.makedirs(self.workdir)
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Any:
        try:
            import paramiko
        except ImportError:
            raise BackendUnavailableError(
                "remote benchmarking needs paramiko: pip install 'edgeyolo[remote]'"
            ) from None
        d, o = self.device, self.opts
        known = Path(o.known_hosts or Path.home() / ".ssh" / "known_hosts").expanduser()
        client = paramiko.SSHClient()
        if known.is_file():
            _check_known_hosts(known)
            try:
                client.load_host_keys(str(known))
            except (paramiko.SSHException, ValueError) as e:
                raise RemoteError(f"{known}: not a known_hosts file paramiko can read ({e}); pass --known-hosts "
                                  "with plain 'host keytype key' lines for your devices") from None  # fmt: skip
        if o.accept_new_host_key:
            client.set_missing_host_key_policy(_SaveNewKey(known, self.log))
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        key = d.key_file or o.key_file
        try:
            try:
                client.connect(
                    d.host.hostname, port=d.host.port, username=d.host.user,
                    key_filename=str(key) if key else None, look_for_keys=key is None, allow_agent=key is None,
                    timeout=o.connect_timeout_s, banner_timeout=o.connect_timeout_s, auth_timeout=o.connect_timeout_s,
                )  # fmt: skip
            except BaseException:
                client.close()  # a refused login leaves its transport running ("awaiting auth") until sshd gives up
                raise
        except paramiko.BadHostKeyException:
            raise RemoteError(
                f"{d.host}: host key differs from the one in {known}; if the device was reinstalled, remove its "
                f"line (ssh-keygen -R '[{d.host.hostname}]:{d.host.port}' -f {known}) and verify the new key"
            ) from None
        except paramiko.AuthenticationException:
            raise RemoteError(
                f"{d.host}: authentication failed (key-based only); pass --identity KEY or add your public key "
                "to the device's ~/.ssh/authorized_keys"
            ) from None
        except paramiko.SSHException as e:
            if "not found in known_hosts" in str(e):
                raise RemoteError(
                    f"{d.host}: host key is not in {known}; verify it (ssh-keyscan -p {d.host.port} {d.host.hostname}) "
                    "and add it, or rerun with --accept-new-host-key"
                ) from None
            raise RemoteError(f"{d.host}: SSH failed: {e}") from None
        except OSError as e:
            raise RemoteError(
                f"{d.host}: cannot reach the device ({e.strerror or e}); check the address and that sshd runs"
            ) from None
        return client

    def close(self) -> None:
        """Close the SFTP channel and the connection (never raises: the connection may be gone already)."""
        for part in (getattr(self, "sftp", None), self.client):
            try:
                if part is not None:
                    part.close()
            except Exception:  # closing a broken transport can raise anything paramiko's socket raises
                pass

    def path(self, *parts: str) -> str:
        """A path under the work folder (relative parts are joined to it); anything outside it is refused."""
        p = posixpath.normpath(posixpath.join(self.workdir, *parts))
        if not (p + "/").startswith(self.workdir.rstrip("/") + "/"):
            raise RemoteError(f"{self.device.host}: refusing a path outside the work folder: {p}")
        return p

    def write_text(self, path: str, text: str) -> None:
        with self.sftp.open(self.path(path), "w") as f:
            f.write(text)

    def makedirs(self, path: str) -> None:
        parts, cur = self.path(path).strip("/").split("/"), ""
        for part in parts:
            cur += "/" + part
            try:
                self.sftp.stat(cur)
            except FileNotFoundError:
                self.sftp.mkdir(cur)

    def exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
            return True
        except FileNotFoundError:
            return False

    def run(self, argv: Sequence[str], timeout_s: float, on_line: Log | None = None) -> tuple[int, str]:
        """Run an argument list (each argument quoted); stream its output lines (stderr merged, so neither
        pipe can fill up and stall the other) to ``on_line``; return (exit code, output).

        Raises:
            _Expired: it ran longer than ``timeout_s`` in all (the channel is closed; what it started on the
                device is the caller's to end).
        """
        command = " ".join(shlex.quote(str(a)) for a in argv)
        deadline = time.monotonic() + timeout_s
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise EOFError("the SSH connection is closed")
        channel = transport.open_session()
        try:
            channel.set_combine_stderr(True)
            channel.exec_command(command)
            lines: list[str] = []
            pending = b""

            def emit(raw: bytes, end: str) -> None:
                line = raw.decode(errors="replace")
                lines.append(line + end)
                if on_line:
                    on_line(line)

            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Expired(timeout_s)
                channel.settimeout(min(left, 1.0))  # a total limit, not one per read
                try:
                    data = channel.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                *complete, pending = (pending + data).split(b"\n")
                for raw in complete:
                    emit(raw, "\n")
            if pending:
                emit(pending, "")
            while not channel.exit_status_ready():
                if time.monotonic() > deadline:
                    raise _Expired(timeout_s)
                time.sleep(0.02)
            return channel.recv_exit_status(), "".join(lines)
        finally:
            channel.close()

    def agent(self, *args: str) -> Any:
        try:
            code, out = self.run([self.python, "-m", "edgeyolo.bench.agent", *args], timeout_s=120)
        except _Expired:
            raise RemoteError(f"{self.device.host}: {self.python} -m edgeyolo.bench.agent {args[0]} did not answer "
                              "within 120 s; is the device overloaded?") from None  # fmt: skip
        if code != 0:
            last = (out.strip().splitlines() or [f"exit code {code}"])[-1]
            if "No module named" in out or code == 127:
                raise RemoteError(
                    f"{self.device.host}: edgeyolo is not installed for {self.python} ({last}); install it from here "
                    f"(the device needs no internet): edgeyolo device setup --host {self.device.host} --profile PROFILE, "
                    "then pass the --remote-python it prints; or on the device run: "
                    f"{self.python} -m pip install 'edgeyolo[onnx]=={__version__}' (or [openvino]/[tensorrt]), "
                    "or set the device's python: in devices.yaml / --remote-python"
                )
            raise RemoteError(f"{self.device.host}: {self.python} -m edgeyolo.bench.agent failed: {last}")
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            raise RemoteError(f"{self.device.host}: {self.python} -m edgeyolo.bench.agent printed no JSON: "
                              f"{out.strip()[-200:]!r}") from None  # fmt: skip

    def upload_tree(self, files: Sequence[tuple[Path, str]]) -> None:
        """Copy (local file, remote path) pairs; every remote path must lie inside the work folder."""
        targets = [(local, self.path(remote)) for local, remote in files]  # all checked before any copy
        for local, remote in targets:
            self.makedirs(posixpath.dirname(remote))
            self.sftp.put(str(local), remote)


def _check_known_hosts(path: Path) -> None:
    """Refuse known_hosts files with @revoked / @cert-authority lines: paramiko cannot honour them, and
    ignoring a revocation would be unsafe."""
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.lstrip().startswith("@"):
            marker = line.split()[0]
            raise RemoteError(f"{path}:{n}: {marker} lines are not supported; pass --known-hosts with a file "
                              "that holds plain 'host keytype key' lines for your devices")  # fmt: skip


class _SaveNewKey:
    """Missing-host-key policy behind --accept-new-host-key: add and save the key (like ``accept-new``)."""

    def __init__(self, known_hosts: Path, log: Log):
        self.known_hosts, self.log = known_hosts, log

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        # Append one line: paramiko's save_host_keys rewrites the whole file and drops what it cannot parse.
        append_known_host(self.known_hosts, f"{hostname} {key.get_name()} {key.get_base64()}")
        self.log(f"added {key.get_name()} key of {hostname} to {self.known_hosts} (--accept-new-host-key)")


def append_known_host(path: Path, line: str) -> None:
    """Append one line to a known_hosts file, one writer at a time: device threads hold a lock, and other
    processes (another ``edgeyolo bench``) an exclusive ``flock`` on the file, where the OS has one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _KNOWN_HOSTS_LOCK, open(path, "a+b") as f:
        try:
            import fcntl
        except ImportError:  # Windows: the thread lock alone
            fcntl = None
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # released when the file is closed
        end = f.seek(0, os.SEEK_END)
        missing_newline = False
        if end:
            f.seek(end - 1)
            missing_newline = f.read(1) != b"\n"
        f.write(("\n" if missing_newline else "").encode() + line.encode() + b"\n")  # appended: mode "a"
        f.flush()


def _val_files(data: Path, limit: int | None) -> tuple[dict, list[tuple[Path, str]]]:
    """The val split to copy: its data.yaml content (relative to the copy) and (local file, relative path)."""
    from edgeyolo.data.yolo import label_path_for, load_dataset, load_split

    ds = load_dataset(data)
    files = []
    for i, item in enumerate(load_split(ds, "val", limit=limit)):
        stem = f"{i:06d}_{_safe_name(item.path.stem)}"
        files.append((item.path, f"images/val/{stem}{item.path.suffix.lower()}"))
        label = label_path_for(item.path)
        if label.is_file():
            files.append((label, f"labels/val/{stem}.txt"))
    names = dict(enumerate(ds.names))
    return {"train": "images/val", "val": "images/val", "names": names}, files


def _digest(items: Sequence[tuple[Path, str]], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for local, rel in items:
        h.update(rel.encode())
        h.update(sha256_file(local).encode())
    return h.hexdigest()


@dataclass
class _DeviceRun:
    device: Device
    profile: DeviceProfile
    cfg: BenchConfig
    opts: RemoteOptions
    log: Log
    emit: Callable[[dict], None]
    shas: dict[Path, str] = field(default_factory=dict)  # artifact -> checksum
    done: set[str] = field(default_factory=set)
    session: _Session | None = None
    remote_data: str | None = None
    remote_profile: str | None = None
    val_images: int = 0  # images of the val split on the device (for the candidate's time limit)
    store: RoundStore | None = None  # the interleaved rounds measured so far (shared by the device threads)
    train_sizes: dict[Path, int | None] = field(default_factory=dict)  # artifact -> training image size

    @property
    def rounds(self) -> int:
        iterations = self.cfg.iterations or self.profile.bench.iterations
        return effective_rounds(self.cfg.rounds or self.profile.bench.rounds, iterations)

    def key(self, artifact: Path, sha: str) -> str:
        """What a candidate's rounds on this device are measured with (rounds resume only under the same key)."""
        c, p = self.cfg, self.profile
        return run_key(sha, artifact=str(Path(artifact).resolve()), profile=p.name, threads=c.threads or p.threads, data=str(Path(c.data).resolve()) if c.data else None,
                       accuracy_images=c.accuracy_images, warmup=p.bench.warmup if c.warmup is None else c.warmup,
                       iterations=c.iterations or p.bench.iterations, rounds=self.rounds,
                       min_duration_s=float(p.bench.min_duration_s if c.min_duration_s is None else c.min_duration_s),
                       host=str(self.device.host))  # fmt: skip

    def temperature(self) -> float | None:
        """The device's temperature now: its hottest thermal zone, read over SFTP (no process started there, so
        it costs milliseconds between rounds); None without a sensor or a connection."""
        if self.session is None:
            return None
        sftp, temps = self.session.sftp, []
        try:
            zones = [z for z in sftp.listdir("/sys/class/thermal") if z.startswith("thermal_zone")]
        except OSError:
            return None
        for zone in zones:
            try:
                with sftp.open(f"/sys/class/thermal/{zone}/temp", "r") as f:
                    raw = f.read().decode(errors="replace").strip()
            except OSError:
                continue
            if raw.lstrip("-").isdigit():
                temps.append(int(raw) / 1000.0)
        return max(temps) if temps else None

    def error(self, artifact: Path, message: str) -> dict:
        rec = error_record(self.profile.name, artifact, message)
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        return rec

    def connect(self) -> None:
        s = _Session(self.device, self.opts, self.log)
        try:
            self.info = s.agent("info")
        except BaseException:
            s.close()
            raise
        remote_version = self.info.get("edgeyolo")
        if str(remote_version).split(".")[:2] != __version__.split(".")[:2]:
            s.close()
            raise RemoteError(
                f"{self.device.host}: edgeyolo {remote_version} there, {__version__} here; on the device run: "
                f"{s.python} -m pip install 'edgeyolo[onnx]=={__version__}'"
            )
        self.session = s  # closed by run() at the end, or by _reconnect()
        self._stage_inputs()

    def _stage_inputs(self) -> None:
        s = self.session
        text = yaml.safe_dump(self.profile.to_dict(), sort_keys=False)
        self.remote_profile = s.path(
            "profiles",
            f"{_safe_name(self.profile.name)}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml",
        )
        if not s.exists(self.remote_profile):
            s.makedirs(posixpath.dirname(self.remote_profile))
            s.write_text(self.remote_profile, text)
        if self.cfg.data is None:
            return
        data_yaml, files = _val_files(Path(self.cfg.data), self.cfg.accuracy_images)
        self.val_images = sum(1 for _, rel in files if rel.startswith("images/"))
        folder = s.path("datasets", _digest(files, json.dumps(data_yaml, sort_keys=True))[:16])
        marker = posixpath.join(folder, ".complete")
        if s.exists(marker):
            self.log(f"val split ({len(files)} files) already on the device")
        else:
            self.log(f"copying the val split ({len(files)} files) to {folder}")
            s.upload_tree([(local, posixpath.join(folder, rel)) for local, rel in files])
            data_text = yaml.safe_dump({"path": folder, **data_yaml}, sort_keys=False)
            s.write_text(posixpath.join(folder, "data.yaml"), data_text)
            s.write_text(marker, "ok\n")
        self.remote_data = posixpath.join(folder, "data.yaml")

    def _upload_artifact(self, artifact: Path, sha: str) -> str:
        s = self.session
        remote = s.path("artifacts", f"{sha[:16]}-{_safe_name(artifact.name)}")
        if s.agent("sha256", remote).get(remote) == sha:
            self.log(f"{artifact.name}: already on the device (sha256 {sha[:12]})")
            return remote
        files = sorted(p for p in artifact.iterdir() if p.is_file())
        self.log(f"{artifact.name}: copying {len(files)} files to {remote}")
        s.upload_tree([(f, posixpath.join(remote, f.name)) for f in files])
        got = s.agent("sha256", remote).get(remote)
        if got != sha:
            raise RemoteError(
                f"{self.device.host}: {artifact.name} arrived with checksum {got}, expected {sha}"
            )
        return remote

    def _bench_argv(self, remote_artifact: str, out: str, round_index: int = 0) -> list[str]:
        c = self.cfg
        argv = [self.session.python, "-m", "edgeyolo", "bench", "--profile", self.remote_profile,
                remote_artifact, "--out", out, "--force" if c.force else "--resume",
                "--rounds", str(self.rounds), "--round-index", str(round_index)]  # fmt: skip
        if self.remote_data:
            argv += ["--data", self.remote_data]
        for flag, value in (("--threads", c.threads), ("--warmup", c.warmup), ("--iterations", c.iterations),
                            ("--min-duration", c.min_duration_s), ("--accuracy-images", c.accuracy_images)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        return argv

    def limit_s(self) -> float:
        """This device's total time limit for one candidate."""
        if self.opts.candidate_timeout_s is not None:
            return self.opts.candidate_timeout_s
        return candidate_limit_s(self.cfg, self.profile, self.val_images)

    def candidate(self, artifact: Path, sha: str, round_index: int = 0) -> dict:
        """Copy, run and fetch one round of one candidate; returns that round's record (ok, with its raw samples
        for pooling, or error from the device)."""
        s = self.session
        art = load_artifact(artifact)
        if verify_artifact(art) != sha:  # raises when it changed since export; here: since this run began
            raise RemoteError(f"{artifact}: the files changed while the benchmark ran; measure it again")
        runtime = art.manifest.get("runtime", "onnxruntime")
        module, extra = RUNTIME_PACKAGES.get(runtime, (runtime, runtime))
        if self.info["runtimes"].get(runtime) is None:
            return self.error(artifact, f"{self.device.host}: runtime package '{module}' is not installed for "
                                        f"{s.python}; on the device run: {s.python} -m pip install 'edgeyolo[{extra}]' "
                                        f"(or from here: edgeyolo device setup --host {self.device.host} --runtimes {runtime})")  # fmt: skip
        remote = self._upload_artifact(artifact, sha)
        # One results file per (artifact, profile, data, settings): the device's own --resume then reuses a
        # record only when it was measured exactly as asked (e.g. after a connection dropped mid-candidate).
        settings = [a for a in self._bench_argv("", "", round_index)[4:] if a not in ("--force", "--resume")]
        argv_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
        out = s.path("results", f"{sha[:16]}-{argv_key}.jsonl")
        s.makedirs(posixpath.dirname(out))
        before = self._remote_records(out)
        limit = self.limit_s()
        pgid: list[int] = []

        def on_line(ln: str) -> None:
            if ln.startswith(PGID_LINE):
                pgid.append(int(ln[len(PGID_LINE) :]))
            elif ln.strip():
                self.log(f"{artifact.name}: {ln}")

        # The agent ends the candidate's whole process group at the limit (or when this connection drops).
        agent = [s.python, "-m", "edgeyolo.bench.agent", "run", f"{limit:g}", "--"]
        argv = agent + self._bench_argv(remote, out, round_index)
        try:
            code, output = s.run(argv, limit + CONTROLLER_GRACE_S, on_line=on_line)
        except _Expired:  # the agent did not end it: end it from here, and continue on a fresh connection
            if pgid:
                try:
                    s.run(["kill", "-KILL", "--", f"-{pgid[0]}"], timeout_s=15)
                except (_Expired, *_transport_errors()):
                    pass
            self._reconnect()
            return self.error(artifact, self._timed_out(limit))
        if code == TIMEOUT_EXIT and TIMEOUT_LINE in output:
            return self.error(artifact, self._timed_out(limit))
        records = self._remote_records(out)
        new = records[len(before) :]  # a round is always measured anew (never taken from an earlier run)
        if not new:
            last = (output.strip().splitlines() or [f"exit code {code}"])[-1]
            return self.error(artifact, f"{self.device.host}: edgeyolo bench failed: {last}")
        rec = new[-1]
        if isinstance(rec, dict) and rec["status"] == "ok" and rec["candidate"].get("sha256") != sha:
            rec = f"is about another artifact (sha256 {rec['candidate'].get('sha256')!s:.12}, expected {sha[:12]})"
        if isinstance(rec, str):
            return self.error(artifact, f"{self.device.host}: the device sent back a malformed record ({out}: {rec}); "
                                        f"check edgeyolo there ({s.python} -m pip install --force-reinstall "
                                        f"'edgeyolo=={__version__}') and measure the candidate again")  # fmt: skip
        rec["candidate"]["remote_artifact"] = rec["candidate"].get("artifact")
        rec["candidate"]["artifact"] = str(artifact.resolve())
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        if rec.get("status") != "ok":
            rec["message"] = f"{self.device.host}: {rec.get('message')}"
        if rec.get("accuracy"):
            rec["accuracy"]["remote_dataset"] = rec["accuracy"]["dataset"]
            rec["accuracy"]["dataset"] = str(Path(self.cfg.data).resolve())
            self._fetch_per_image(rec, out)
        if rec.get("status") == "ok":
            rec["candidate"]["train_imgsz"] = self.train_sizes.get(artifact)
        return rec

    def _fetch_per_image(self, rec: dict, remote_out: str) -> None:
        """Copy the round's per-image evaluation (the bootstrap sidecar) next to the local results file; a record
        whose sidecar cannot be fetched keeps its intervals and loses only the paired comparisons."""
        per_image = rec["accuracy"].get("per_image")
        if not isinstance(per_image, dict):
            return
        rel, want = str(per_image.get("file")), per_image.get("sha256")
        if not re.fullmatch(r"[A-Za-z0-9._-]+\.per-image/[0-9a-f]{16}-[0-9a-f]{12}\.npz", rel):
            rec["accuracy"].pop("per_image")
            return
        local_dir = per_image_dir(self.cfg.out)
        local_dir.mkdir(parents=True, exist_ok=True)
        name = rel.rsplit("/", 1)[1]
        tmp = local_dir / f".{name}.part"
        try:
            self.session.sftp.get(
                self.session.path(posixpath.join(posixpath.dirname(remote_out), rel)), str(tmp)
            )
            if sha256_file(tmp) != want:
                raise RemoteError(f"{name} arrived with another checksum")
            os.replace(tmp, local_dir / name)
        except (EdgeYoloError, OSError) as e:
            tmp.unlink(missing_ok=True)
            rec["accuracy"].pop("per_image")
            self.log(f"per-image evaluation not fetched ({e}); paired comparisons skip this candidate")
            return
        per_image["remote_file"] = rel
        per_image["file"] = f"{local_dir.name}/{name}"

    def _timed_out(self, limit: float) -> str:
        how = ("set by RemoteOptions.candidate_timeout_s" if self.opts.candidate_timeout_s is not None
               else "from its warm-up, --iterations, --min-duration and accuracy images")  # fmt: skip
        return (f"{self.device.host}: timed out after {limit:g} s, the candidate's limit ({how}); every process it "
                "started on the device was stopped. If the device is only slow, measure fewer --iterations or "
                "--accuracy-images")  # fmt: skip

    def _remote_records(self, path: str) -> list[dict | str]:
        """The device's records in ``path``, in order; a malformed line is a string that says what is wrong."""
        try:
            with self.session.sftp.open(path, "r") as f:
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            return []
        return [_parse_record(line, n) for n, line in jsonl_lines(text)]

    def run(self) -> None:
        try:
            self._run()
        finally:
            if self.session is not None:
                self.session.close()
                self.session = None

    def _run(self) -> None:
        shas = self.shas
        todo = [a for a in self.cfg.artifacts if shas[a] not in self.done]
        for a in self.cfg.artifacts:
            if shas[a] in self.done:
                self.log(f"{a.name}: already measured on {self.device.name} (--resume)")
        if not todo:
            return
        try:
            self.connect()
        except (EdgeYoloError, *_transport_errors()) as e:
            for a in todo:
                self.emit(self.error(a, str(e)))
            return

        def measure(slot: Slot, r: int) -> dict:
            try:
                return self.candidate(slot.artifact, slot.sha, r)
            except EdgeYoloError as e:  # about this candidate or device; the connection is fine
                return self.error(slot.artifact, str(e))
            except _transport_errors() as e:  # the connection dropped mid-candidate
                msg = self._lost(e)
                if self.session is None:
                    raise StopRounds(
                        msg, f"{self.device.host}: not measured, the connection was lost earlier"
                    ) from None
                return self.error(slot.artifact, msg)

        run_interleaved([Slot(a, shas[a], self.key(a, shas[a])) for a in todo], self.rounds, measure, self.store,
                        emit=lambda slot, rec: self.emit(rec), error=lambda slot, msg: self.error(slot.artifact, msg),
                        temperature=self.temperature, log=self.log, fresh=self.cfg.force)  # fmt: skip

    def _lost(self, e: BaseException) -> str:
        """After a transport failure close the old connection and try one reconnect; the session stays None
        when the device is gone. (The agent on the device ended the candidate when the connection dropped.)"""
        msg = f"{self.device.host}: connection lost during the candidate ({type(e).__name__}: {e})"
        self._reconnect()
        return msg

    def _reconnect(self) -> None:
        """Close the old connection and open a new one; the session stays None when that fails."""
        if self.session is not None:
            self.session.close()
        self.session = None
        try:
            self.connect()
        except (EdgeYoloError, *_transport_errors()):
            self.session = None


def _parse_record(line: str, lineno: int) -> dict | str:
    """One line of a device's results file: the record, or what is wrong with it."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        return f"line {lineno} is not JSON ({e.msg})"
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        return f"line {lineno} is not an {SCHEMA} record"
    for key in ("candidate", "device"):
        if not isinstance(rec.get(key), dict):
            return f"line {lineno} has no '{key}'"
    if rec.get("status") not in ("ok", "error"):
        return f"line {lineno} has no 'status' of ok or error"
    missing = _missing_field(rec)
    if missing:
        return f"line {lineno} is a record without {missing}"
    acc = rec.get("accuracy")
    if acc and not (isinstance(acc, dict) and "dataset" in acc):
        return f"line {lineno} has an 'accuracy' without 'dataset'"
    return rec


def _transport_errors() -> tuple[type[BaseException], ...]:
    import paramiko

    return (paramiko.SSHException, EOFError, OSError, ValueError)


def benchmark_remote(
    cfg: BenchConfig, devices: Sequence[Device], opts: RemoteOptions = RemoteOptions(),
    on_record: Callable[[dict], None] | None = None, log: Log = lambda m: None,
) -> BenchResult:  # fmt: skip
    """Benchmark ``cfg.artifacts`` on each device (in parallel); records appended to ``cfg.out`` as they arrive."""
    if not cfg.artifacts:
        raise ConfigError("bench: no artifacts given; pass one or more folders written by 'edgeyolo export'.")
    if not devices:
        raise ConfigError("bench: no devices; pass --host user@host[:port] or --devices devices.yaml")
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise ConfigError(f"bench: device names must be unique, got {', '.join(names)}")
    for d in devices:
        _check_workdir(d.workdir, f"device {d.name}")
    hosts = [str(d.host) for d in devices]
    if len(set(hosts)) != len(hosts):
        dup = next(h for h in hosts if hosts.count(h) > 1)
        raise ConfigError(f"bench: {dup} is given twice (--host / --devices); a device would be measured in "
                          "parallel with itself")  # fmt: skip
    artifacts = tuple(Path(a) for a in cfg.artifacts)
    shas = {a: artifact_sha256(load_artifact(a)) for a in artifacts}  # every manifest valid before connecting
    if cfg.data is not None:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(cfg.data)
    cfg = replace(cfg, artifacts=artifacts)
    result = BenchResult(out=Path(cfg.out))
    lock = threading.Lock()

    def emit(rec: dict) -> None:
        with lock:
            append_record(cfg.out, rec)
            resolve_sidecars(rec, cfg.out)
            result.records.append(rec)
            if on_record:
                on_record(rec)

    runs = []
    store = RoundStore(rounds_path(cfg.out))
    train_sizes = {a: training_imgsz(a) for a in artifacts}
    for d in devices:
        profile = d.profile or cfg.profile
        done = (
            set()
            if cfg.force
            else done_checksums(Path(cfg.out), profile.name, cfg.threads, cfg.data, host=str(d.host))
        )
        runs.append(_DeviceRun(d, profile, cfg, opts, log=lambda m, n=d.name: log(f"[{n}] {m}"), emit=emit,
                               shas=shas, done=done, store=store, train_sizes=train_sizes))  # fmt: skip
    if any(shas[a] in r.done for r in runs for a in artifacts) and not cfg.resume:
        raise ConfigError(
            f"{cfg.out} already has results for some of these candidates on these devices; "
            "pass --resume to skip them or --force to measure them again"
        )
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        for f in [pool.submit(r.run) for r in runs]:
            f.result()
    store.tidy()
    for r in runs:
        result.skipped.extend(a for a in artifacts if shas[a] in r.done)
    return result


__all__ = [
    "Device",
    "Host",
    "RemoteError",
    "RemoteOptions",
    "benchmark_remote",
    "load_inventory",
    "parse_host",
]
