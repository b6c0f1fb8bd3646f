"""edgeyolo: the best YOLO26 detector a named edge device can run.

The public API is re-exported here lazily so that ``import edgeyolo`` stays cheap and torch-free.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from edgeyolo._version import __version__

_API = {
    "load_profile": "edgeyolo.profiles",
    "list_profiles": "edgeyolo.profiles",
    "DeviceProfile": "edgeyolo.profiles",
    "synthesize": "edgeyolo.data.synth",
    "SynthConfig": "edgeyolo.data.synth",
    "load_dataset": "edgeyolo.data.yolo",
    "train": "edgeyolo.train",
    "TrainConfig": "edgeyolo.train",
    "export": "edgeyolo.export",
    "ExportConfig": "edgeyolo.export",
    "benchmark": "edgeyolo.bench",
    "BenchConfig": "edgeyolo.bench",
    "load_runtime": "edgeyolo.runtime",
    "select": "edgeyolo.select",
    "report": "edgeyolo.report",
    "run_pipeline": "edgeyolo.pipeline",
    "PipelineConfig": "edgeyolo.pipeline",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'edgeyolo' has no attribute {name!r}")
