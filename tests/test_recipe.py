from __future__ import annotations

import math

import pytest

from edgeyolo.errors import ConfigError
from edgeyolo.recipe import (
    AUG_PRESETS,
    LOSS_PRESETS,
    aug_preset_for,
    batch_for,
    loss_preset_for,
    scaled_lr,
)
from edgeyolo.train.progloss import Phase, ProgLossConfig, gains, o2m_weight


@pytest.mark.parametrize(
    ("name", "box", "cls"),
    [
        ("general", 7.5, 0.5),
        ("small-objects", 10.0, 0.3),
        ("cls-priority", 5.0, 1.0),
        ("high-iou", 12.0, 0.3),
    ],
)
def test_loss_presets_match_the_document(name, box, cls):
    assert (LOSS_PRESETS[name].box, LOSS_PRESETS[name].cls) == (box, cls)


@pytest.mark.parametrize(
    ("images", "per_image", "aerial", "preset", "overrides"),
    [
        (500, 3, False, "small", {"mosaic": 1.0, "mixup": 0.3}),
        (5000, 3, False, "medium", {"mosaic": 1.0, "mixup": 0.1}),
        (20000, 3, False, "large", {"mosaic": 0.5, "mixup": 0.0}),
        (5000, 60, False, "dense", {"copy_paste": 0.3}),
        (5000, 60, True, "aerial", {"mosaic": 1.0, "flipud": 0.5}),
    ],
)
def test_augmentation_presets_by_dataset_type(images, per_image, aerial, preset, overrides):
    p, reason = aug_preset_for(images, per_image, aerial)
    assert p.name == preset and reason
    assert overrides.items() <= AUG_PRESETS[preset].overrides.items()


def test_loss_preset_recommendation():
    assert loss_preset_for(0.6)[0].name == "small-objects"
    assert loss_preset_for(0.1)[0].name == "general"


@pytest.mark.parametrize(("gpus", "lr"), [(1, 0.01), (2, 0.02), (4, 0.04), (8, 0.08)])
def test_linear_lr_scaling_table(gpus, lr):
    """The document's table: per-GPU batch 16, lr0 = 0.01 x (total batch / 16)."""
    assert scaled_lr(0.01, 16, gpus) == pytest.approx(lr)


@pytest.mark.parametrize(
    ("mem", "scale", "batch"),
    [(4, "n", 8), (8, "s", 16), (12, "m", 32), (24, "x", 64), (8, "l", 8), (4, "x", 1)],
)
def test_batch_from_gpu_memory(mem, scale, batch):
    assert batch_for(mem, scale, 640).batch == batch


def test_batch_on_cpu_and_bad_scale():
    assert batch_for(None).batch == 8
    with pytest.raises(ConfigError, match="scale"):
        batch_for(8, "q")


def test_progloss_auto_classification_first_then_localization():
    cfg = ProgLossConfig()
    box0, cls0, dfl0 = gains(cfg, 0, 10, 7.5, 0.5)
    box9, cls9, dfl9 = gains(cfg, 9, 10, 7.5, 0.5)
    assert (box0, cls0, dfl0) == (7.5 * 0.5, 0.5 * 2.0, 1.5 * 0.5)  # L1 box term held back with box
    assert (box9, cls9, dfl9) == (7.5, 0.5, 1.5)
    series = [gains(cfg, e, 10, 7.5, 0.5) for e in range(10)]
    assert all(a.box <= b.box and a.cls >= b.cls and a.dfl <= b.dfl for a, b in zip(series, series[1:]))
    assert all(g.dfl == pytest.approx(g.box / 5) for g in series)  # the library's IoU:L1 balance, 7.5:1.5
    mid = gains(cfg, 5, 11, 7.5, 0.5, base_dfl=2.0)  # t = 0.5: halfway on the cosine
    assert mid == (pytest.approx(7.5 * 0.75), pytest.approx(0.5 * 1.5), pytest.approx(2.0 * 0.75))


def test_progloss_manual_and_off():
    cfg = ProgLossConfig(mode="manual", phases=(Phase(0.3, 5.0, 1.0), Phase(1.0, 12.0, 0.3)))
    assert [gains(cfg, e, 11, 7.5, 0.5) for e in (0, 3, 4, 10)] == [
        (5.0, 1.0, 1.0),
        (5.0, 1.0, 1.0),
        (12.0, 0.3, 2.4),
        (12.0, 0.3, 2.4),
    ]
    off = ProgLossConfig(mode="off")
    assert gains(off, 3, 10, 10.0, 0.3, base_dfl=2.0) == (10.0, 0.3, 2.0)


