"""The runtime interface and the artifact manifest reader."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeyolo.errors import ArtifactError
from edgeyolo.runtime.preprocess import LetterboxInfo, Preprocessor, decode_end2end
from edgeyolo.runtime.types import Detections

if TYPE_CHECKING:
    from edgeyolo.runtime.streams import StreamSet

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "edgeyolo.artifact/1"


@dataclass(frozen=True)
class Artifact:
    """An exported model folder: the model file(s) plus ``manifest.json``."""

    root: Path
    manifest: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.root / self.manifest["file"]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.manifest["names"])

    @property
    def shape(self) -> tuple[int, int]:
        """The network input ``(h, w)``: the manifest's ``imgsz`` ``[h, w]``, or one integer (square) as manifests
        written before camera-shaped inputs have it."""
        v = self.manifest["imgsz"]
        return (int(v), int(v)) if isinstance(v, (int, float)) else (int(v[0]), int(v[1]))

    @property
    def imgsz(self) -> int:
        """The long side of the input (the size a square artifact is named by)."""
        return max(self.shape)

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]


_REQUIRED_KEYS = ("schema", "format", "precision", "imgsz", "names", "end2end", "file")


def load_artifact(path: str | Path) -> Artifact:
    """Read an artifact folder (or the model file inside one) and validate its manifest."""
    p = Path(path)
    root = p if p.is_dir() else p.parent
    mf = root / MANIFEST
    if not p.exists():
        raise ArtifactError(f"Artifact '{path}' not found; pass a folder written by 'edgeyolo export'.")
    if not mf.is_file():
        raise ArtifactError(f"'{root}' has no {MANIFEST}; pass a folder written by 'edgeyolo export'.")
    try:
        manifest = json.loads(mf.read_text())
    except json.JSONDecodeError as e:
        raise ArtifactError(
            f"{mf}: not valid JSON ({e.msg} at line {e.lineno}); re-export the artifact."
        ) from None
    missing = [k for k in _REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ArtifactError(
            f"{mf}: missing key '{missing[0]}'; re-export the artifact with 'edgeyolo export'."
        )
    if manifest["schema"] != MANIFEST_SCHEMA:
        raise ArtifactError(f"{mf}: schema '{manifest['schema']}' is not {MANIFEST_SCHEMA}; re-export it.")
    file = manifest["file"]
    # The checksum covers the files directly inside the folder: a model anywhere else would go unchecked.
    if not isinstance(file, str) or not file or (root / file).resolve().parent != root.resolve():
        raise ArtifactError(
            f"{mf}: 'file' is {file!r}, outside the artifact folder {root} (its checksum would not cover it); "
            "name a model file directly inside the folder (e.g. 'model.onnx') or re-export the artifact."
        )
    if not (root / file).exists():
        raise ArtifactError(f"{mf}: model file '{file}' is missing from {root}.")
    return Artifact(root=root, manifest=manifest)


def folder_sha256(root: Path) -> str:
    """Checksum of an artifact folder's model files (every file directly inside it but the manifest)."""
    import hashlib

    from edgeyolo._io import sha256_file

    h = hashlib.sha256()
    for f in sorted(p for p in Path(root).iterdir() if p.is_file() and p.name != MANIFEST):
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def artifact_sha256(artifact: Artifact) -> str:
    """Checksum of an artifact's model files (every file in its folder but the manifest)."""
    return folder_sha256(artifact.root)


def verify_artifact(artifact: Artifact) -> str:
    """The artifact's checksum, after checking it against the one its manifest recorded at export.

    Raises:
        ArtifactError: the files changed since export (a re-copied model, a partial sync), or the manifest
            has no checksum (written before edgeyolo recorded one).
    """
    mf = artifact.root / MANIFEST
    want = artifact.manifest.get("sha256")
    if not isinstance(want, str):
        raise ArtifactError(
            f"{mf}: no 'sha256' of the model files, so the artifact cannot be checked against its export; "
            "re-export it with 'edgeyolo export'."
        )
    got = artifact_sha256(artifact)
    if got != want:
        raise ArtifactError(
            f"{artifact.root}: the artifact changed since export (files checksum {got[:12]}, manifest.json says "
            f"{want[:12]}); re-export it, or copy the whole exported folder again."
        )
    return got


