"""Reading benchmark records: a candidate's name, the device a record comes from, one device's records and
the newest record of each candidate."""

from __future__ import annotations

from collections.abc import Sequence

from edgeyolo.errors import ConfigError


def candidate_name(rec: dict) -> str:
    """``model-imgsz-format-precision``; a model run at another size than it was trained at is
    ``model-<trained>to<deployed>-format-precision`` (e.g. yolo26n-480to320-onnx-fp32)."""
    c = rec["candidate"]
    train, size = c.get("train_imgsz"), c.get("imgsz")
    sizes = f"{train}to{size}" if train and train != size else f"{size}"
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
