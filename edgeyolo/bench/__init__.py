"""Benchmark artifacts on this machine: interleaved rounds, each in a fresh process; one JSONL record each.

The candidates are measured in alternation, once per round (see :mod:`edgeyolo.bench.rounds`); a candidate's
rounds are pooled into one record once it has them all. Importing this package does not import torch or
ultralytics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgeyolo.bench.measure import CandidateSpec
from edgeyolo.bench.rounds import (
    RoundStore,
    Slot,
    effective_rounds,
    per_image_dir,
    rounds_path,
    run_interleaved,
    run_key,
    split,
)
from edgeyolo.bench.store import SCHEMA, append_record, read_records, resolve_sidecars
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
    # Interleaved rounds (default: the profile's bench.rounds); iterations and min_duration_s are spread over them.
    rounds: int | None = None
    # Measure only this round (0-based) of an interleaved set that a controller elsewhere runs (a remote bench):
    # the record keeps its raw samples for pooling and is not pooled here.
    round_index: int | None = None
    # Concurrent streams (a number, or "auto": the most that keep the target FPS within the latency budget),
    # measured once per candidate (in the first round) after its latency; see edgeyolo.bench.streams.
    streams: int | str | None = None
    fps: float | None = None  # each stream's target frames per second; default: the profile's fps
    streams_duration_s: float | None = None  # seconds per streams trial; default: a few (DEFAULT_DURATION_S)
    timeout_s: float = 3600.0  # per candidate and round
    resume: bool = False  # skip candidates that already have an ok record in ``out``
    force: bool = False  # measure them again (a new record is appended; select uses the newest)


@dataclass
class BenchResult:
    out: Path
    records: list[dict] = field(default_factory=list)  # measured now
    skipped: list[Path] = field(default_factory=list)  # already measured (resume)


def done_checksums(
    out: Path, profile: str, threads: int | None, data: Path | None, host: str | None = None,
    accuracy_images: int | None = None, streams: int | str | None = None, fps: float | None = None,
) -> set[str]:  # fmt: skip
    """Checksums of artifacts with an ok record for the same profile, threads (None: any), dataset, accuracy
    image limit (None: the whole val split; a record measured on another image set is measured again, so
    ``--resume`` never mixes val sets) and host (None: this machine). With ``streams`` asked for, only records
    with the same streams measurement count (the same number or ``auto``, at the same target ``fps``): a record
    without it is measured again."""
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
        if data and (r.get("settings") or {}).get("accuracy_images") != accuracy_images:
            continue
        st = r.get("streams") or {}
        if streams is not None and (not st or st.get("requested") != streams or st.get("target_fps") != fps):
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


def training_imgsz(artifact: Path) -> int | None:
    """The image size an artifact's model was trained at: the manifest's ``train_imgsz`` when export wrote one,
    else the ``imgsz`` of the training run's ``args.yaml`` next to the source weights (``<run>/weights/x.pt``)
    when that run is on this machine; None when unknown."""
    m = load_artifact(artifact).manifest
    if isinstance(m.get("train_imgsz"), int):
        return m["train_imgsz"]
    src = (m.get("source_weights") or {}).get("path")
    if not src:
        return None
    import yaml

    try:
        value = (
            yaml.safe_load((Path(src).parent.parent / "args.yaml").read_text(encoding="utf-8")) or {}
        ).get("imgsz")
    except (OSError, yaml.YAMLError, AttributeError):  # none there, or one that says nothing about the size
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def shape_notes(profile: DeviceProfile, data: Path | None, artifacts) -> dict[Path, str | None]:
    """For each camera-shaped artifact whose input does not fit the val images' aspect, why its accuracy is not
    the camera's: it is measured on letterboxed frames of another shape (e.g. a profile naming a 16:9 camera,
    with 4:3 val images). None for the others, and without data."""
    from edgeyolo.shapes import Shape, camera_shape

    notes: dict[Path, str | None] = {a: None for a in artifacts}
    shaped = {a: Shape(*load_artifact(a).shape) for a in artifacts}
    if data is None or all(s.is_square for s in shaped.values()):
        return notes
    from edgeyolo.data import aspect_text, val_aspect

    found, share, n = val_aspect(Path(data))
    seen = aspect_text(found, share, n)
    cam = profile.camera
    for a, shape in shaped.items():
        if shape.is_square:
            continue
        if cam is not None and camera_shape(shape.long, cam) == shape:  # shaped for the profile's camera
            if found is not None and cam.matches(found):
                continue
            whose = f"profile {profile.name}'s {cam.label} camera"
        elif found is not None and camera_shape(shape.long, found) == shape:
            continue
        else:
            whose = "a camera of another aspect"
        notes[a] = (f"input {shape.label} is shaped for {whose} but the val images are {seen}: its accuracy is measured "
                    "on images that are not what the camera sends; add val images from that camera")  # fmt: skip
    return notes


def streams_request(
    cfg: BenchConfig, profile: DeviceProfile | None = None
) -> tuple[int | str | None, float | None]:
    """The streams to measure (a number, ``"auto"`` or None) and their target frames per second (``cfg.fps``,
    else the ``fps`` of ``profile``, by default the config's), checked.

    Raises:
        ConfigError: a bad number of streams, ``auto`` without a target, or ``--fps`` without ``--streams``.
    """
    from edgeyolo.bench.streams import check_request, parse_streams

    streams = parse_streams(cfg.streams)
    if streams is None:
        if cfg.fps is not None:
            raise ConfigError(f"bench: --fps {cfg.fps:g} is the target of each stream of --streams; pass "
                              "--streams N (or auto) too, or leave --fps out")  # fmt: skip
        return None, None
    fps = cfg.fps if cfg.fps is not None else (profile or cfg.profile).fps
    check_request(streams, fps, cfg.streams_duration_s)
    return streams, None if fps is None else float(fps)


def streams_key(streams: int | str | None, fps: float | None, duration_s: float | None) -> dict:
    """The streams settings in a rounds key (none without streams, so keys of runs without them do not change)."""
    return {} if streams is None else {"streams": streams, "fps": fps, "streams_duration_s": duration_s}


def _run_worker(spec: CandidateSpec, timeout_s: float, sidecars: Path | None = None) -> dict:
    """Measure in a fresh interpreter; a crash becomes an error message, never a lost sweep. The per-image
    evaluation the worker writes is moved into ``sidecars`` (the record names it relative to its parent)."""
    with tempfile.TemporaryDirectory(prefix="edgeyolo-bench-") as tmp:
        spec_file, record_file = Path(tmp) / "spec.json", Path(tmp) / "record.json"
        if sidecars is not None and spec.data and spec.accuracy:
            spec = replace(spec, per_image_out=str(Path(tmp) / "per-image.npz"))
        spec_file.write_text(json.dumps(asdict(spec)))
        env = dict(os.environ)
        # One intra-op pool of the requested size: keep OpenMP/BLAS pools from adding their own threads. Set,
        # not defaulted: importing ultralytics (an export earlier in `edgeyolo run`) leaves OMP_NUM_THREADS=1.
        env["OMP_NUM_THREADS"] = str(spec.threads)
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
        record = json.loads(record_file.read_text())
        per_image = (record.get("accuracy") or {}).get("per_image")
        if per_image and spec.per_image_out and Path(spec.per_image_out).is_file():
            name = f"{record['candidate']['sha256'][:16]}-{per_image['sha256'][:12]}.npz"
            sidecars.mkdir(parents=True, exist_ok=True)
            # Copied, then renamed into place: the temp folder may be on another filesystem (a container's
            # /tmp vs a mounted work folder), where a rename fails.
            part = sidecars / f".{name}.part"
            shutil.copyfile(spec.per_image_out, part)
            os.replace(part, sidecars / name)
            per_image["file"] = f"{sidecars.name}/{name}"
        return record


def benchmark(cfg: BenchConfig, on_record: Callable[[dict], None] | None = None,
              log: Callable[[str], None] = lambda m: None) -> BenchResult:  # fmt: skip
    """Measure the artifacts in interleaved rounds and append each one's record to ``cfg.out`` as soon as it has
    all its rounds (rounds measured so far wait in ``<out>.rounds.jsonl``; a killed run continues from them).

    An artifact whose files no longer match the checksum in its manifest (changed since export) is not
    measured: its record is an error that says so.
    """
    if not cfg.artifacts:
        raise ConfigError("bench: no artifacts given; pass one or more folders written by 'edgeyolo export'.")
    if cfg.rounds is not None and cfg.rounds < 1:
        raise ConfigError(f"bench: --rounds must be at least 1, got {cfg.rounds}")
    streams, target_fps = streams_request(cfg)
    for a in cfg.artifacts:
        load_artifact(a)  # validate every manifest before spending minutes on the first one
    if cfg.data is not None:
        from edgeyolo.data.yolo import load_dataset

        load_dataset(cfg.data)
    p = cfg.profile
    threads = cfg.threads or p.resolved_threads()
    iterations = cfg.iterations or p.bench.iterations
    min_duration = p.bench.min_duration_s if cfg.min_duration_s is None else cfg.min_duration_s
    rounds = effective_rounds(cfg.rounds or p.bench.rounds, iterations)
    out = Path(cfg.out)
    result = BenchResult(out=out)
    data = str(Path(cfg.data).resolve()) if cfg.data else None
    train_sizes = {a: training_imgsz(a) for a in cfg.artifacts}
    notes = {str(Path(a).resolve()): n for a, n in shape_notes(p, cfg.data, cfg.artifacts).items()}

    def spec_for(artifact: Path, r: int) -> CandidateSpec:
        return CandidateSpec(
            artifact=str(Path(artifact).resolve()), profile=p.name, threads=threads,
            warmup=cfg.warmup if cfg.warmup is not None else p.bench.warmup,
            iterations=split(iterations, rounds)[r], min_duration_s=split(float(min_duration), rounds)[r],
            latency_budget_ms=p.latency_budget_ms, max_map_drop=p.max_map_drop, map_tie_margin=p.map_tie_margin,
            power_source=p.power.source,
            data=data, accuracy_images=cfg.accuracy_images, accuracy=r == 0, keep_samples=True,
            train_imgsz=train_sizes[artifact],
            streams=streams if r == 0 else None, target_fps=target_fps, streams_duration_s=cfg.streams_duration_s,
        )  # fmt: skip

    def measure_round(artifact: Path, r: int) -> dict:
        try:
            rec = _run_worker(spec_for(artifact, r), cfg.timeout_s, per_image_dir(out))
        except (RuntimeError, ArtifactError, OSError, json.JSONDecodeError) as e:
            rec = error_record(p.name, artifact, str(e))
        return rec

    def emit(record: dict) -> None:
        if record.get("status") == "ok" and record["candidate"].get("shape") is not None:
            record["candidate"]["shape_note"] = notes.get(record["candidate"]["artifact"])
        append_record(out, record)
        resolve_sidecars(record, out)
        result.records.append(record)
        if on_record:
            on_record(record)

    if cfg.round_index is not None:  # one round for a controller that pools the rounds itself
        if not 0 <= cfg.round_index < rounds:
            raise ConfigError(f"bench: --round-index {cfg.round_index} is not a round of {rounds}")
        for artifact in cfg.artifacts:
            rec = measure_round(artifact, cfg.round_index)
            rec["round"] = {"index": cfg.round_index, "of": rounds}
            emit(rec)
        return result

    done = (
        done_checksums(out, p.name, threads, cfg.data, accuracy_images=cfg.accuracy_images, streams=streams,
                       fps=target_fps)
        if not cfg.force
        else set()
    )  # fmt: skip
    shas = {a: artifact_sha256(load_artifact(a)) for a in cfg.artifacts}
    already = [a for a in cfg.artifacts if shas[a] in done]
    if already and not cfg.resume:
        raise ConfigError(
            f"{cfg.out} already has results for {len(already)} of these candidates ({Path(already[0]).name}, ...); "
            "pass --resume to skip them or --force to measure them again"
        )
    result.skipped = [Path(a) for a in cfg.artifacts if shas[a] in done]
    settings = dict(profile=p.name, threads=threads, data=data, accuracy_images=cfg.accuracy_images,
                    warmup=cfg.warmup if cfg.warmup is not None else p.bench.warmup, iterations=iterations,
                    min_duration_s=float(min_duration), rounds=rounds, host=None,
                    **streams_key(streams, target_fps, cfg.streams_duration_s))  # fmt: skip
    slots = [Slot(Path(a), shas[a], run_key(shas[a], artifact=str(Path(a).resolve()), **settings))
             for a in cfg.artifacts if shas[a] not in done]  # fmt: skip
    store = RoundStore(rounds_path(out))
    from edgeyolo.bench.environment import cpu_temperature_c

    run_interleaved(slots, rounds, lambda s, r: measure_round(s.artifact, r), store,
                    emit=lambda s, rec: emit(rec), error=lambda s, msg: error_record(p.name, s.artifact, msg),
                    temperature=cpu_temperature_c, log=log, fresh=cfg.force)  # fmt: skip
    store.tidy()
    return result


__all__ = [
    "BenchConfig",
    "BenchResult",
    "benchmark",
    "done_checksums",
    "error_record",
    "read_records",
    "shape_notes",
    "streams_request",
    "training_imgsz",
]
