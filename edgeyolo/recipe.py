"""The YOLO26 training recipe's tables, from the source workflow document.

Loss presets, augmentation presets by dataset type, batch size by GPU memory, and the linear LR scaling
rule for multi-GPU training. Everything here is plain data and arithmetic (no torch), so the dataset
check and the CLI can use it on any machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgeyolo.errors import ConfigError


@dataclass(frozen=True)
class LossPreset:
    name: str
    box: float
    cls: float
    description: str


LOSS_PRESETS: dict[str, LossPreset] = {
    p.name: p
    for p in (
        LossPreset("general", 7.5, 0.5, "General detection (Ultralytics default)"),
        LossPreset("small-objects", 10.0, 0.3, "Small objects: more weight on box precision"),
        LossPreset("cls-priority", 5.0, 1.0, "Classification priority: fewer false positives"),
        LossPreset("high-iou", 12.0, 0.3, "High IoU requirement: tighter localization"),
    )
}


@dataclass(frozen=True)
class AugPreset:
    name: str
    overrides: dict  # ultralytics train arguments
    description: str


AUG_PRESETS: dict[str, AugPreset] = {
    p.name: p
    for p in (
        AugPreset(
            "small",
            {"mosaic": 1.0, "mixup": 0.3},
            "Small dataset (< 1000 images): strong augmentation for diversity",
        ),
        AugPreset("medium", {"mosaic": 1.0, "mixup": 0.1}, "Medium dataset: moderate augmentation"),
        AugPreset(
            "large",
            {"mosaic": 0.5, "mixup": 0.0},
            "Large dataset (> 10k images): weak augmentation, keep the distribution",
        ),
        # The document's dense-scene advice is copy_paste=0.3; the library's CopyPaste needs polygon labels and
        # does nothing on box-only data, so edgeyolo pairs it with STAL's box copy/paste (see stal.py).
        AugPreset(
            "dense",
            {"mosaic": 1.0, "mixup": 0.1, "copy_paste": 0.3},
            "Dense scenes: copy/paste for occlusion",
        ),
        AugPreset(
            "aerial", {"mosaic": 1.0, "flipud": 0.5}, "Aerial/satellite: rotation invariance, vertical flips"
        ),
    )
}

SMALL_DATASET_IMAGES = 1000
LARGE_DATASET_IMAGES = 10_000
DENSE_OBJECTS_PER_IMAGE = 30.0  # mean objects per image above which a scene counts as dense
SMALL_SHARE_FOR_STAL = 0.2  # share of objects < 32x32 px above which STAL is recommended
SMALL_SHARE_FOR_PRESET = 0.4  # ... and above which the small-objects loss preset is recommended


def aug_preset_for(
    train_images: int, objects_per_image: float, aerial: bool = False
) -> tuple[AugPreset, str]:
    """The augmentation preset for a dataset and the reason, per the document's table."""
    if aerial:
        return AUG_PRESETS["aerial"], "declared aerial/satellite imagery"
    if objects_per_image > DENSE_OBJECTS_PER_IMAGE:
        return AUG_PRESETS[
            "dense"
        ], f"{objects_per_image:.1f} objects per image (dense scene > {DENSE_OBJECTS_PER_IMAGE:g})"
    if train_images < SMALL_DATASET_IMAGES:
        return AUG_PRESETS["small"], f"{train_images} training images (< {SMALL_DATASET_IMAGES})"
    if train_images > LARGE_DATASET_IMAGES:
        return AUG_PRESETS["large"], f"{train_images} training images (> {LARGE_DATASET_IMAGES})"
    return AUG_PRESETS[
        "medium"
    ], f"{train_images} training images ({SMALL_DATASET_IMAGES}-{LARGE_DATASET_IMAGES})"


def loss_preset_for(small_share: float) -> tuple[LossPreset, str]:
    if small_share >= SMALL_SHARE_FOR_PRESET:
        return LOSS_PRESETS["small-objects"], f"{small_share:.0%} of objects are smaller than 32x32 px"
    return LOSS_PRESETS[
        "general"
    ], f"{small_share:.0%} of objects are smaller than 32x32 px (no special emphasis)"


# (GPU memory GiB, batch per GPU, largest model scale that fits) from the document's table (at 640 px).
BATCH_TABLE: tuple[tuple[float, int, str], ...] = ((4, 8, "s"), (8, 16, "m"), (12, 32, "l"), (24, 64, "x"))
SCALES = "nsmlx"
NOMINAL_BATCH = 64  # ultralytics nbs: gradients accumulate to this many images per optimizer step


@dataclass(frozen=True)
class BatchPlan:
    batch: int  # per GPU
    nbs: int  # nominal batch: accumulate = round(nbs / (batch x GPUs))
    reason: str


MIN_BATCHES_PER_EPOCH = 8  # a large GPU's batch is capped on small datasets to keep this many per epoch


