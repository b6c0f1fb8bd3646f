"""Benchmark artifacts on this machine: one fresh process per candidate, one JSONL record each.

Importing this package does not import torch or ultralytics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeyolo.bench.measure import CandidateSpec
from edgeyolo.bench.store import SCHEMA, append_record, read_records
from edgeyolo.errors import ArtifactError, ConfigError
from edgeyolo.profiles import DeviceProfile
from edgeyolo.runtime.base import artifact_sha256, load_artifact


@dataclass(frozen=True)
class BenchConfig:
    profile: DeviceProfile
    artifacts: tuple[Path, ...]
    out: Path  # results .jsonl; records are appended
    data: Path | None = None  # dataset whose val split gives latency images and accuracy
    threads: int | None = None  # default: the profile's
    warmup: int | None = None  # default: the profile's bench.warmup
    iterations: int | None = None  # default: the profile's bench.iterations
    min_duration_s: float | None = None  # keep timing until this long too; default: the profile's
    accuracy_images: int | None = None  # None = the whole val split
    timeout_s: float = 3600.0  # per candidate
    resume: bool = False  # skip candidates that already have an ok record in ``out``
    force: bool = False  # measure them again (a new record is appended; select uses the newest)


@dataclass
class BenchResult:
    out: Path
    records: list[dict] = field(default_factory=list)  # measured now
    skipped: list[Path] = field(default_factory=list)  # already measured (resume)


def done_checksums(
    out: Path, profile: str, threads: int | None, data: Path | None, host: str | None = None
) -> set[str]:
    """Checksums of artifacts with an ok record for the same profile, threads (None: any), dataset and host
    (None: this machine)."""
    if not out.is_file():
        return set()
    done = set()
    for r in read_records(out):
        if (
            r.get("status") != "ok"
            or r["device"].get("profile") != profile
            or r["device"].get("host") != host
            or (threads is not None and r["candidate"].get("threads") != threads)
        ):
            continue
        acc_data = (r.get("accuracy") or {}).get("dataset")
        if acc_data != (str(Path(data).resolve()) if data else None):
            continue
        done.add(r["candidate"]["sha256"])
    return done


def error_record(profile: str, artifact: Path, message: str) -> dict:
    """The record of a candidate that could not be measured (select and report list it, never rank it)."""
    return {
        "schema": SCHEMA, "status": "error", "message": message,
        "candidate": {"artifact": str(Path(artifact).resolve())},
        "device": {"profile": profile},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip


def _run_worker(spec: CandidateSpec, timeout_s: float) -> dict:
    """Measure in a fresh interpreter; a crash becomes an error message, never a lost sweep."""
    with tempfile.TemporaryDirectory(prefix="edgeyolo-bench-") as tmp:
        spec_file, record_file = Path(tmp) / "spec.json", Path(tmp) / "record.json"
        spec_file.write_text(json.dumps(asdict(spec)))
        env = dict(os.environ)
        # One intra-op pool of the requested size: keep OpenMP/BLAS pools from adding their own threads.
        env.setdefault("OMP_NUM_THREADS", str(spec.threads))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "edgeyolo.bench.worker", str(spec_file), str(record_file)],
                capture_output=True, text=True, timeout=timeout_s, env=env,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"benchmark did not finish within {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not record_file.is_file():
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            raise RuntimeError(lines[-1] if lines else f"worker exited with code {proc.returncode}")
        return json.loads(record_file.read_text())


def benchmark(cfg: BenchConfig, on_record: Callable[[dict], None] | None = None) -> BenchResult:
    """Measure each artifact and append its record to ``cfg.out`` as soon as it is done.

    An artifact whose files no longer match the checksum in its manifest (changed since export) is not
    measured: its record is an error that says so.
    """
    if not cfg.artifacts:
        raise ConfigError("bench: no artifacts given; pass one or more folders written by 'edgeyolo export'.")
    for a in cfg.artifacts:
        load_artifact(a)  # validate every manifest before spending minutes on the first one
    if cfg.data is not None:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(cfg.data)
    p = cfg.profile
    threads = cfg.threads or p.resolved_threads()
    result = BenchResult(out=Path(cfg.out))
    done = done_checksums(Path(cfg.out), p.name, threads, cfg.data) if not cfg.force else set()
    shas = {a: artifact_sha256(load_artifact(a)) for a in cfg.artifacts}
    already = [a for a in cfg.artifacts if shas[a] in done]
    if already and not cfg.resume:
        raise ConfigError(
            f"{cfg.out} already has results for {len(already)} of these candidates ({Path(already[0]).name}, ...); "
            "pass --resume to skip them or --force to measure them again"
        )
    for artifact in cfg.artifacts:
        if shas[artifact] in done:
            result.skipped.append(Path(artifact))
            continue
        spec = CandidateSpec(
            artifact=str(Path(artifact).resolve()), profile=p.name, threads=threads,
            warmup=cfg.warmup if cfg.warmup is not None else p.bench.warmup,
            iterations=cfg.iterations or p.bench.iterations, min_duration_s=p.bench.min_duration_s if cfg.min_duration_s is None else cfg.min_duration_s,
            latency_budget_ms=p.latency_budget_ms, max_map_drop=p.max_map_drop, power_source=p.power.source,
            data=str(Path(cfg.data).resolve()) if cfg.data else None, accuracy_images=cfg.accuracy_images,
        )  # fmt: skip
        try:
            record = _run_worker(spec, cfg.timeout_s)
        except (RuntimeError, ArtifactError, OSError, json.JSONDecodeError) as e:
            record = error_record(p.name, artifact, str(e))
        append_record(cfg.out, record)
        result.records.append(record)
        if on_record:
            on_record(record)
    return result


__all__ = ["BenchConfig", "BenchResult", "benchmark", "done_checksums", "error_record", "read_records"]