def test_o2m_decay_endpoints():
    cfg = ProgLossConfig(o2m_start=0.9, o2m_end=0.2)
    assert o2m_weight(cfg, 0, 5) == pytest.approx(0.9)
    assert o2m_weight(cfg, 4, 5) == pytest.approx(0.2)
    assert math.isclose(o2m_weight(cfg, 2, 5), 0.55)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"mode": "manual"}, "phases"),
        ({"mode": "manual", "phases": (Phase(0.5, 5, 1),)}, "until: 1.0"),
        ({"mode": "manual", "phases": (Phase(0.5, 5, 1), Phase(0.4, 5, 1))}, "increase"),
        ({"mode": "manual", "phases": (Phase(1.0, -5, 1),)}, "box"),
        ({"o2m_start": 1.5}, "o2m_start"),
        ({"cls_start": 0}, "cls_start"),
    ],
)
def test_bad_progloss_configs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ProgLossConfig(**kwargs)


def test_progloss_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown key 'speed'"):
        ProgLossConfig.from_dict({"speed": 1})
    cfg = ProgLossConfig.from_dict({"mode": "manual", "phases": [{"until": 1.0, "box": 5, "cls": 1}]})
    assert ProgLossConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("caps", "amp", "words"),
    [
        ([], False, "float32"),
        ([(9, 0)], "bf16", "bfloat16"),  # H100/H200
        ([(8, 7)], "bf16", "bfloat16"),  # Jetson Orin
        ([(7, 5)], True, "float16"),  # T4, RTX 20xx
        ([(8, 6), (7, 5)], True, "7.5"),  # DDP over mixed GPUs: the oldest decides
    ],
)
def test_mixed_precision_by_compute_capability(caps, amp, words):
    from edgeyolo.recipe import mixed_precision

    got, reason = mixed_precision(caps)
    assert got == amp and words in reason


def test_cpu_training_leaves_amp_to_the_library(tmp_path, tiny_data):
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, prepare

    base = dict(profile=load_profile("x86-cpu"), data=tiny_data, out=tmp_path, device="cpu", check=False)
    _, args, settings, _ = prepare(TrainConfig(**base))
    assert "amp" not in args and settings["precision"] == "CPU: float32"
    _, args, settings, _ = prepare(TrainConfig(**base, overrides={"amp": "bf16"}))
    assert args["amp"] == "bf16" and settings["precision"] == "amp=bf16 (given)"


def test_large_gpu_batch_is_capped_on_small_datasets():
    from edgeyolo.recipe import MIN_BATCHES_PER_EPOCH, batch_for

    uncapped = batch_for(80, "n", 320)
    assert uncapped.batch == 256
    small = batch_for(80, "n", 320, train_images=200)
    assert (
        small.batch == 24 and 200 // small.batch >= MIN_BATCHES_PER_EPOCH and "capped to 24" in small.reason
    )
    assert batch_for(80, "n", 320, train_images=200, gpus=2).batch == 8  # per GPU: 2 x 8 = 16, 12 batches
    assert batch_for(80, "n", 320, train_images=100_000).batch == 256  # enough data: the table's batch
    assert batch_for(None, "n", 320, train_images=16).batch == 8  # CPU: unchanged


def test_gpus_known_to_break_float16_amp_train_in_float32():
    from edgeyolo.recipe import mixed_precision

    amp, reason = mixed_precision([(7, 5)], ("NVIDIA GeForce GTX 1660 SUPER",))
    assert amp is False and "GTX 1660" in reason and "float32" in reason
    assert mixed_precision([(7, 5)], ("Tesla T4",))[0] is True


def test_cuda_device_strings():
    from edgeyolo.recipe import parse_devices

    assert parse_devices("cuda:0,cuda:1") == ["0", "1"] and parse_devices(" 0, 1 ") == ["0", "1"]
    assert parse_devices("cpu") == [] and parse_devices(None) == []


# ---------------------------------------------------------------- data loader settings from the machine
GIB = 2**30