def batch_for(
    gpu_mem_gib: float | None,
    scale: str = "n",
    imgsz: int = 640,
    train_images: int | None = None,
    gpus: int = 1,
) -> BatchPlan:
    """Per-GPU batch from memory, model scale and image size; accumulation keeps the nominal batch.

    With ``train_images``, the batch is also capped so that an epoch has MIN_BATCHES_PER_EPOCH batches
    where the dataset allows (the batch never goes below 8): the memory table alone gives batch 256 on an
    80 GB GPU at 320 px, one batch and one optimizer step per epoch for a 200-image dataset. Below the
    nominal batch, gradients accumulate to ``nbs`` images per step, as with the library's default batch.
    """
    if scale not in SCALES:
        raise ConfigError(f"unknown model scale '{scale}'; use one of n, s, m, l, x")
    if gpu_mem_gib is None:
        return BatchPlan(8, NOMINAL_BATCH, "CPU training: batch 8 (time dominated by compute, not memory)")
    rows = [r for r in BATCH_TABLE if r[0] <= gpu_mem_gib + 0.5]
    if not rows:
        return BatchPlan(
            4, NOMINAL_BATCH, f"{gpu_mem_gib:.0f} GiB is below the table's 4 GiB: batch 4 with accumulation"
        )
    mem, batch, max_scale = rows[-1]
    # One step down the table per scale above what this memory fits (halving the batch each time).
    over = SCALES.index(scale) - SCALES.index(max_scale)
    if over > 0:
        batch = max(1, batch >> over)
    # The table is for 640 px; memory scales with pixels, so smaller inputs fit proportionally more.
    batch = max(1, min(256, int(batch * (640 / imgsz) ** 2 // 8 * 8) or batch))
    reason = f"{gpu_mem_gib:.0f} GiB GPU, yolo26{scale}, {imgsz} px -> batch {batch} per GPU (table row {mem:g} GiB)"
    if train_images is not None:
        cap = max(8, train_images // (MIN_BATCHES_PER_EPOCH * max(gpus, 1)) // 8 * 8)
        if batch > cap:
            reason += f", capped to {cap}: {train_images} training images make {train_images // cap} batches per epoch"
            batch = cap
    return BatchPlan(batch, NOMINAL_BATCH, reason)


# GPUs on which float16 AMP gives NaN losses or zero mAP (the library's own list, from its AMP check).
_FP16_AMP_BREAKS = re.compile(
    r"(nvidia|geforce|quadro|tesla).*?(1660|1650|1630|t400|t550|t600|t1000|t1200|t2000|k40m)", re.IGNORECASE
)


def fp16_amp_breaks(gpu_name: str) -> bool:
    return bool(_FP16_AMP_BREAKS.search(gpu_name))


def mixed_precision(
    capabilities: list[tuple[int, int]], names: tuple[str, ...] = ()
) -> tuple[bool | str, str]:
    """The library's ``amp`` value for CUDA devices of these compute capabilities (and names), with the reason.

    bfloat16 where every GPU computes it natively (compute capability 8.0 and newer: A100, H100, RTX 30xx+,
    Jetson Orin): float32's exponent range, so no loss scaling, and no AMP check. The library's float16
    check runs a downloaded yolo26n.pt; edgeyolo never downloads, so on older GPUs float16 AMP runs with
    that check reduced to the library's list of GPUs known to fail (see ``_backend/patches.py``).
    """
    if not capabilities:
        return False, "CPU: float32"
    broken = next((n for n in names if fp16_amp_breaks(n)), None)
    oldest = min(capabilities)
    if broken and oldest < (8, 0):
        return False, f"float32 ({broken} is known to give NaN losses with float16 AMP)"
    if oldest >= (8, 0):
        return "bf16", f"bfloat16 mixed precision (compute capability {oldest[0]}.{oldest[1]})"
    return (
        True,
        f"float16 mixed precision (compute capability {oldest[0]}.{oldest[1]} has no native bfloat16)",
    )


BASE_BATCH = 16  # the single-GPU batch the baseline lr0 is tuned for


def scaled_lr(lr0: float, batch_per_gpu: int, gpus: int) -> float:
    """Linear scaling rule: lr0 x (total batch / 16)."""
    if gpus < 1 or batch_per_gpu < 1:
        raise ConfigError(f"batch per GPU and GPU count must be >= 1, got {batch_per_gpu} and {gpus}")
    return lr0 * (batch_per_gpu * gpus) / BASE_BATCH


def parse_devices(device: str | None) -> list[str]:
    """'0,1' or 'cuda:0,cuda:1' -> ['0', '1']; 'cpu' or None -> []."""
    if device is None or str(device).strip().lower() in ("", "cpu", "mps"):
        return []
    return [d.strip().lower().removeprefix("cuda:") for d in str(device).split(",") if d.strip()]
