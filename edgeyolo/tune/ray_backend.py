"""The Ray backend: trials spread over a Ray cluster, sampled by TPE, stopped early by ASHA.

- Cluster: ``ray_address`` ("auto" or host:port) joins a running one; otherwise a local instance starts on
  the loopback address with ``num_cpus`` CPUs, no dashboard and no usage statistics (``edgeyolo.cluster``,
  shared with ``run --ray-address``).
- Sampling: Ray's ``OptunaSearch`` with the same define-by-run space function and TPE sampler as the local
  backend, storing the study in ``DIR/study.db``: a resumed search continues the same study.
- Scheduling: ``ASHAScheduler`` on the metric ``map50_95`` (the mAP50-95 Ultralytics' validation reports for
  the NMS-free end-to-end head, since edgeyolo trains with ``nms=False``), reported with
  ``ray.tune.report`` after every epoch, with ``epoch`` as the time attribute; ``fifo`` runs every trial
  to the end. Each trial gets ``cpus_per_trial`` CPUs and ``gpus_per_trial`` GPUs (at most one: its epochs
  must report from its own process).
- Records: the driver writes each trial's record to ``trials.jsonl`` as it ends (a Ray ``Callback``), in
  the same format as the local backend; a trial ASHA stopped is recorded as ``pruned``.

Trials write their runs to ``DIR/trials/`` by absolute path: on a multi-node cluster, ``DIR`` must be on a
filesystem every node mounts (as Ray requires of its storage path).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgeyolo.cluster import connect
from edgeyolo.errors import BackendUnavailableError
from edgeyolo.tune.outputs import add_record, write_html
from edgeyolo.tune.outputs import short as _short
from edgeyolo.tune.space import SearchSpace, suggest
from edgeyolo.tune.trial import SCHEMA, TRIALS_DIR, TrialContext, run_trial, trial_name

NUMBER_KEY = "_edgeyolo_trial"  # config key carrying edgeyolo's trial number from the driver to the trial
METRIC = "map50_95"  # what the scheduler compares, every epoch
SEARCH_METRIC = "fitness"  # what the sampler optimizes (mAP, or the latency-penalized score at the end)


def _trainable(config: dict[str, Any], ctx: TrialContext) -> None:
    """One trial inside a Ray worker: per-epoch reports, then a final one carrying the whole record."""
    from ray import tune as rtune

    number = int(config[NUMBER_KEY])
    params = {k: v for k, v in config.items() if k != NUMBER_KEY}
    epochs = ctx.base.epochs

    def report(step: int, row: dict[str, Any]) -> bool:
        if step < epochs and row.get("map50_95") is not None:  # the last epoch is reported with the record
            rtune.report({"epoch": step, METRIC: row["map50_95"], SEARCH_METRIC: row["map50_95"]})
        return False  # ASHA stops a trial by ending its worker, not through this return value

    record = run_trial(ctx, number, params, report, lambda m: None)
    record["backend"] = "ray"
    score = record["fitness"] if record["fitness"] is not None else 0.0
    rtune.report({"epoch": max(record["epochs_run"], 1), METRIC: record["map50_95"] or 0.0, SEARCH_METRIC: score,
                  "record": json.dumps(record)})  # fmt: skip


def _recorder(
    ctx: TrialContext, total: int, settings: dict[str, Any], before: list[dict[str, Any]], log: Any
) -> Any:
    """A driver-side Ray ``Callback`` writing records as trials end and logging progress."""
    from ray.tune import Callback

    from edgeyolo.tune import progress_line

    class Recorder(Callback):
        def __init__(self) -> None:
            self.records = list(before)
            self.history: dict[str, list[dict[str, Any]]] = {}
            self.final: dict[str, dict[str, Any]] = {}
            self.start_times: dict[str, float] = {}
            self.started = time.time()
            self.ran = 0

        def on_trial_start(self, iteration, trials, trial, **info):
            self.start_times[trial.trial_id] = time.time()
            number = trial.config.get(NUMBER_KEY)
            params = {k: v for k, v in trial.config.items() if k != NUMBER_KEY}
            log(
                f"[tune] trial {number} starts on Ray: "
                + ", ".join(f"{k}={_short(v)}" for k, v in params.items())
            )

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "record" in result:
                self.final[trial.trial_id] = json.loads(result["record"])
                return
            row = {"epoch": int(result["epoch"]), "map50_95": result.get(METRIC), "map50": None,
                   "fitness": result.get(SEARCH_METRIC)}  # fmt: skip
            self.history.setdefault(trial.trial_id, []).append(row)
            log(f"[tune] trial {trial.config.get(NUMBER_KEY)} epoch {row['epoch']}/{ctx.base.epochs}: "
                f"mAP50-95 {row['map50_95']:.4f}")  # fmt: skip

        def on_trial_complete(self, iteration, trials, trial, **info):
            record = self.final.get(trial.trial_id) or self._stopped(trial, "pruned", None)
            self._add(record)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._add(self._stopped(trial, "failed", _error(trial)))

        def _stopped(self, trial: Any, state: str, error: str | None) -> dict[str, Any]:
            """The record of a trial that ended without its final report (ASHA stopped it, or it crashed)."""
            number = int(trial.config[NUMBER_KEY])
            history = self.history.get(trial.trial_id, [])
            run_dir = Path(ctx.out) / TRIALS_DIR / trial_name(number)
            best = run_dir / "weights" / "best.pt"
            last = history[-1] if history else {}
            m = last.get("map50_95")
            t0 = self.start_times.get(trial.trial_id)
            seconds = round(time.time() - t0, 1) if t0 else None
            started = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t0)) if t0 else None
            return {"schema": SCHEMA, "trial": number, "state": state,
                    "params": {k: v for k, v in trial.config.items() if k != NUMBER_KEY},
                    "fitness": m if state == "pruned" else None, "map50_95": m, "map50": None, "precision": None,
                    "recall": None, "latency_ms": None, "epochs_run": last.get("epoch", 0), "seconds": seconds,
                    "history": history, "run_dir": str(run_dir), "weights": str(best) if best.is_file() else None,
                    "error": error, "started": started, "backend": "ray"}  # fmt: skip

        def _add(self, record: dict[str, Any]) -> None:
            self.ran += 1
            self.records = add_record(ctx.out, record)
            write_html(ctx.out, self.records, settings)
            log(progress_line(record, len(self.records), total, self.records, self.started, self.ran))

    return Recorder()


def _error(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
        if lines:
            return lines[-1].strip()
    return "the trial's worker failed"


class _DefineByRun:
    """The space as Ray's OptunaSearch samples it; numbers trials in the driver (a class: Ray pickles the
    searcher, a closure would not pickle)."""

    def __init__(self, space: SearchSpace, first: int) -> None:
        self.space, self.next = space, first

    def __call__(self, trial: Any) -> dict[str, Any]:
        from edgeyolo.tune.local import TRIAL_ATTR

        number, self.next = self.next, self.next + 1
        trial.set_user_attr(TRIAL_ATTR, number)
        suggest(trial, self.space)
        return {NUMBER_KEY: number}


def run_ray(cfg: Any, ctx: TrialContext, space: SearchSpace, before: list[dict[str, Any]], remaining: int,
            grace: int, settings: dict[str, Any], log: Any) -> None:  # fmt: skip
    from edgeyolo.tune import STUDY_DB, STUDY_NAME
    from edgeyolo.tune.local import import_optuna, open_study, reconcile

    optuna = import_optuna()
    try:
        from ray import tune as rtune
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise BackendUnavailableError("--backend ray needs Ray Tune: pip install 'edgeyolo[ray]'") from None

    reconcile(open_study(ctx.out, cfg.seed, len(before)), before, log)  # settle a killed driver's trials
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    define = _DefineByRun(space, max((r["trial"] for r in before), default=-1) + 1)
    searcher = OptunaSearch(
        space=define, metric=SEARCH_METRIC, mode="max", study_name=STUDY_NAME,
        storage=optuna.storages.RDBStorage(f"sqlite:///{Path(ctx.out) / STUDY_DB}"),
        sampler=optuna.samplers.TPESampler(seed=cfg.seed + len(before)),
    )  # fmt: skip
    epochs = ctx.base.epochs
    if cfg.scheduler == "asha" and epochs > 1:
        scheduler = ASHAScheduler(time_attr="epoch", metric=METRIC, mode="max", max_t=epochs,
                                  grace_period=min(grace, epochs), reduction_factor=3)  # fmt: skip
    else:
        scheduler = FIFOScheduler()
    started = connect(cfg.ray_address, cfg.num_cpus)
    try:
        trainable = rtune.with_resources(
            rtune.with_parameters(_trainable, ctx=ctx), {"cpu": cfg.cpus_per_trial, "gpu": cfg.gpus_per_trial}
        )
        tuner = rtune.Tuner(
            trainable,
            tune_config=rtune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=remaining,
                max_concurrent_trials=cfg.max_concurrent,
            ),  # fmt: skip
            run_config=rtune.RunConfig(
                name=f"ray-{time.strftime('%Y%m%d-%H%M%S')}",
                storage_path=str(Path(ctx.out) / "ray"),
                callbacks=[_recorder(ctx, cfg.trials, settings, before, log)],
                verbose=0,
            ),  # fmt: skip
        )
        tuner.fit()
    finally:
        if started:
            import ray

            ray.shutdown()
