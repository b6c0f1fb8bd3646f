"""One trial: train with edgeyolo's recipe and the sampled hyperparameters, score it, describe it as a record.

Both backends call :func:`run_trial`; only how per-epoch reports reach the pruner/scheduler differs.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeyolo.profiles import DeviceProfile
from edgeyolo.tune.objective import MAP_KEY, measure_latency, penalized
from edgeyolo.tune.space import apply_params

SCHEMA = "edgeyolo.tune/1"
TRIALS_DIR = "trials"
# Reporter: (epochs done, {"map50_95", "map50", "fitness"}) -> True to stop (pruned) the trial now.
Reporter = Callable[[int, dict[str, float | None]], bool]


@dataclass(frozen=True)
class TrialContext:
    """What every trial shares (pickled to Ray workers)."""

    base: Any  # TrainConfig of the search (profile, data, model, epochs, imgsz, batch, device, ...)
    out: Path  # the search folder
    objective: str  # map | map-latency
    latency_budget_ms: float | None
    latency_warmup: int | None
    latency_iterations: int | None

    @property
    def profile(self) -> DeviceProfile:
        return self.base.profile


def trial_name(number: int) -> str:
    return f"trial-{number:03d}"


def trial_config(ctx: TrialContext, number: int, params: dict[str, Any]) -> Any:
    """The trial's TrainConfig; plots are off (they cost seconds per trial and nobody reads them)."""
    cfg = apply_params(ctx.base, params)
    overrides = {"plots": False, **cfg.overrides}
    return dataclasses.replace(
        cfg, out=Path(ctx.out) / TRIALS_DIR, name=trial_name(number), overrides=overrides
    )


def _row(epochs_done: int, metrics: dict[str, float]) -> dict[str, float | None]:
    m = metrics.get(MAP_KEY)
    return {"epoch": epochs_done, "map50_95": m, "map50": metrics.get("metrics/mAP50(B)"), "fitness": m}


def run_trial(
    ctx: TrialContext, number: int, params: dict[str, Any], report: Reporter, log: Callable[[str], None]
) -> dict[str, Any]:
    """Train, score and return the trial's record (state complete | pruned | failed); never raises for a
    trial's own failure, so one bad configuration does not end the search."""
    from edgeyolo.train import train

    started = time.time()
    record: dict[str, Any] = {"schema": SCHEMA, "trial": number, "state": "running", "params": params,
                              "fitness": None, "map50_95": None, "map50": None, "precision": None,
                              "recall": None, "latency_ms": None, "epochs_run": 0, "seconds": None,
                              "history": [], "run_dir": None, "weights": None, "error": None,
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))}  # fmt: skip
    pruned = False

    def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
        nonlocal pruned
        row = _row(epoch + 1, metrics)
        record["history"].append(row)
        m = row["map50_95"]
        log(f"[tune] trial {number} epoch {epoch + 1}/{ctx.base.epochs}: mAP50-95 "
            f"{'n/a' if m is None else f'{m:.4f}'}")  # fmt: skip
        # The last epoch is reported too, but a trial that trained all its epochs is complete, not pruned.
        if report(epoch + 1, row) and epoch + 1 < ctx.base.epochs:
            pruned = True
        return pruned

    try:
        cfg = trial_config(ctx, number, params)
        result = train(cfg, on_epoch=on_epoch)
        record.update(run_dir=str(result.run_dir), weights=str(result.best), epochs_run=result.epochs_run)
        metrics = result.metrics
        record.update(map50_95=metrics.get(MAP_KEY), map50=metrics.get("metrics/mAP50(B)"),
                      precision=metrics.get("metrics/precision(B)"), recall=metrics.get("metrics/recall(B)"))  # fmt: skip
        record["fitness"] = record["map50_95"]
        record["state"] = "pruned" if pruned else "complete"
        if not pruned and ctx.objective == "map-latency":
            lat = measure_latency(result.best, result.imgsz, ctx.profile, Path(result.run_dir),
                                  Path(cfg.data), ctx.latency_warmup, ctx.latency_iterations)  # fmt: skip
            budget = ctx.latency_budget_ms or ctx.profile.latency_budget_ms
            record["latency_ms"] = lat["p90"]
            record["onnx_map50_95"] = lat["map50_95"]  # the exported artifact's own, on the latency images
            record["fitness"] = penalized(record["map50_95"] or 0.0, lat["p90"], budget)
    except Exception as e:  # a trial's failure is recorded; KeyboardInterrupt still ends the search
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        record.update(state="failed", error=f"{type(e).__name__}: {msg}", fitness=None)
    record["seconds"] = round(time.time() - started, 1)
    return record
