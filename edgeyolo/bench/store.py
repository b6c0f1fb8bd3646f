"""The results file: one JSON benchmark record per line, appended as each candidate finishes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgeyolo._io import append_jsonl
from edgeyolo.errors import ResultsError

SCHEMA = "edgeyolo.bench/1"


def record_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a benchmark record, shipped as ``edgeyolo/bench/record.schema.json``."""
    from importlib import resources

    return json.loads(resources.files(__package__).joinpath("record.schema.json").read_text(encoding="utf-8"))


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


def append_record(path: str | os.PathLike, record: dict) -> None:
    append_jsonl(path, record)


def read_records(*paths: str | os.PathLike) -> list[dict]:
    """All records of one or more ``.jsonl`` files, in order; a bad line is an error naming it."""
    records = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ResultsError(
                f"Results file '{p}' not found; write one with 'edgeyolo bench ... --out {p.name}'."
            )
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
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
            records.append(rec)
    return records