def _machine(cores, gpus, ram, **kw):
    from edgeyolo.train.loader import Machine

    return Machine(cores=cores, gpus=gpus, ram_available_gib=ram, **kw)


@pytest.mark.parametrize(
    ("machine", "plan_kw", "workers", "cache", "words"),
    [
        # One GPU, 16 cores: every core of its share but one (the library keeps 8), dataset cached.
        (_machine(16, 1, 100), {}, 15, "ram", "16 cores / 1 GPU(s) = 16 per training process"),
        # DDP on 8 GPUs, 64 cores: 8 cores per process, 7 workers each.
        (_machine(64, 8, 400), {}, 7, "ram", "= 8 per training process"),
        # Many cores for one GPU: at most MAX_WORKERS.
        (_machine(128, 1, 400), {}, 32, "ram", "at most 32"),
        # Training on one GPU of 8 visible: the library divides os.cpu_count() by all of them.
        (_machine(64, 1, 400, visible_gpus=8), {}, 8, "ram", "the library starts 8"),
        # A dataset of 2 batches: the library starts no more workers than batches.
        (_machine(16, 1, 100), {"train_images": 16, "batch": 8}, 2, "ram", "2 batches per epoch"),
        # The dataset does not fit in a quarter of the memory: read from disk every epoch.
        (_machine(16, 1, 16), {"cache_size": 5 * GIB}, 15, False, "read from disk every epoch"),
        # Under DDP every process caches its own copy.
        (_machine(32, 4, 16), {"cache_size": 2 * GIB}, 7, False, "x 4 training processes"),
        # Little memory, big batches: fewer workers, so the batches in flight fit.
        (_machine(16, 1, 2), {"batch": 256, "imgsz": 640, "cache_size": 0}, 0, "ram", "in flight"),
        # CPU training: the model's compute takes every core; no pinning.
        (_machine(2, 0, 20), {}, 0, "ram", "CPU training on 2 cores"),
    ],
)
def test_loader_settings_from_the_machine(machine, plan_kw, workers, cache, words):
    from edgeyolo.train.loader import plan_loader

    kw = {"batch": 32, "imgsz": 320, "train_images": 6400, "cache_size": 200 * 2**20, **plan_kw}
    plan = plan_loader(machine, **kw)
    assert (plan.workers, plan.cache) == (workers, cache)
    assert words in plan.reasons["workers"] + " | " + plan.reasons["cache"]
    assert plan.pin_memory is (machine.gpus > 0) and plan.persistent_workers is (workers > 0)
    assert set(plan.reasons) == {"workers", "cache", "pin_memory", "persistent_workers"}
    assert plan.train_args == {"workers": workers, "cache": cache}


@pytest.mark.parametrize(
    ("given", "cache"), [("off", False), ("disk", "disk"), ("ram", "ram"), (True, "ram")]
)
def test_given_loader_settings_win_and_are_recorded_as_given(given, cache):
    from edgeyolo.train.loader import plan_loader

    plan = plan_loader(_machine(16, 1, 100), batch=32, imgsz=320, train_images=6400, cache_size=100 * GIB,
                       workers=3, cache=given)  # fmt: skip
    assert (plan.workers, plan.cache) == (3, cache)
    assert plan.reasons["workers"] == "given" and plan.reasons["cache"] == "given"


@pytest.mark.parametrize(
    ("kw", "flag"),
    [({"workers": -1}, "--workers"), ({"workers": 1.5}, "--workers"), ({"cache": "gpu"}, "--cache")],
)
def test_bad_loader_settings_name_the_flag(kw, flag):
    from edgeyolo.train.loader import plan_loader

    with pytest.raises(ConfigError, match=flag):
        plan_loader(_machine(16, 1, 100), batch=32, imgsz=320, train_images=64, cache_size=0, **kw)


def test_cache_size_is_estimated_from_image_headers(tmp_path):
    from PIL import Image

    from edgeyolo.train.loader import cache_bytes

    paths = []
    for i, size in enumerate([(640, 480)] * 3 + [(100, 400)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", size).save(paths[-1])
    # long side resized to 320: 320x240 three times, 80x320 once; 3 bytes a pixel
    assert cache_bytes(paths, 320) == (3 * 320 * 240 + 80 * 320) * 3
    assert cache_bytes([], 320) == 0
