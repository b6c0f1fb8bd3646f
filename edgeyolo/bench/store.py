"""The results file: one JSON benchmark record per line, appended as each candidate finishes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeyolo._io import append_jsonl, jsonl_lines
from edgeyolo.errors import ResultsError
from edgeyolo.formats import FORMATS

SCHEMA = "edgeyolo.bench/1"


def record_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a benchmark record, shipped as ``edgeyolo/bench/record.schema.json``."""
    from importlib import resources

    schema = json.loads(
        resources.files(__package__).joinpath("record.schema.json").read_text(encoding="utf-8")
    )
    # The formats a record may name are the registry's (a format registered later included).
    schema["properties"]["candidate"]["properties"]["format"]["enum"] = list(FORMATS)
    return schema


def schema_errors(record: dict) -> list[str]:
    """Where ``record`` breaks the record schema ('latency_ms.end_to_end: 'p90' is a required property', ...);
    empty when it is valid. Needs the ``jsonschema`` package."""
    try:
        import jsonschema
    except ImportError:
        from edgeyolo.errors import BackendUnavailableError

        raise BackendUnavailableError("validating records needs jsonschema: pip install jsonschema") from None
    validator = jsonschema.Draft202012Validator(record_schema())
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '(record)'}: {e.message}"
            for e in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))]  # fmt: skip


def record_line(rec: dict) -> str:
    """One line for progress output: '✅ artifact [on device]: e2e p50/p90/p99, mAP50-95, peak RSS[, streams]' or
    '❌ ...'."""
    from edgeyolo.bench.streams import streams_text

    name = Path(rec["candidate"].get("artifact", "?")).name
    if rec["device"].get("name"):
        name = f"{name} on {rec['device']['name']}"
    if rec["status"] != "ok":
        return f"❌ {name}: {rec['message']}"
    e2e = rec["latency_ms"]["end_to_end"]
    acc = rec.get("accuracy") or {}
    m, ci = acc.get("map50_95"), (acc.get("ci") or {}).get("map50_95")
    p90_ci = ((rec.get("latency_ci_ms") or {}).get("end_to_end") or {}).get("p90")
    rounds = (rec.get("settings") or {}).get("rounds")
    return (f"✅ {name}: e2e p50 {e2e['p50']:.2f} ms, p90 {e2e['p90']:.2f} ms"
            + (f" ({p90_ci[0]:.2f}-{p90_ci[1]:.2f} over {rounds} rounds)" if p90_ci and rounds and rounds > 1 else "")
            + f", p99 {e2e['p99']:.2f} ms; mAP50-95 {'n/a' if m is None else f'{m:.4f}'}"
            + (f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
            + f"; peak RSS {rec['memory_mb']['peak_rss']} MB"
            + (f"; streams: {streams_text(rec['streams'])}" if rec.get("streams") else ""))  # fmt: skip


def append_record(path: str | os.PathLike, record: dict) -> None:
    append_jsonl(path, record)


def resolve_sidecars(record: dict, results: str | os.PathLike) -> dict:
    """Add the absolute ``path`` of a record's per-image evaluation (``accuracy.per_image.file`` is relative to the
    results file's folder), for readers that get the record without its file; in memory only."""
    per_image = (record.get("accuracy") or {}).get("per_image")
    if isinstance(per_image, dict) and isinstance(per_image.get("file"), str):
        per_image["path"] = str((Path(results).resolve().parent / per_image["file"]).resolve())
    return record


# What select, report and compare read from a record (the full contract is record.schema.json).
_REQUIRED = {
    "ok": ("status", "candidate.artifact", "candidate.model", "candidate.imgsz", "candidate.format",
           "candidate.precision", "device.profile", "latency_ms.end_to_end.p50", "latency_ms.end_to_end.p90",
           "latency_ms.end_to_end.p95", "latency_ms.end_to_end.p99", "latency_ms.end_to_end.mean"),
    "error": ("status", "message", "candidate.artifact", "device"),
}  # fmt: skip


def missing_field(rec: dict) -> str | None:
    for dotted in _REQUIRED.get(rec.get("status"), ("status",)):
        node: object = rec
        for key in dotted.split("."):
            if not isinstance(node, dict) or key not in node:
                return f"'{dotted}'" if rec.get("status") in _REQUIRED else "a 'status' of ok or error"
            node = node[key]
    return None


def read_records(*paths: str | os.PathLike) -> list[dict]:
    """All records of one or more ``.jsonl`` files, in order; a bad line is an error naming it."""
    records = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ResultsError(
                f"Results file '{p}' not found; write one with 'edgeyolo bench ... --out {p.name}'."
            )
        for lineno, line in jsonl_lines(p.read_text(encoding="utf-8")):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ResultsError(
                    f"{p}:{lineno}: not valid JSON ({e.msg}); remove or fix that line."
                ) from None
            if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
                raise ResultsError(
                    f"{p}:{lineno}: not an {SCHEMA} record; is this a file from 'edgeyolo bench'?"
                )
            missing = missing_field(rec)
            if missing:
                raise ResultsError(f"{p}:{lineno}: {rec.get('status', '?')} record without {missing}; "
                                   "remove that line or measure the candidate again with 'edgeyolo bench --force'")  # fmt: skip
            records.append(resolve_sidecars(rec, p))
    return records
