"""One SSH connection to a device: login, host keys, remote paths, remote commands and their errors.

Security: key-based authentication only; host keys are checked against known_hosts and an unknown key is
refused unless ``accept_new_host_key`` (a changed key is always refused); remote commands are argument
lists quoted with :func:`shlex.quote`; every remote path lives under the device's work folder.
"""

from __future__ import annotations

import json
import os
import posixpath
import shlex
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeyolo._version import __version__
from edgeyolo.bench.remote.inventory import Device, workdir_problem
from edgeyolo.errors import BackendUnavailableError, EdgeYoloError

Log = Callable[[str], None]
_KNOWN_HOSTS_LOCK = threading.Lock()  # device threads add keys to one known_hosts file


class RemoteError(EdgeYoloError, RuntimeError):
    """Something on a remote device stopped its benchmark (the message names the device and the fix)."""


@dataclass(frozen=True)
class RemoteOptions:
    """How to log in to the devices (host keys, key, time-outs) and each candidate's total time limit there."""

    known_hosts: Path | None = None  # default ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # add an unknown host's key to known_hosts (a changed key is refused)
    key_file: Path | None = None  # default private key for devices that name none
    connect_timeout_s: float = 15.0
    candidate_timeout_s: float | None = None  # total per candidate; None = candidate_limit_s (from its work)


class Expired(Exception):
    """A remote command outlived its total time limit (its channel is closed)."""


class Session:
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
            problem = workdir_problem(self.workdir, home)
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
            check_known_hosts(known)
            try:
                client.load_host_keys(str(known))
            except (paramiko.SSHException, ValueError) as e:
                raise RemoteError(f"{known}: not a known_hosts file paramiko can read ({e}); pass --known-hosts "
                                  "with plain 'host keytype key' lines for your devices") from None  # fmt: skip
        if o.accept_new_host_key:
            client.set_missing_host_key_policy(SaveNewKey(known, self.log))
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
            Expired: it ran longer than ``timeout_s`` in all (the channel is closed; what it started on the
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
                    raise Expired(timeout_s)
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
                    raise Expired(timeout_s)
                time.sleep(0.02)
            return channel.recv_exit_status(), "".join(lines)
        finally:
            channel.close()

    def agent(self, *args: str) -> Any:
        """What ``python -m edgeyolo.bench.agent ARGS`` answers on the device (its JSON)."""
        try:
            code, out = self.run([self.python, "-m", "edgeyolo.bench.agent", *args], timeout_s=120)
        except Expired:
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
            return last_line_json(out)
        except ValueError:
            raise RemoteError(f"{self.device.host}: {self.python} -m edgeyolo.bench.agent printed no JSON: "
                              f"{out.strip()[-200:]!r}") from None  # fmt: skip

    def upload_tree(self, files: Sequence[tuple[Path, str]]) -> None:
        """Copy (local file, remote path) pairs; every remote path must lie inside the work folder."""
        targets = [(local, self.path(remote)) for local, remote in files]  # all checked before any copy
        for local, remote in targets:
            self.makedirs(posixpath.dirname(remote))
            self.sftp.put(str(local), remote)


def check_known_hosts(path: Path) -> None:
    """Refuse known_hosts files with @revoked / @cert-authority lines: paramiko cannot honour them, and
    ignoring a revocation would be unsafe."""
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.lstrip().startswith("@"):
            marker = line.split()[0]
            raise RemoteError(f"{path}:{n}: {marker} lines are not supported; pass --known-hosts with a file "
                              "that holds plain 'host keytype key' lines for your devices")  # fmt: skip


class SaveNewKey:
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


def transport_errors() -> tuple[type[BaseException], ...]:
    import paramiko

    return (paramiko.SSHException, EOFError, OSError, ValueError)


def last_line_json(output: str) -> Any:
    """The JSON on the last line of a remote command's output (where the agent and device setup's probes
    print it).

    Raises:
        ValueError: the output is empty or its last line is not JSON.
    """
    lines = output.strip().splitlines()
    if not lines:
        raise ValueError("no output")
    return json.loads(lines[-1])
