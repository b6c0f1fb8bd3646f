"""Training settings recommended for a dataset from its statistics, by the recipe tables in
:mod:`edgeyolo.recipe`: augmentation preset, loss preset, STAL and batch size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeyolo.recipe import SMALL_SHARE_FOR_STAL, aug_preset_for, batch_for, loss_preset_for


@dataclass
class Recommendation:
    """A training setting suggested by the recipe tables for this dataset."""

    key: str  # "augmentation", "loss_preset", "stal" or "batch"
    value: Any
    reason: str


def recommend(
    train: dict | None,
    small_share: float | None,
    aerial: bool,
    gpu_mem_gib: float | None,
    scale: str,
    imgsz: int,
) -> list[Recommendation]:
    """The settings for a dataset whose training split has the statistics ``train`` (None: no training split)
    and whose instances are ``small_share`` small objects, trained at ``imgsz`` on ``gpu_mem_gib``."""
    recs: list[Recommendation] = []
    if train is not None and train["images"] - train["bad_images"] > 0:
        n_train = train["images"] - train["bad_images"]
        aug, why = aug_preset_for(n_train, train["objects_per_image"]["mean"], aerial)
        overrides = ", ".join(f"{k}={v}" for k, v in aug.overrides.items())
        recs.append(Recommendation("augmentation", aug.name, f"{why}; {aug.description} ({overrides})"))
    if small_share is not None:
        loss, why = loss_preset_for(small_share)
        recs.append(Recommendation("loss_preset", loss.name, f"{why}; box={loss.box:g}, cls={loss.cls:g}"))
        stal = small_share >= SMALL_SHARE_FOR_STAL
        relation = ">=" if stal else "<"
        recs.append(
            Recommendation(
                "stal",
                stal,
                f"small objects are {small_share:.0%} of instances ({relation} {SMALL_SHARE_FOR_STAL:.0%}); "
                + ("STAL's small-target-aware assignment helps" if stal else "STAL not needed"),
            )  # fmt: skip
        )
    n_images = train["images"] - train["bad_images"] if train is not None else None
    plan = batch_for(gpu_mem_gib, scale, imgsz, n_images or None)
    recs.append(
        Recommendation("batch", plan.batch, f"{plan.reason}; nominal batch {plan.nbs} via accumulation")
    )
    return recs
