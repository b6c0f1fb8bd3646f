"""What the controller asks a remote device before benchmarking there: ``python -m edgeyolo.bench.agent``.

    info                      -> JSON: edgeyolo version, Python, which runtime packages import (and versions)
    sha256 DIR...             -> JSON: {DIR: artifact checksum or null} (the same checksum the records carry)
    run SECONDS -- ARGV...    -> runs ARGV in a process group of its own and ends that whole group when it
                                 runs longer than SECONDS, or when the controller goes away (this process's
                                 stdin closes: the SSH channel closed or the connection dropped)

Torch-free, and it imports each runtime package (the registry's, :mod:`edgeyolo.formats`) only to read its
version. ``run`` imports nothing of edgeyolo: device setup runs this file with the device's own Python before
edgeyolo is installed there.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

PGID_LINE = "edgeyolo.bench.agent: process group "  # first line of ``run``: which group to kill if need be
TIMEOUT_LINE = "edgeyolo.bench.agent: timed out after "  # last line of ``run`` when its limit ended it
TIMEOUT_EXIT = 124  # the exit code of ``run`` when its limit ended it (as coreutils' timeout)
KILL_GRACE_S = 5.0  # SIGTERM first (the bench worker removes its temp files), SIGKILL after this long


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # an ImportError, or a broken install that fails while importing
        return None
    return str(getattr(mod, "__version__", None) or getattr(mod, "get_version", lambda: "unknown")())


def info() -> dict:
    from edgeyolo._version import __version__
    from edgeyolo.formats import RUNTIME_TABLE

    return {
        "edgeyolo": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "machine": platform.machine(),
        "runtimes": {name: _version(rt.module) for name, rt in RUNTIME_TABLE.items()},
    }


def checksums(folders: list[str]) -> dict[str, str | None]:
    from edgeyolo.errors import ArtifactError
    from edgeyolo.runtime.base import artifact_sha256, load_artifact

    out: dict[str, str | None] = {}
    for folder in folders:
        try:
            out[folder] = artifact_sha256(load_artifact(folder))
        except (ArtifactError, OSError):
            out[folder] = None
    return out


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies, already dead, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def kill_group(pgid: int, child: subprocess.Popen | None = None, grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the whole process group, SIGKILL what is left after ``grace_s``; return once it is gone."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if child is not None:
                child.poll()  # reap our own child, or it stays a zombie of the group
            if not _group_alive(pgid):
                return
            time.sleep(0.05)


def run(limit_s: float, argv: list[str]) -> int:
    """Run ``argv`` in its own process group and end the whole group (the command and every process it
    started) when it outlives ``limit_s`` or when the controller goes away; return its exit code, or
    :data:`TIMEOUT_EXIT` when the limit ended it."""
    gone = threading.Event()

    def watch_stdin() -> None:
        """Returns at EOF: sshd closed the channel (the controller closed it, or the connection dropped)."""
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        gone.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: gone.set())
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
    print(f"{PGID_LINE}{child.pid}", flush=True)
    threading.Thread(target=watch_stdin, daemon=True).start()
    deadline = time.monotonic() + limit_s
    while child.poll() is None and not gone.is_set() and time.monotonic() < deadline:
        gone.wait(0.1)
    ended = child.returncode is not None
    timed_out = not ended and not gone.is_set()
    kill_group(child.pid, child)  # also whatever the command left behind when it ended by itself
    if timed_out:
        print(f"{TIMEOUT_LINE}{limit_s:g} s; stopped its process group {child.pid}", flush=True)
        return TIMEOUT_EXIT
    return child.returncode if ended else 1  # not ended: the controller went away, nobody reads this


def main(argv: list[str]) -> int:
    if argv[:1] == ["info"]:
        print(json.dumps(info()))
        return 0
    if argv[:1] == ["sha256"]:
        print(json.dumps(checksums(argv[1:])))
        return 0
    if argv[:1] == ["run"] and len(argv) >= 4 and argv[2] == "--":
        try:
            limit_s = float(argv[1])
        except ValueError:
            limit_s = -1.0
        if limit_s > 0:
            return run(limit_s, argv[3:])
    usage = "usage: python -m edgeyolo.bench.agent info | sha256 DIR... | run SECONDS -- ARGV..."
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
