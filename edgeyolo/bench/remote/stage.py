"""What a device needs before it measures, copied under its work folder once per content.

The device profile (a YAML file named by its checksum), the val split (its images and labels with a
data.yaml, in a folder named by their checksums) and each artifact folder (checked with the agent's
``sha256`` before and after the copy).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from edgeyolo._io import sha256_file
from edgeyolo.bench.remote.session import Log, RemoteError, Session
from edgeyolo.profiles import DeviceProfile


def safe_name(name: str) -> str:
    """``name`` as one path component of any file system (at most 80 characters)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "x"


def stage_profile(s: Session, profile: DeviceProfile) -> str:
    """The profile on the device (written once per content); its path there."""
    text = yaml.safe_dump(profile.to_dict(), sort_keys=False)
    remote = s.path(
        "profiles",
        f"{safe_name(profile.name)}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml",
    )
    if not s.exists(remote):
        s.makedirs(posixpath.dirname(remote))
        s.write_text(remote, text)
    return remote


def stage_val_split(s: Session, data: Path, limit: int | None, log: Log) -> tuple[str, int]:
    """The val split of ``data`` (its first ``limit`` images) on the device, copied once per content; its
    data.yaml there and its number of images."""
    data_yaml, files = _val_files(data, limit)
    images = sum(1 for _, rel in files if rel.startswith("images/"))
    folder = s.path("datasets", _digest(files, json.dumps(data_yaml, sort_keys=True))[:16])
    marker = posixpath.join(folder, ".complete")
    if s.exists(marker):
        log(f"val split ({len(files)} files) already on the device")
    else:
        log(f"copying the val split ({len(files)} files) to {folder}")
        s.upload_tree([(local, posixpath.join(folder, rel)) for local, rel in files])
        data_text = yaml.safe_dump({"path": folder, **data_yaml}, sort_keys=False)
        s.write_text(posixpath.join(folder, "data.yaml"), data_text)
        s.write_text(marker, "ok\n")
    return posixpath.join(folder, "data.yaml"), images


def stage_artifact(s: Session, artifact: Path, sha: str, log: Log) -> str:
    """The artifact folder on the device (copied unless it is there with checksum ``sha``); its path there."""
    remote = s.path("artifacts", f"{sha[:16]}-{safe_name(artifact.name)}")
    if s.agent("sha256", remote).get(remote) == sha:
        log(f"{artifact.name}: already on the device (sha256 {sha[:12]})")
        return remote
    files = sorted(p for p in artifact.iterdir() if p.is_file())
    log(f"{artifact.name}: copying {len(files)} files to {remote}")
    s.upload_tree([(f, posixpath.join(remote, f.name)) for f in files])
    got = s.agent("sha256", remote).get(remote)
    if got != sha:
        raise RemoteError(f"{s.device.host}: {artifact.name} arrived with checksum {got}, expected {sha}")
    return remote


def _val_files(data: Path, limit: int | None) -> tuple[dict, list[tuple[Path, str]]]:
    """The val split to copy: its data.yaml content (relative to the copy) and (local file, relative path)."""
    from edgeyolo.data.yolo import label_path_for, load_dataset, load_split

    ds = load_dataset(data)
    files = []
    for i, item in enumerate(load_split(ds, "val", limit=limit)):
        stem = f"{i:06d}_{safe_name(item.path.stem)}"
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
