"""Torch-free runtimes for exported artifacts.

Backends are listed in the registry (:mod:`edgeyolo.formats`, each ``RuntimeInfo.backend``) and imported only
when used, so this package imports neither torch nor ultralytics, and a device only needs the runtime it
actually runs; a backend's own Python module comes through :func:`require`, which names the runtime's pip extra
when it is missing.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from types import ModuleType

from edgeyolo.errors import BackendUnavailableError, UnknownNameError
from edgeyolo.formats import RUNTIME_TABLE, RuntimeInfo, default_runtime, formats_run_by, load
from edgeyolo.runtime.base import Artifact, Runtime, RuntimeOptions, StageTimes, load_artifact
from edgeyolo.runtime.preprocess import LetterboxInfo, Preprocessor, decode_end2end
from edgeyolo.runtime.types import Detections

BackendInfo = RuntimeInfo  # the registry's record of a runtime (its backend class: ``.backend``)
RUNTIMES = RUNTIME_TABLE  # name -> RuntimeInfo, live


IMAGE_HINT = "EDGEYOLO_MISSING_RUNTIME_HINT"  # set by docker/*.Dockerfile


def require(runtime: str, module: str, *fallbacks: str, needs: str = "", note: str = "") -> ModuleType:
    """The Python module a backend runs on: ``module``, else the first of ``fallbacks`` that imports.

    Raises:
        BackendUnavailableError: none is installed; the message names the runtime's pip extra (and ``needs``,
            what is missing, and ``note``, another way to get it, when given).
    """
    for name in (module, *fallbacks):
        try:
            return import_module(name)
        except ImportError:
            continue
    what = f" {needs}" if needs else ""
    other = f" ({note})" if note else ""
    # edgeyolo's container images have no pip: they say how to rebuild with the runtime instead.
    image = f"; {os.environ[IMAGE_HINT]}" if os.environ.get(IMAGE_HINT) else ""
    raise BackendUnavailableError(
        f"{runtime} runtime needs{what}: pip install 'edgeyolo[{RUNTIMES[runtime].extra}]'{other}{image}"
    )


def runtime_class(name: str) -> type[Runtime]:
    if name not in RUNTIMES:
        raise UnknownNameError(f"Unknown runtime '{name}'; known: {', '.join(RUNTIMES)}.")
    return load(RUNTIMES[name].backend)


def load_runtime(
    artifact: str | Path | Artifact, runtime: str | None = None, threads: int | None = None
) -> Runtime:
    """Open an artifact folder with its runtime (the format's default unless named)."""
    art = artifact if isinstance(artifact, Artifact) else load_artifact(artifact)
    name = runtime or art.manifest.get("runtime") or default_runtime(art.format)
    if name is None:
        raise UnknownNameError(
            f"No runtime for format '{art.format}'; known runtimes: {', '.join(RUNTIMES)}."
        )
    if name in RUNTIMES and art.format not in formats_run_by(name):
        raise UnknownNameError(
            f"Runtime '{name}' cannot run format '{art.format}'; use {default_runtime(art.format)}."
        )
    return runtime_class(name)(art, RuntimeOptions(threads=threads))


__all__ = [
    "RUNTIMES", "Artifact", "BackendInfo", "Detections", "LetterboxInfo", "Preprocessor", "Runtime",
    "RuntimeOptions", "StageTimes", "decode_end2end", "load_artifact", "load_runtime", "runtime_class",
]  # fmt: skip
