"""Moving a sweep's outputs between a Ray node and the driver: tars without caches, unpacked whole into place
with the paths they name rewritten (``edgeyolo.sweep_ray``); training arguments saved in checkpoints."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path

_CACHES = ("val_curves.npz", "__pycache__")  # not shipped: recomputed where needed
_TEXT = (".yaml", ".yml", ".json", ".jsonl", ".csv", ".txt")


def scratch_dir(out: str | Path) -> Path:
    """A node's working folder for a sweep into ``out`` when ``out`` is not shared (the same path on every node)."""
    key = hashlib.sha1(str(Path(out).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "edgeyolo-ray" / key


def pack(root: Path, units: list[str]) -> bytes:
    """A tar of the files and folders ``units`` (relative to ``root``) without caches."""
    buf = io.BytesIO()

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        name = Path(info.name).name
        return None if name in _CACHES or name.endswith((".cache", ".lock", ".tmp")) else info

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for unit in units:
            if (root / unit).exists():
                tar.add(root / unit, arcname=unit, filter=keep)
    return buf.getvalue()


def unpack(blob: bytes, root: Path, units: list[str], src: str, dst: str) -> None:
    """Write ``units`` from ``blob`` into ``root``, each replacing what was there as a whole, with the paths under
    ``src`` in its text files and in ``last.pt``'s arguments rewritten to ``dst``."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            tar.extractall(tmp, filter="data")
        if src != dst:
            _rewrite(tmp, root, src, dst)
        for unit in units:
            new, old = tmp / unit, root / unit
            if not new.exists():
                continue
            old.parent.mkdir(parents=True, exist_ok=True)
            if old.is_dir():
                old.rename(tmp / f".old-{os.getpid()}-{threading.get_ident()}")
            os.replace(new, old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rewrite(tmp: Path, root: Path, src: str, dst: str) -> None:
    old, new = (src.rstrip("/") + "/").encode(), (dst.rstrip("/") + "/").encode()
    for f in tmp.rglob("*"):
        if f.is_file() and f.suffix in _TEXT:
            b = f.read_bytes()
            if old in b:
                f.write_bytes(b.replace(old, new))
        elif f.name == "last.pt" and f.parent.name == "weights":
            retarget_checkpoint(f, root / f.parent.parent.relative_to(tmp))


def retarget_checkpoint(last: Path, run_dir: Path) -> None:
    """Point a ``last.pt``'s saved ``save_dir`` at ``run_dir``: the library resumes into the folder its checkpoint
    names, and a run moved between a node's scratch and ``out`` must resume where it now is."""
    set_train_args(last, save_dir=str(run_dir), project=str(run_dir.parent), name=run_dir.name)


def set_train_args(weights: Path, **values: str) -> bool:
    """Set training arguments saved in a checkpoint (replaced atomically); False when it already holds them."""
    import torch

    ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    args = ckpt.get("train_args") if isinstance(ckpt, dict) else None
    if not isinstance(args, dict) or all(args.get(k) == v for k, v in values.items()):
        return False
    args.update(values)
    part = weights.with_name(weights.name + ".tmp")
    torch.save(ckpt, part)
    os.replace(part, weights)
    return True
