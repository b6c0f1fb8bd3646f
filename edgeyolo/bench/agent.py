"""What the controller asks a remote device before benchmarking there: ``python -m edgeyolo.bench.agent``.

    info              -> JSON: edgeyolo version, Python, which runtime packages import (and their versions)
    sha256 DIR...     -> JSON: {DIR: artifact checksum or null} (the same checksum the records carry)

Torch-free, and it imports each runtime package only to read its version.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys

# runtime name in a manifest -> (module to import, pip extra that installs it)
RUNTIME_PACKAGES = {
    "onnxruntime": ("onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino"),
    "tensorrt": ("tensorrt", "tensorrt"),
}


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # an ImportError, or a broken install that fails while importing
        return None
    return str(getattr(mod, "__version__", None) or getattr(mod, "get_version", lambda: "unknown")())


def info() -> dict:
    from edgeyolo._version import __version__

    return {
        "edgeyolo": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "machine": platform.machine(),
        "runtimes": {name: _version(module) for name, (module, _) in RUNTIME_PACKAGES.items()},
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


def main(argv: list[str]) -> int:
    if argv[:1] == ["info"]:
        print(json.dumps(info()))
        return 0
    if argv[:1] == ["sha256"]:
        print(json.dumps(checksums(argv[1:])))
        return 0
    print("usage: python -m edgeyolo.bench.agent info | sha256 DIR...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