@dataclass
class StageTimes:
    """Wall time of each stage of one inference, in milliseconds."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0

    @property
    def end_to_end(self) -> float:
        return self.preprocess + self.inference + self.postprocess


@dataclass
class RuntimeOptions:
    threads: int | None = None  # intra-op CPU threads; None = the runtime's default
    extra: dict[str, Any] = field(default_factory=dict)


def timed_predict(
    preprocessor: Preprocessor,
    network: Callable[[np.ndarray], np.ndarray],
    select: Callable[[np.ndarray], np.ndarray],
    img_bgr: np.ndarray,
    conf: float = 0.25,
    classes: set[int] | None = None,
) -> tuple[Detections, StageTimes]:
    """Letterbox, ``network``, ``select`` (the end-to-end head's top-k where the graph lacks it) and decode one BGR
    image, each stage timed: what :meth:`Runtime.predict` and each stream of :meth:`Runtime.open_streams` do."""
    t0 = time.perf_counter()
    tensor, info = preprocessor(img_bgr)
    t1 = time.perf_counter()
    raw = network(tensor)
    t2 = time.perf_counter()
    det = decode_end2end(select(raw), info, conf=conf, classes=classes)
    t3 = time.perf_counter()
    return det, StageTimes((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)


class Runtime(ABC):
    """Runs one artifact: ``predict`` = letterbox + ``infer`` + NMS-free decode, each stage timed."""

    name: str = ""

    def __init__(self, artifact: Artifact, options: RuntimeOptions | None = None):
        self.artifact = artifact
        self.options = options or RuntimeOptions()
        if not artifact.manifest.get("end2end", False):
            raise ArtifactError(
                f"{artifact.root}: artifact is not end-to-end (NMS-free); edgeyolo runtimes decode [1, max_det, 6] only."
            )
        self.preprocessor = Preprocessor(*artifact.shape, dtype=self.input_dtype())
        self.last_times = StageTimes()
        self.load()

    def input_dtype(self) -> type:
        return np.float32

    @abstractmethod
    def load(self) -> None:
        """Create the session / compiled model."""

    @abstractmethod
    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Run the network on one NCHW tensor and return its raw output ``[1, max_det, 6]``."""

    def run_network(self, tensor: np.ndarray) -> np.ndarray:
        """The network alone, timed as inference; ``select_end2end`` of its output is ``infer``'s."""
        return self.infer(tensor)

    def select_end2end(self, raw: np.ndarray) -> np.ndarray:
        """``[1, max_det, 6]`` from ``run_network``'s output, timed as postprocess: the end-to-end head's
        top-k for graphs that stop before it (NCNN has no top-k layer); the identity for the others."""
        return raw

    def settings(self) -> dict:
        """The runtime settings in force (threads, streams, modes), as the runtime reports them."""
        return {}

    def versions(self) -> dict[str, str]:
        """Versions of the runtime libraries, for the benchmark record."""
        return {}

    @abstractmethod
    def io_spec(self) -> tuple[dict, dict]:
        """(input, output) as ``{name, shape, dtype}``, read from the loaded model."""

    def predict(self, img_bgr: np.ndarray, conf: float = 0.25, classes: set[int] | None = None) -> Detections:
        """Detections for one BGR image in original pixels; stage times go to ``last_times``."""
        det, self.last_times = timed_predict(
            self.preprocessor, self.run_network, self.select_end2end, img_bgr, conf, classes
        )
        return det

    def open_streams(self, n: int) -> StreamSet:
        """``n`` predictors that serve ``n`` concurrent streams, one thread each, the way this runtime does it
        best (see :mod:`edgeyolo.runtime.streams`). The default: ``n`` instances of this runtime, the threads
        split between them. Close the set when done."""
        from edgeyolo.runtime.streams import separate_instances

        return separate_instances(self, n)

    def preprocess(self, img_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxInfo]:
        return self.preprocessor(img_bgr)
