"""Reading benchmark records: a candidate's name, the device a record comes from, one device's records and
the newest record of each candidate."""

from __future__ import annotations

from collections.abc import Sequence

from edgeyolo.errors import ConfigError
from edgeyolo.shapes import Shape, shape_of


def record_shape(rec: dict) -> Shape | None:
    """A record's network input: its ``candidate.shape`` ([h, w]), or square ``imgsz`` in records from before
    camera-shaped inputs; None when the record names neither (an error record).

    Raises:
        ConfigError: the stored shape is not a size.
    """
    c = rec.get("candidate") or {}
    if c.get("shape") is not None:
        return shape_of(c["shape"])
    return Shape.square(int(c["imgsz"])) if c.get("imgsz") is not None else None


def candidate_name(rec: dict) -> str:
    """``model-<input>-format-precision``, the input as its label (``320`` square, ``320x192`` camera-shaped,
    WxH); a model run at another size than it was trained at is ``model-<trained>to<input>-format-precision``
    (e.g. yolo26n-480to320-onnx-fp32, yolo26n-480to320x192-onnx-int8). The training size is compared with the
    input's long side, so a 320x192 input of a model trained at 320 is plain ``yolo26n-320x192-...``."""
    c = rec["candidate"]
    train, shape = c.get("train_imgsz"), record_shape(rec)
    size = shape.label if shape is not None else f"{c.get('imgsz')}"
    long = shape.long if shape is not None else c.get("imgsz")
    sizes = f"{train}to{size}" if train and train != long else size
    return f"{c.get('model')}-{sizes}-{c.get('format')}-{c.get('precision')}"


def device_label(device: dict | None) -> str:
    """'profile @ hostname' of a record's ``device`` (what tells runs on different machines apart); for a device
    benchmarked over SSH, its name (the inventory name or user@host:port) instead of the hostname."""
    device = device or {}
    host, profile = device.get("name") or device.get("hostname"), device.get("profile")
    return f"{profile or '?'} @ {host}" if host else str(profile or "unknown device")


def devices_of(records: Sequence[dict]) -> list[str]:
    """The devices that produced successful records, in order of appearance."""
    return list(dict.fromkeys(device_label(r.get("device")) for r in records if r.get("status") == "ok"))


def records_of_device(records: Sequence[dict], device: str) -> list[dict]:
    """The records of one device, named by its label ('rpi5 @ pi'), hostname or profile.

    Error records that name no host (a candidate that failed before reaching a device) are kept.

    Raises:
        ConfigError: no device, or more than one, matches.
    """
    known = devices_of(records)

    def matches(rec: dict) -> bool:
        d = rec.get("device") or {}
        return device in (device_label(d), d.get("hostname"), d.get("profile"), d.get("name"), d.get("host"))

    hits = list(
        dict.fromkeys(
            device_label(r.get("device")) for r in records if r.get("status") == "ok" and matches(r)
        )
    )
    if len(hits) != 1:
        what = "matches no device" if not hits else f"matches {len(hits)} devices ({'; '.join(hits)})"
        raise ConfigError(f"--device '{device}' {what}; the records come from: {'; '.join(known) or 'none'}")
    return [r for r in records if device_label(r.get("device")) == hits[0]
            or (r.get("status") != "ok" and not (r.get("device") or {}).get("hostname") and matches(r))]  # fmt: skip


def latest_per_candidate(records: Sequence[dict]) -> list[dict]:
    """When a candidate was measured more than once on a device, the newest ok record counts."""
    latest: dict[tuple[str, str], dict] = {}
    for rec in records:
        if rec.get("status") == "ok":
            latest[(device_label(rec.get("device")), rec["candidate"]["artifact"])] = rec
    return list(latest.values())
