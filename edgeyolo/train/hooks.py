"""edgeyolo's recipe attached to an Ultralytics trainer: STAL, ProgLoss, assignment threshold, logging.

The trainer class is built in ``edgeyolo._backend.trainer.make_trainer_class`` and knows no recipe: it
calls the :class:`Recipe`'s ``train_transform``, ``prepare_loader`` and ``start_epoch``. These work on the
trainer object by duck typing (``trainer.args``, ``trainer.epoch``, ``trainer.model.criterion``,
``trainer.save_dir``) and import neither torch nor ultralytics.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeyolo.train.progloss import DEFAULT_DFL, ProgLossConfig, gains

PROGLOSS_LOG = "progloss.csv"
LOG_FIELDS = ("epoch", "box", "cls", "dfl", "o2m", "o2o", "stal_intensity")


@dataclass(frozen=True)
class Recipe:
    """What edgeyolo adds on top of the library's training loop (travels to DDP workers by pickling)."""

    base_box: float = 7.5  # loss preset gains ProgLoss schedules around
    base_cls: float = 0.5
    base_dfl: float = DEFAULT_DFL  # the L1 box term's gain; moves with box (see progloss.py)
    progloss: ProgLossConfig = field(default_factory=ProgLossConfig)
    stal: Any = None  # StalConfig, or None when STAL is off
    assign_min_px: float | None = None  # TaskAlignedAssigner.stride_val: GT sides below it are enlarged

    # What the backend's trainer calls (edgeyolo._backend.trainer.TrainingRecipe).
    def train_transform(self, seed: int) -> Any:
        """STAL's transform for the training dataset; None when STAL is off."""
        if self.stal is None:
            return None
        from edgeyolo.train.stal import SmallTargetAugment

        return SmallTargetAugment(self.stal, seed=seed)

    def prepare_loader(self, loader: Any, transform: Any) -> None:
        """Tag the loader's batches with their epoch: workers prefetch across epoch boundaries."""
        from edgeyolo.train.stal_loader import tag_loader_epochs

        tag_loader_epochs(loader, transform)

    def start_epoch(self, trainer: Any, transform: Any, write_log: bool) -> None:
        """Apply this epoch's gains, E2E weights, threshold and STAL intensity; log them when ``write_log``."""
        row = apply_epoch(trainer, self, transform)
        if write_log:
            log_epoch(trainer.save_dir, row)


def _unwrap(model: Any) -> Any:
    return model.module if hasattr(model, "module") else model


def _criterion(trainer: Any) -> Any:
    """The model's criterion, created now if the library has not yet (it does so lazily on the first batch)."""
    model = _unwrap(trainer.model)
    if getattr(model, "criterion", None) is None:
        model.criterion = model.init_criterion()
    return model.criterion


def apply_epoch(trainer: Any, recipe: Recipe, stal_transform: Any = None) -> dict[str, float]:
    """Set this epoch's loss gains, E2E weights, assignment threshold and STAL intensity; return them."""
    epoch, epochs = int(trainer.epoch), int(trainer.epochs)
    g = gains(recipe.progloss, epoch, epochs, recipe.base_box, recipe.base_cls, recipe.base_dfl)
    # The loss reads hyp (trainer.args, for both E2E branches) at every step.
    trainer.args.box, trainer.args.cls, trainer.args.dfl = g
    row: dict[str, float] = {"epoch": epoch, "box": g.box, "cls": g.cls, "dfl": g.dfl}
    crit = _criterion(trainer)
    for branch in (getattr(crit, "one2many", None), getattr(crit, "one2one", None), crit):
        hyp = getattr(branch, "hyp", None)
        if hyp is not None and hyp is not trainer.args:  # a criterion built from a copy of the args
            hyp.box, hyp.cls, hyp.dfl = g
    if hasattr(crit, "final_o2m"):  # E2ELoss: one-to-many -> one-to-one decay with our endpoints
        crit.o2m_copy, crit.final_o2m = recipe.progloss.o2m_start, recipe.progloss.o2m_end
        # From the epoch, not the criterion's counter of finished epochs: a criterion made anew (a resume
        # whose library does not carry the counter over) starts it at 0, and an epoch the library redoes
        # after a NaN recovery was already counted. The library's update() at the epoch's end moves on from it.
        crit.updates = epoch
        crit.o2m = crit.decay(epoch)
        crit.o2o = max(crit.total - crit.o2m, 0)
        row.update(o2m=round(crit.o2m, 6), o2o=round(crit.o2o, 6))
    if recipe.assign_min_px is not None:
        for branch in (getattr(crit, "one2many", None), getattr(crit, "one2one", None), crit):
            if branch is not None and hasattr(getattr(branch, "assigner", None), "stride_val"):
                branch.assigner.stride_val = recipe.assign_min_px
    if stal_transform is not None:
        stal_transform.set_epoch(epoch, epochs)
        row["stal_intensity"] = round(float(stal_transform.intensity), 6)
    return row


def log_epoch(save_dir: str | Path, row: dict[str, float]) -> None:
    """Write the epoch's gains to ``progloss.csv``; a resumed epoch replaces its earlier (killed) row."""
    path = Path(save_dir) / PROGLOSS_LOG
    rows = []
    if path.is_file():
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < row["epoch"]]
    rows.append({k: row.get(k, "") for k in LOG_FIELDS})
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def read_log(save_dir: str | Path) -> list[dict[str, float]]:
    with open(Path(save_dir) / PROGLOSS_LOG, newline="") as f:
        return [{k: float(v) if v != "" else None for k, v in r.items()} for r in csv.DictReader(f)]
