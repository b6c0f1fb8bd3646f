"""Reading benchmark records: a candidate's name, the device a record comes from, one device's records, the
newest record of each candidate, the error records still standing, and the val images an accuracy was
measured on."""

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


def latest_errors(records: Sequence[dict]) -> list[dict]:
    """The error records that are the latest word on their candidate (same device profile and artifact): an
    error followed later in the results by an ok record (``--resume`` measured it after all) or by another
    error of the same candidate is superseded and left out."""
    last: dict[tuple, int] = {}
    for i, rec in enumerate(records):
        last[_candidate_key(rec)] = i
    return [r for i, r in enumerate(records) if r.get("status") != "ok" and last[_candidate_key(r)] == i]


def _candidate_key(rec: dict) -> tuple:
    return ((rec.get("device") or {}).get("profile"), (rec.get("candidate") or {}).get("artifact"))


ValSet = tuple[str | None, str, int | None, str | None]  # dataset, split, images, digest of the image list


def val_set(rec: dict, digest: str | None = None) -> ValSet | None:
    """What identifies the images a record's mAP was measured on: (dataset, split, image count, digest of the
    image names in order, from the record's per-image data or else ``digest``; None when unknown). None for a
    record without a mAP."""
    acc = rec.get("accuracy") or {}
    if acc.get("map50_95") is None:
        return None
    per_image = acc.get("per_image") if isinstance(acc.get("per_image"), dict) else {}
    images = acc.get("images") or per_image.get("images")
    return (acc.get("dataset"), acc.get("split") or "val", images, per_image.get("image_digest") or digest)


def same_val_set(a: ValSet, b: ValSet) -> bool:
    """Whether two val sets are the same images: same dataset, split and count, and the same image list where
    both records know it (``--accuracy-images 50`` after a full-val run gives another count)."""
    return a[:3] == b[:3] and (a[3] is None or b[3] is None or a[3] == b[3])


def val_set_labels(sets: Sequence[ValSet]) -> list[str]:
    """``500 images of /data/d.yaml (val)`` for each val set; the image list's digest is added where two labels
    would otherwise read the same."""
    plain = [
        f"{f'{n} images' if n else 'images'} of {ds or 'an unnamed dataset'} ({split})"
        for ds, split, n, _ in sets
    ]
    return [
        f"{label}, image list {s[3]}" if plain.count(label) > 1 and s[3] else label
        for label, s in zip(plain, sets)
    ]
