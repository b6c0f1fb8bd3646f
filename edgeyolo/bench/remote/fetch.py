"""What comes back from a device: its records (each line checked) and the per-image evaluation sidecars."""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path

from edgeyolo._io import jsonl_lines, sha256_file
from edgeyolo.bench.remote.session import Log, RemoteError, Session
from edgeyolo.bench.rounds import per_image_dir
from edgeyolo.bench.store import SCHEMA, missing_field
from edgeyolo.errors import EdgeYoloError


def remote_records(s: Session, path: str) -> list[dict | str]:
    """The device's records in ``path``, in order; a malformed line is a string that says what is wrong."""
    try:
        with s.sftp.open(path, "r") as f:
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return [_parse_record(line, n) for n, line in jsonl_lines(text)]


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
    missing = missing_field(rec)
    if missing:
        return f"line {lineno} is a record without {missing}"
    acc = rec.get("accuracy")
    if acc and not (isinstance(acc, dict) and "dataset" in acc):
        return f"line {lineno} has an 'accuracy' without 'dataset'"
    return rec


def fetch_per_image(s: Session, rec: dict, remote_out: str, out: str | Path, log: Log) -> None:
    """Copy the round's per-image evaluation (the bootstrap sidecar) next to the local results file ``out``; a
    record whose sidecar cannot be fetched keeps its intervals and loses only the paired comparisons."""
    per_image = rec["accuracy"].get("per_image")
    if not isinstance(per_image, dict):
        return
    rel, want = str(per_image.get("file")), per_image.get("sha256")
    if not re.fullmatch(r"[A-Za-z0-9._-]+\.per-image/[0-9a-f]{16}-[0-9a-f]{12}\.npz", rel):
        rec["accuracy"].pop("per_image")
        return
    local_dir = per_image_dir(out)
    local_dir.mkdir(parents=True, exist_ok=True)
    name = rel.rsplit("/", 1)[1]
    tmp = local_dir / f".{name}.part"
    try:
        s.sftp.get(s.path(posixpath.join(posixpath.dirname(remote_out), rel)), str(tmp))
        if sha256_file(tmp) != want:
            raise RemoteError(f"{name} arrived with another checksum")
        os.replace(tmp, local_dir / name)
    except (EdgeYoloError, OSError) as e:
        tmp.unlink(missing_ok=True)
        rec["accuracy"].pop("per_image")
        log(f"per-image evaluation not fetched ({e}); paired comparisons skip this candidate")
        return
    per_image["remote_file"] = rel
    per_image["file"] = f"{local_dir.name}/{name}"
