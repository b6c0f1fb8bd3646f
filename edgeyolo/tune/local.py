"""The local backend: sequential trials in this process, Optuna TPE sampling, median pruning per epoch.

Why Optuna's TPE rather than reimplementing Ultralytics' mutation scheme for our trainer:

- It is maintained and widely used, so its behaviour is documented and tested elsewhere; a port of the
  library's tuner (mutate the best-so-far with Gaussian noise) would be ours to maintain and validate.
- It handles mixed spaces natively: log-uniform and integer ranges, categorical choices (the loss preset,
  the ProgLoss mode, ``imgsz``) and conditional keys (``box``/``cls`` only for ``preset: custom``), where the
  mutation scheme only perturbs continuous values.
- It comes with pruners: the trial reports its mAP every epoch and ``MedianPruner`` stops it when it is below
  the median of earlier trials at the same epoch, which the mutation scheme has no notion of.
- Its RDB storage (SQLite in the search folder) is what makes ``--resume`` exact: the sampler sees every
  finished trial again, and the same study serves the Ray backend through Ray's ``OptunaSearch``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgeyolo.errors import BackendUnavailableError
from edgeyolo.tune.outputs import add_record, write_html
from edgeyolo.tune.outputs import short as _short
from edgeyolo.tune.space import SearchSpace, suggest
from edgeyolo.tune.trial import TrialContext, run_trial

TRIAL_ATTR = "edgeyolo_trial"  # the Optuna trial's user attribute holding edgeyolo's trial number


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise BackendUnavailableError(
            "edgeyolo tune samples with Optuna: pip install 'edgeyolo[tune]'"
        ) from None
    return optuna


def open_study(out: Path, seed: int, n_done: int, pruner: Any = None) -> Any:
    """The search's Optuna study in ``out/study.db``, created or loaded.

    The sampler's seed is offset by the trials already in the study, so a resumed search does not replay
    the random start-up draws of the first run.
    """
    optuna = import_optuna()
    from edgeyolo.tune import STUDY_DB, STUDY_NAME

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the library never prints; progress goes to log
    storage = optuna.storages.RDBStorage(f"sqlite:///{Path(out) / STUDY_DB}")
    sampler = optuna.samplers.TPESampler(seed=seed + n_done)
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction="maximize", sampler=sampler,
                                pruner=pruner or optuna.pruners.NopPruner(), load_if_exists=True)  # fmt: skip
    return study


def reconcile(study: Any, records: list[dict[str, Any]], log: Any) -> None:
    """Settle trials an interruption left running in the study.

    One with a record in trials.jsonl finished (the kill came between writing it and telling the study): the
    study gets its result. One without was cut off mid-training: it is marked failed and its parameters are
    queued again, so the next trial retries exactly that configuration.
    """
    from optuna.trial import TrialState

    by_number = {r["trial"]: r for r in records}
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        rec = by_number.get(t.user_attrs.get(TRIAL_ATTR))
        if rec is not None:
            tell(study, t.number, rec)
        else:
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(dict(t.params), skip_if_exists=False)
            log(f"[tune] trial {t.user_attrs.get(TRIAL_ATTR, '?')} was interrupted; it runs again")


def tell(study: Any, number: int, record: dict[str, Any]) -> None:
    from optuna.trial import TrialState

    if record["state"] == "complete" and record.get("fitness") is not None:
        study.tell(number, record["fitness"])
    elif record["state"] == "pruned":
        study.tell(number, state=TrialState.PRUNED)
    else:
        study.tell(number, state=TrialState.FAIL)


def run_local(cfg: Any, ctx: TrialContext, space: SearchSpace, before: list[dict[str, Any]], remaining: int,
              grace: int, settings: dict[str, Any], log: Any) -> None:  # fmt: skip
    optuna = import_optuna()
    from edgeyolo.tune import progress_line

    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=2, n_warmup_steps=grace - 1
        )  # prunable after grace epochs
        if cfg.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    study = open_study(ctx.out, cfg.seed, len(before), pruner)
    reconcile(study, before, log)
    records = list(before)
    started = time.time()
    for i in range(remaining):
        number = max((r["trial"] for r in records), default=-1) + 1
        trial = study.ask()
        trial.set_user_attr(TRIAL_ATTR, number)
        params = suggest(trial, space)
        log(f"[tune] trial {number} ({len(records) + 1}/{cfg.trials}) starts: "
            + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))  # fmt: skip

        def report(step: int, row: dict[str, Any], trial: Any = trial) -> bool:
            if row.get("map50_95") is None:
                return False
            trial.report(float(row["map50_95"]), step)
            return trial.should_prune()

        record = run_trial(ctx, number, params, report, log)
        record["backend"] = "local"
        records = add_record(ctx.out, record)
        tell(study, trial.number, record)
        write_html(ctx.out, records, settings)
        log(progress_line(record, len(records), cfg.trials, records, started, i + 1))
