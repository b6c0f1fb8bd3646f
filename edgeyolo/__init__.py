"""edgeyolo: the best YOLO26 detector a named edge device can run.

The Python API lives in :mod:`edgeyolo.api` (``from edgeyolo.api import train, TrainConfig``); the names
below are re-exported lazily so that ``import edgeyolo`` stays cheap and torch-free.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from edgeyolo._version import __version__

_API = {
    "load_profile": "edgeyolo.profiles",
    "list_profiles": "edgeyolo.profiles",
    "DeviceProfile": "edgeyolo.profiles",
    "load_runtime": "edgeyolo.runtime",
    "api": "edgeyolo.api",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name == "api":
        return import_module("edgeyolo.api")
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'edgeyolo' has no attribute {name!r}")
