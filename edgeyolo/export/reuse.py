"""Whether an artifact already in the output folder is the one this export would make, so it can be kept.

An artifact is kept only when the same settings would produce it; anything else is exported again:

- its files still match the checksum its manifest recorded, and the manifest is complete (``output``: it was
  loaded back with its runtime after export);
- the same format, precision and runtime;
- the same source weights (sha256);
- the same input shape (a manifest's ``imgsz`` is ``[h, w]``; an int, from before camera shapes, is square);
- the same output rows: ``max_det`` as the graph holds it (``min(max_det, anchors)``: a 64 px input has 84
  anchors, so ``--max-det 300`` and ``--max-det 200`` give the same graph there);
- INT8: the same calibration, i.e. dataset (resolved path), split, number of images and fraction (manifests that
  predate the recorded fraction are judged on the number of images) and, for a format edgeyolo quantizes itself (ONNX INT8),
  its current quantization settings;
- parity: an artifact whose parity check failed (kept with ``allow_degraded``) is kept only when
  ``allow_degraded`` is set again; without it, it is exported again (and, with data, checked again).

With data, an artifact that is kept must also carry a parity check on that data: when it has none (exported
without data), or one on another dataset or number of images (or one from before edgeyolo recorded which), its
files are kept and the check runs on them, with the same consequence as after an export (a failure removes it
unless ``allow_degraded``). Exporting again would give the same files from the same settings; the check is what
was missing. Without data, the parity on record stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgeyolo.formats import FORMAT_TABLE, load
from edgeyolo.shapes import Shape, shape_of

if TYPE_CHECKING:
    from edgeyolo.profiles import TargetSpec


@dataclass(frozen=True)
class Reuse:
    """What to do with an artifact folder that already exists."""

    keep: bool  # the files are what this export would make
    why: str = ""  # why it is exported again (when not kept)
    check_parity: bool = False  # kept, but the parity check on the given data must run on it
    warnings: tuple[str, ...] = field(default_factory=tuple)  # said about the kept (or replaced) artifact


def calibration_block(data: Path, images: int, fraction: float) -> dict:
    """The manifest's ``calibration`` for INT8 (``quantization`` is added for ONNX INT8)."""
    return {"dataset": str(Path(data).resolve()), "split": "val", "images": images, "fraction": fraction}


def parity_source(data: Path, parity_images: int) -> dict:
    """What a parity check ran on, as its report records it: the dataset and the number of images asked for."""
    return {"dataset": str(Path(data).resolve()), "limit": parity_images}


def decide(
    dest: Path,
    *,
    weights_sha: str,
    shape: Shape,
    target: TargetSpec,
    rows: int,
    calibration: dict | None,
    data: Path | None,
    parity_images: int,
    allow_degraded: bool,
) -> Reuse:
    """Whether the artifact in ``dest`` is kept (see the module doc for the rules).

    Args:
        dest: the artifact folder (it may not exist).
        weights_sha: sha256 of the weights being exported.
        shape: the input shape being exported.
        target: the format, precision and runtime being exported.
        rows: the output rows this export's graph has (``output_rows(shape, max_det)``).
        calibration: the calibration block this export would record (INT8), else None.
        data: the dataset given for calibration and parity, or None.
        parity_images: val images the parity check compares.
        allow_degraded: an artifact whose parity failed may be kept.
    """
    from edgeyolo.errors import ArtifactError, ConfigError
    from edgeyolo.runtime.base import load_artifact, verify_artifact

    try:
        art = load_artifact(dest)
        verify_artifact(art)  # files changed since (or a manifest without a checksum)
    except ArtifactError as e:
        return Reuse(False, f"not a complete artifact ({e})")
    m = art.manifest
    if "output" not in m:
        return Reuse(False, "its export did not finish (no output in the manifest)")
    for key in ("format", "precision", "runtime"):
        if m.get(key) != getattr(target, key):
            return Reuse(False, f"{key} {m.get(key)} differs from {getattr(target, key)}")
    if (m.get("source_weights") or {}).get("sha256") != weights_sha:
        return Reuse(False, "exported from other weights")
    try:
        had = shape_of(m.get("imgsz"))
    except ConfigError:
        return Reuse(False, f"input size {m.get('imgsz')!r} unreadable")
    if had != shape:
        return Reuse(False, f"input {had} differs from {shape}")
    if m.get("max_det") != rows:
        return Reuse(False, f"{m.get('max_det')} output rows (max_det), {rows} asked")
    why = _calibration_differs(m, calibration)
    if why:
        return Reuse(False, why)
    parity = m.get("parity") or {}
    notes: tuple[str, ...] = ()
    if parity.get("status") == "failed":
        if not allow_degraded:
            note = f"the artifact there failed its parity check ({parity.get('reason')}); exported again"
            return Reuse(False, "its parity check failed", warnings=(note,) if data is None else ())
        notes = (f"parity failed: {parity.get('reason')} (kept: --allow-degraded)",)
    elif parity.get("status") == "degraded":
        notes = (f"parity degraded: {parity.get('reason')}",)
    if data is not None and {k: parity.get(k) for k in ("dataset", "limit")} != parity_source(
        data, parity_images
    ):
        return Reuse(True, check_parity=True)  # the check's outcome replaces the notes on the old one
    return Reuse(True, warnings=notes)


def _calibration_differs(manifest: dict, want: dict | None) -> str:
    """Why the recorded INT8 calibration is not the one asked for ("" when it is)."""
    if want is None:
        return ""
    have = manifest.get("calibration") or {}
    for key in ("dataset", "split", "images"):
        if have.get(key) != want[key]:
            return f"calibration {key} {have.get(key)!r} differs from {want[key]!r}"
    if "fraction" in have and have["fraction"] != want["fraction"]:
        return f"calibration fraction {have['fraction']} differs from {want['fraction']}"
    fmt = FORMAT_TABLE.get(manifest.get("format", ""))
    if fmt is not None and fmt.quantization:  # quantized by edgeyolo: the way this version does
        if have.get("quantization") != load(fmt.quantization):
            return "quantized with other settings"
    return ""
