"""Hyperparameter search that tunes the recipe ``edgeyolo train`` actually trains.

Ultralytics' ``model.tune()`` runs each trial as a plain ``yolo train`` subprocess, so STAL, ProgLoss and the
presets would not be in its trials. Here every trial goes through :func:`edgeyolo.train.train` with the
sampled hyperparameters applied to a :class:`~edgeyolo.train.TrainConfig`.

Backends (same sampler, same records, same outputs):

- ``local``: sequential trials in this process, sampled by Optuna's TPE and pruned per epoch by Optuna's
  ``MedianPruner``. See :mod:`edgeyolo.tune.local` for why TPE.
- ``ray``: trials spread over a Ray cluster (a local one unless ``ray_address``), sampled by the same TPE
  through Ray's ``OptunaSearch`` and stopped early by ASHA (or run to the end with ``fifo``).

Both keep the study in ``DIR/study.db`` (SQLite) and each finished trial in ``DIR/trials.jsonl``, so
``resume`` continues an interrupted search without repeating finished trials; see
:mod:`edgeyolo.tune.outputs` for everything a search writes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edgeyolo._io import write_text_atomic
from edgeyolo.errors import ConfigError
from edgeyolo.tune.objective import penalized
from edgeyolo.tune.outputs import best_record, read_records, write_best, write_csv, write_html
from edgeyolo.tune.space import SearchSpace, default_space_path, load_space, parse_space
from edgeyolo.tune.trial import TrialContext

SETTINGS_FILE = "tune.yaml"
STUDY_DB = "study.db"
STUDY_NAME = "edgeyolo-tune"
Log = Callable[[str], None]
# Settings that must match when a search is resumed (the trials so far were run with them).
_RESUME_KEYS = ("space", "objective", "epochs", "imgsz", "model", "data", "profile", "latency_budget_ms")


@dataclass(frozen=True)
class TuneConfig:
    base: Any  # edgeyolo.train.TrainConfig: profile, data, model, epochs per trial, imgsz, batch, device, ...
    out: Path  # search folder (trials.jsonl, trials.csv, best.yaml, best.pt, tune.html, study.db, trials/)
    trials: int = 20  # total trials of the search (a resumed search runs only the missing ones)
    space: Path | None = (
        None  # search space YAML; None: the shipped default (edgeyolo/tune/default_space.yaml)
    )
    backend: Literal["local", "ray"] = "local"
    objective: Literal["map", "map-latency"] = "map"
    seed: int = 0  # sampler seed
    pruner: Literal["median", "none"] = "median"  # local backend
    scheduler: Literal["asha", "fifo"] = "asha"  # ray backend
    grace_epochs: int | None = None  # epochs a trial always runs before it can be pruned; None: epochs // 4
    ray_address: str | None = None  # "auto" or host:port of a running cluster; None: start a local one
    num_cpus: int | None = None  # CPUs of a local Ray instance; None: every core
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0  # 0: CPU training; fractions share a GPU; at most 1 (per-epoch reports)
    max_concurrent: int | None = None  # ray: trials at once; None: as many as resources allow
    latency_budget_ms: float | None = None  # map-latency: None = the profile's budget
    latency_warmup: int | None = None  # map-latency: None = the profile's bench settings
    latency_iterations: int | None = None
    resume: bool = False  # continue the search in ``out``


@dataclass
class TuneResult:
    out: Path
    records: list[dict[str, Any]]  # every finished trial, in the order they finished
    best: dict[str, Any] | None  # the best complete trial's record
    best_yaml: Path | None
    best_weights: Path | None
    html: Path
    ran: int  # trials run by this call (the rest were finished before a resume)
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return len(self.records) - self.ran


def _validate(cfg: TuneConfig) -> SearchSpace:
    if cfg.trials < 1:
        raise ConfigError(f"tune: --trials must be >= 1, got {cfg.trials}")
    if cfg.backend not in ("local", "ray"):
        raise ConfigError(f"tune: unknown --backend '{cfg.backend}'; use local or ray")
    if cfg.objective not in ("map", "map-latency"):
        raise ConfigError(f"tune: unknown --objective '{cfg.objective}'; use map or map-latency")
    if cfg.pruner not in ("median", "none"):
        raise ConfigError(f"tune: unknown pruner '{cfg.pruner}'; use median or none")
    if cfg.scheduler not in ("asha", "fifo"):
        raise ConfigError(f"tune: unknown --scheduler '{cfg.scheduler}'; use asha or fifo")
    if not 0 <= cfg.gpus_per_trial <= 1:
        raise ConfigError(
            f"tune: --gpus-per-trial must be in [0, 1], got {cfg.gpus_per_trial}: a trial reports every epoch "
            "from its own process, which DDP over several GPUs does not allow; run more trials at once instead"
        )
    if cfg.cpus_per_trial <= 0:
        raise ConfigError(f"tune: --cpus-per-trial must be > 0, got {cfg.cpus_per_trial}")
    if cfg.grace_epochs is not None and cfg.grace_epochs < 1:
        raise ConfigError(f"tune: --grace-epochs must be >= 1, got {cfg.grace_epochs}")
    if cfg.latency_budget_ms is not None and cfg.latency_budget_ms <= 0:
        raise ConfigError(f"tune: --latency-budget-ms must be > 0, got {cfg.latency_budget_ms}")
    space = load_space(cfg.space)
    from edgeyolo.tune.local import import_optuna

    import_optuna()  # a missing package fails before the search folder is claimed
    if cfg.backend == "ray":
        from edgeyolo.cluster import require_ray

        require_ray("--backend ray needs Ray Tune: pip install 'edgeyolo[ray]'", ("ray", "ray.tune"))
    if cfg.backend == "local" and len(_devices(cfg.base.device)) > 1:
        raise ConfigError(f"tune: one device per trial, got --device {cfg.base.device}")
    from edgeyolo.train import prepare

    prepare(dataclasses.replace(cfg.base, check=False))  # dataset, model, overrides: fail before any trial
    return space


def _devices(device: str | None) -> list[str]:
    from edgeyolo.recipe import parse_devices

    return parse_devices(device)


def _settings(cfg: TuneConfig, space: SearchSpace) -> dict[str, Any]:
    b = cfg.base
    return {
        "edgeyolo_tune": 1,
        "backend": cfg.backend,
        "objective": cfg.objective,
        "trials": cfg.trials,
        "epochs": b.epochs,
        "imgsz": b.imgsz or b.profile.imgsz[0],
        "model": b.model,
        "data": str(Path(b.data).resolve()),
        "profile": b.profile.name,
        "latency_budget_ms": (cfg.latency_budget_ms or b.profile.latency_budget_ms)
        if cfg.objective == "map-latency"
        else None,
        "seed": cfg.seed,
        "space_file": str(Path(space.source).resolve()),
        "space": space.to_dict(),
    }


def _start(cfg: TuneConfig, settings: dict[str, Any], log: Log) -> list[dict[str, Any]]:
    """Check the folder: a new search needs it free of another search; a resumed one must match it."""
    out = Path(cfg.out)
    saved_file = out / SETTINGS_FILE
    if not cfg.resume:
        if saved_file.is_file() or (out / STUDY_DB).exists() or read_records(out):
            raise ConfigError(
                f"'{out}' already holds a search; pass --resume to continue it or choose another --out"
            )
        write_text_atomic(saved_file, yaml.safe_dump(settings, sort_keys=False))
        return []
    if not saved_file.is_file():
        raise ConfigError(f"'{out}' has no {SETTINGS_FILE}: nothing to resume; run without --resume to start")
    saved = yaml.safe_load(saved_file.read_text()) or {}
    for key in _RESUME_KEYS:
        if _norm(saved.get(key)) != _norm(settings.get(key)):
            raise ConfigError(
                f"tune --resume: '{key}' differs from the search in '{out}' ({saved.get(key)!r} there); "
                "resume with the same settings or start a new search in another --out"
            )
    records = read_records(out)
    write_text_atomic(saved_file, yaml.safe_dump({**saved, "trials": cfg.trials}, sort_keys=False))
    log(f"[tune] resuming {out}: {len(records)} of {cfg.trials} trials already finished")
    return records


def _norm(v: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(v))  # tuples vs lists, numpy scalars


def tune(cfg: TuneConfig, log: Log = lambda m: None) -> TuneResult:
    """Run (or resume) a search and write its outputs; ``log`` gets one line per epoch and per trial."""
    t0 = time.perf_counter()
    space = _validate(cfg)
    out = Path(cfg.out).resolve()
    cfg = dataclasses.replace(cfg, out=out)
    base = cfg.base
    if cfg.backend == "ray":  # each trial sees the GPUs Ray gave it as device 0
        from edgeyolo.cluster import task_device

        base = dataclasses.replace(base, device=task_device(cfg.gpus_per_trial))
    settings = _settings(cfg, space)
    before = _start(cfg, settings, log)
    ctx = TrialContext(base=base, out=out, objective=cfg.objective, latency_budget_ms=cfg.latency_budget_ms,
                       latency_warmup=cfg.latency_warmup, latency_iterations=cfg.latency_iterations)  # fmt: skip
    remaining = cfg.trials - len(before)
    grace = cfg.grace_epochs or max(1, base.epochs // 4)
    if remaining > 0:
        if cfg.backend == "local":
            from edgeyolo.tune.local import run_local

            run_local(cfg, ctx, space, before, remaining, grace, settings, log)
        else:
            from edgeyolo.tune.ray_backend import run_ray

            run_ray(cfg, ctx, space, before, remaining, grace, settings, log)
    records = read_records(out)
    write_csv(out, records)
    html = write_html(out, records, settings)
    best = best_record(records)
    best_yaml = best_weights = None
    if best is not None:
        best_yaml, best_weights = write_best(out, ctx, best, len(records), cfg.objective)
        log(f"[tune] best: trial {best['trial']} fitness {best['fitness']:.4f}; {best_yaml}")
    else:
        log("[tune] no trial completed: no best.yaml written")
    return TuneResult(out=out, records=records, best=best, best_yaml=best_yaml, best_weights=best_weights,
                      html=html, ran=len(records) - len(before), seconds=time.perf_counter() - t0,
                      settings=settings)  # fmt: skip


def progress_line(record: dict[str, Any], done: int, total: int, records: list[dict[str, Any]], started: float,
                  ran: int) -> str:  # fmt: skip
    """``[tune] trial 3 complete ... (5/20 done, best 0.41 in trial 2, ~12 min left)``."""
    best = best_record(records)
    f = record.get("fitness")
    what = {"complete": f"fitness {f:.4f}" if f is not None else "complete",
            "pruned": f"pruned after epoch {record.get('epochs_run')}",
            "failed": f"failed: {record.get('error')}"}.get(record["state"], record["state"])  # fmt: skip
    eta = ""
    if ran and done < total:
        left = (time.time() - started) / ran * (total - done)
        eta = f", ~{math.ceil(left / 60)} min left"
    b = f", best {best['fitness']:.4f} in trial {best['trial']}" if best else ""
    return f"[tune] trial {record['trial']} {what} in {record.get('seconds') or 0:.0f} s ({done}/{total} done{b}{eta})"


__all__ = [
    "SearchSpace", "TuneConfig", "TuneResult", "default_space_path", "load_space", "parse_space", "penalized", "tune",
]  # fmt: skip
