"""``manifest.json``: what an artifact is, written next to it."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from edgeyolo._io import write_json_atomic
from edgeyolo._version import __version__
from edgeyolo.runtime.base import MANIFEST, MANIFEST_SCHEMA, folder_sha256

# Packages published under more than one distribution name (same import name, same versions).
_DISTRIBUTIONS = {"ultralytics": ("ultralytics", "ultralytics-opencv-headless")}


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named packages (absent ones are left out)."""
    out = {"edgeyolo": __version__, "python": platform.python_version()}
    for n in names:
        for dist in _DISTRIBUTIONS.get(n, (n,)):
            try:
                out[n] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def write_manifest(root: Path, **fields: Any) -> Path:
    """Write ``root/manifest.json`` with the schema tag, the checksum of the model files now in ``root``
    (``bench`` refuses an artifact whose files no longer match it) and the creation time added."""
    fields.pop("sha256", None)
    manifest = {"schema": MANIFEST_SCHEMA, **fields, "sha256": folder_sha256(root),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    return write_json_atomic(root / MANIFEST, manifest)
