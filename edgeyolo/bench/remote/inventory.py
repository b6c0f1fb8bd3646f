"""Where the devices are: ``user@host[:port]`` strings, ``devices.yaml`` inventories and the work folder rules.

A :class:`Device` names its host, its profile, the key to log in with, its Python and its work folder, under
which every remote file lives; a work folder that is ``/``, a home folder or a system folder is refused.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgeyolo.errors import ConfigError, EdgeYoloError
from edgeyolo.profiles import DeviceProfile, load_profile

DEFAULT_WORKDIR = "~/.cache/edgeyolo-remote"
# Folders a work folder must not be, nor lie in: edgeyolo writes (and overwrites) files under it.
_SYSTEM_DIRS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr")  # fmt: skip


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
            python=str(d.get("python", "python3")), workdir=check_workdir(str(d.get("workdir", DEFAULT_WORKDIR)), where),
        )  # fmt: skip
    return out


def remote_devices(
    hosts: Sequence[str], inventory: str | Path | None = None, names: Sequence[str] = (), *,
    python: str = "python3", workdir: str | None = None,
) -> list[Device]:  # fmt: skip
    """Devices from ``--host`` values and/or an inventory (only ``names`` of it, when given)."""
    devices = [Device(name=str(h), host=h, python=python, workdir=check_workdir(workdir or DEFAULT_WORKDIR, "--remote-workdir"))
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


def check_workdir(workdir: str, where: str) -> str:
    """``workdir`` without its trailing ``/``, or ConfigError (naming ``where``) when it is refused."""
    if not (workdir.startswith("/") or workdir == "~" or workdir.startswith("~/")):
        raise ConfigError(f"{where}: workdir '{workdir}' must be absolute or start with ~/")
    if ".." in workdir.split("/"):
        raise ConfigError(f"{where}: workdir '{workdir}' must not contain '..'")
    problem = workdir_problem(workdir)
    if problem:
        raise ConfigError(f"{where}: workdir '{workdir}' is {problem}")
    return workdir.rstrip("/") or "/"


def workdir_problem(workdir: str, home: str | None = None) -> str | None:
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
