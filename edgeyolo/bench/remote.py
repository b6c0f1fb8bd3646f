"""Benchmark on remote devices over SSH: copy artifacts (checksummed), run ``edgeyolo bench`` there, fetch.

Each device runs its candidates one at a time (one remote ``edgeyolo bench`` per candidate, so a record
comes back as soon as it is measured); several devices run in parallel threads. Anything that goes
wrong on a device (unreachable, authentication, unknown host key, missing runtime, a crash, a dropped
connection) becomes an error record for that device's candidates; the others continue and nothing
measured is lost.

Security: key-based authentication only; host keys are checked against known_hosts and an unknown key is
refused unless ``accept_new_host_key`` (a changed key is always refused); remote commands are argument
lists quoted with :func:`shlex.quote`; every remote path lives under the device's work folder.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shlex
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from edgeyolo._io import jsonl_lines, sha256_file
from edgeyolo._version import __version__
from edgeyolo.bench import BenchConfig, BenchResult, done_checksums, error_record
from edgeyolo.bench.agent import RUNTIME_PACKAGES
from edgeyolo.bench.store import append_record
from edgeyolo.errors import BackendUnavailableError, ConfigError, EdgeYoloError
from edgeyolo.profiles import DeviceProfile, load_profile
from edgeyolo.runtime.base import artifact_sha256, load_artifact

DEFAULT_WORKDIR = "~/.cache/edgeyolo-remote"
Log = Callable[[str], None]


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
    return workdir.rstrip("/") or "/"


@dataclass(frozen=True)
class RemoteOptions:
    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # add an unknown host's key to known_hosts (a changed key is refused)
    key_file: Path | None = None  # default private key for devices that name none
    connect_timeout_s: float = 15.0
    candidate_timeout_s: float = 3600.0


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
        home = self.sftp.normalize(".")
        wd = device.workdir
        self.workdir = posixpath.normpath(home + wd[1:] if wd.startswith("~") else wd)
        self.python = home + device.python[1:] if device.python.startswith("~/") else device.python
        self.makedirs(self.workdir)

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
            client.connect(
                d.host.hostname, port=d.host.port, username=d.host.user,
                key_filename=str(key) if key else None, look_for_keys=key is None, allow_agent=key is None,
                timeout=o.connect_timeout_s, banner_timeout=o.connect_timeout_s, auth_timeout=o.connect_timeout_s,
            )  # fmt: skip
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
        self.client.close()

    def path(self, *parts: str) -> str:
        p = posixpath.normpath(posixpath.join(self.workdir, *parts))
        if not (p + "/").startswith(self.workdir.rstrip("/") + "/"):
            raise RemoteError(f"{self.device.host}: refusing a path outside the work folder: {p}")
        return p

    def makedirs(self, path: str) -> None:
        parts, cur = path.strip("/").split("/"), ""
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
        pipe can fill up and stall the other) to ``on_line``; return (exit code, output)."""
        command = " ".join(shlex.quote(str(a)) for a in argv)
        channel = self.client.get_transport().open_session()
        channel.settimeout(timeout_s)
        channel.set_combine_stderr(True)
        channel.exec_command(command)
        lines = []
        for line in channel.makefile("r"):
            line = line.decode(errors="replace") if isinstance(line, bytes) else line
            lines.append(line)
            if on_line:
                on_line(line.rstrip("\n"))
        return channel.recv_exit_status(), "".join(lines)

    def agent(self, *args: str) -> Any:
        code, out = self.run([self.python, "-m", "edgeyolo.bench.agent", *args], timeout_s=120)
        if code != 0:
            last = (out.strip().splitlines() or [f"exit code {code}"])[-1]
            if "No module named" in out or code == 127:
                raise RemoteError(
                    f"{self.device.host}: edgeyolo is not installed for {self.python} ({last}); on the device run: "
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
        for local, remote in files:
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
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with open(self.known_hosts, "a", encoding="utf-8") as f:
            if self.known_hosts.stat().st_size and not self.known_hosts.read_bytes().endswith(b"\n"):
                f.write("\n")
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        self.log(f"added {key.get_name()} key of {hostname} to {self.known_hosts} (--accept-new-host-key)")


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

    def error(self, artifact: Path, message: str) -> dict:
        rec = error_record(self.profile.name, artifact, message)
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        return rec

    def connect(self) -> None:
        s = _Session(self.device, self.opts, self.log)
        self.info = s.agent("info")
        remote_version = self.info.get("edgeyolo")
        if str(remote_version).split(".")[:2] != __version__.split(".")[:2]:
            s.close()
            raise RemoteError(
                f"{self.device.host}: edgeyolo {remote_version} there, {__version__} here; on the device run: "
                f"{s.python} -m pip install 'edgeyolo[onnx]=={__version__}'"
            )
        self.session = s
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
            with s.sftp.open(self.remote_profile, "w") as f:
                f.write(text)
        if self.cfg.data is None:
            return
        data_yaml, files = _val_files(Path(self.cfg.data), self.cfg.accuracy_images)
        folder = s.path("datasets", _digest(files, json.dumps(data_yaml, sort_keys=True))[:16])
        marker = posixpath.join(folder, ".complete")
        if s.exists(marker):
            self.log(f"val split ({len(files)} files) already on the device")
        else:
            self.log(f"copying the val split ({len(files)} files) to {folder}")
            s.upload_tree([(local, posixpath.join(folder, rel)) for local, rel in files])
            with s.sftp.open(posixpath.join(folder, "data.yaml"), "w") as f:
                f.write(yaml.safe_dump({"path": folder, **data_yaml}, sort_keys=False))
            with s.sftp.open(marker, "w") as f:
                f.write("ok\n")
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

    def _bench_argv(self, remote_artifact: str, out: str) -> list[str]:
        c = self.cfg
        argv = [self.session.python, "-m", "edgeyolo", "bench", "--profile", self.remote_profile,
                remote_artifact, "--out", out, "--force" if c.force else "--resume"]  # fmt: skip
        if self.remote_data:
            argv += ["--data", self.remote_data]
        for flag, value in (("--threads", c.threads), ("--warmup", c.warmup), ("--iterations", c.iterations),
                            ("--min-duration", c.min_duration_s), ("--accuracy-images", c.accuracy_images)):  # fmt: skip
            if value is not None:
                argv += [flag, str(value)]
        return argv

    def candidate(self, artifact: Path, sha: str) -> dict:
        """Copy, run and fetch one candidate; returns its record (ok or error from the device)."""
        s = self.session
        runtime = load_artifact(artifact).manifest.get("runtime", "onnxruntime")
        module, extra = RUNTIME_PACKAGES.get(runtime, (runtime, runtime))
        if self.info["runtimes"].get(runtime) is None:
            return self.error(artifact, f"{self.device.host}: runtime package '{module}' is not installed for "
                                        f"{s.python}; on the device run: {s.python} -m pip install 'edgeyolo[{extra}]'")  # fmt: skip
        remote = self._upload_artifact(artifact, sha)
        # One results file per (artifact, profile, data, settings): the device's own --resume then reuses a
        # record only when it was measured exactly as asked (e.g. after a connection dropped mid-candidate).
        settings = [a for a in self._bench_argv("", "")[4:] if a not in ("--force", "--resume")]
        argv_key = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:12]
        out = s.path("results", f"{sha[:16]}-{argv_key}.jsonl")
        s.makedirs(posixpath.dirname(out))
        before = self._remote_records(out)
        code, output = s.run(self._bench_argv(remote, out), self.opts.candidate_timeout_s,
                             on_line=lambda ln: self.log(f"{artifact.name}: {ln}") if ln.strip() else None)  # fmt: skip
        records = self._remote_records(out)
        new = records[len(before) :]
        if not new:  # skipped by the device's own --resume: its earlier record is the result
            new = [r for r in records if r.get("candidate", {}).get("sha256") == sha][-1:]
        if not new:
            last = (output.strip().splitlines() or [f"exit code {code}"])[-1]
            return self.error(artifact, f"{self.device.host}: edgeyolo bench failed: {last}")
        rec = new[-1]
        rec["candidate"]["remote_artifact"] = rec["candidate"].get("artifact")
        rec["candidate"]["artifact"] = str(artifact.resolve())
        rec["device"].update({"name": self.device.name, "host": str(self.device.host)})
        if rec.get("status") != "ok":
            rec["message"] = f"{self.device.host}: {rec.get('message')}"
        if rec.get("accuracy"):
            rec["accuracy"]["remote_dataset"] = rec["accuracy"]["dataset"]
            rec["accuracy"]["dataset"] = str(Path(self.cfg.data).resolve())
        return rec

    def _remote_records(self, path: str) -> list[dict]:
        try:
            with self.session.sftp.open(path, "r") as f:
                text = f.read().decode()
        except FileNotFoundError:
            return []
        return [json.loads(ln) for _, ln in jsonl_lines(text)]

    def run(self) -> None:
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
        for i, a in enumerate(todo):
            try:
                if self.session is None:
                    self.connect()  # after a dropped connection
                rec = self.candidate(a, shas[a])
            except EdgeYoloError as e:  # about this candidate or device; the connection is fine
                rec = self.error(a, str(e))
            except _transport_errors() as e:  # the connection dropped mid-candidate
                rec = self.error(a, self._lost(e))
            self.emit(rec)
            if self.session is None:
                for rest in todo[i + 1 :]:
                    self.emit(
                        self.error(rest, f"{self.device.host}: not measured, the connection was lost earlier")
                    )
                return
        self.session.close()

    def _lost(self, e: BaseException) -> str:
        """After a transport failure try one reconnect; the session stays None when the device is gone."""
        msg = f"{self.device.host}: connection lost during the candidate ({type(e).__name__}: {e})"
        self.session = None
        try:
            self.connect()
        except (EdgeYoloError, *_transport_errors()):
            self.session = None
        return msg


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
            result.records.append(rec)
            if on_record:
                on_record(rec)

    runs = []
    for d in devices:
        profile = d.profile or cfg.profile
        done = (
            set()
            if cfg.force
            else done_checksums(Path(cfg.out), profile.name, cfg.threads, cfg.data, host=str(d.host))
        )
        runs.append(_DeviceRun(d, profile, cfg, opts, log=lambda m, n=d.name: log(f"[{n}] {m}"), emit=emit,
                               shas=shas, done=done))  # fmt: skip
    if any(shas[a] in r.done for r in runs for a in artifacts) and not cfg.resume:
        raise ConfigError(
            f"{cfg.out} already has results for some of these candidates on these devices; "
            "pass --resume to skip them or --force to measure them again"
        )
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        for f in [pool.submit(r.run) for r in runs]:
            f.result()
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
