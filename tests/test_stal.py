"""STAL: which targets are pasted, where, with which pixels; the decay schedule; epoch sharing with workers."""

from __future__ import annotations

import collections
import math
import multiprocessing
import os
import pickle
import random

import cv2
import numpy as np
import pytest
import yaml

from edgeyolo.errors import ConfigError
from edgeyolo.train.stal import SmallTargetAugment, StalConfig, stal_intensity
from edgeyolo.train.stal_loader import find_stal

BG = (60, 60, 60)
COLOURS = {0: (0, 0, 255), 1: (0, 255, 0), 2: (255, 0, 0), 3: (0, 255, 255)}
SMALL = [((20, 20, 32, 32), 0), ((60, 40, 76, 50), 1), ((250, 260, 270, 280), 0)]  # 12x12, 16x10, 20x20
LARGE = [((100, 100, 200, 180), 2), ((210, 20, 300, 90), 3)]  # 100x80, 90x70
SMALL_CLASSES = {0, 1}


@pytest.fixture(scope="module")
def Instances():
    from edgeyolo._backend.env import import_ultralytics

    import_ultralytics()
    from ultralytics.utils.instance import Instances

    return Instances


def make_labels(Instances, objects, size=320, **instance_kwargs):
    """A BG image with filled rectangles of each class's colour at known xyxy boxes (end exclusive)."""
    img = np.full((size, size, 3), BG, np.uint8)
    for (x1, y1, x2, y2), c in objects:
        cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), COLOURS[c], thickness=-1)
    boxes = np.array([b for b, _ in objects], np.float32).reshape(-1, 4)
    cls = np.array([[c] for _, c in objects], np.float32).reshape(-1, 1)
    instances = Instances(bboxes=boxes, bbox_format="xyxy", normalized=False, **instance_kwargs)
    return {"img": img, "instances": instances, "cls": cls}


def run(transform, labels):
    n = len(labels["cls"])
    out = transform(labels)
    boxes = np.asarray(out["instances"].bboxes, np.float64)
    assert len(boxes) == len(out["cls"])
    return out, boxes[:n], boxes[n:], out["cls"][n:, 0].astype(int)


def cover(a, b):
    """Share of box b's area inside box a."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return iw * ih / ((b[2] - b[0]) * (b[3] - b[1]))


# Configuration and schedule


@pytest.mark.parametrize(
    "field, value",
    [
        ("p", 1.5), ("p", -0.1), ("p", True), ("size", 0), ("size", 31.5), ("copies", 0), ("bank", -1),
        ("scale", (1.5, 1.0)), ("scale", (0.0, 1.0)), ("scale", (1.0, 2.0, 3.0)), ("scale", "big"),
        ("overlap", 2.0), ("schedule", "exp"), ("end", -1.0), ("decay_start", 1.5), ("margin", -1),
    ],
)  # fmt: skip
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=rf"stal\.{field}="):
        StalConfig(**{field: value})


def test_config_normalises_scale():
    assert StalConfig(scale=[1, 2]).scale == (1.0, 2.0)
    assert StalConfig(scale=1.25).scale == (1.25, 1.25)
    assert StalConfig().scale == (1.0, 1.5)


@pytest.mark.parametrize(
    "schedule, decay_start, end, epoch, expected",
    [
        ("linear", 0.0, 0.0, 0, 1.0), ("linear", 0.0, 0.0, 5, 0.5), ("linear", 0.0, 0.0, 10, 0.0),
        ("linear", 0.0, 0.2, 5, 0.6), ("linear", 0.5, 0.0, 5, 1.0), ("linear", 0.5, 0.0, 8, 0.4),
        ("linear", 0.0, 0.0, 20, 0.0),  # past the last epoch: held at `end`
        ("cosine", 0.0, 0.0, 2, 0.5 * (1 + math.cos(0.2 * math.pi))), ("cosine", 0.0, 0.0, 5, 0.5),
        ("cosine", 0.0, 0.0, 10, 0.0), ("cosine", 0.5, 0.1, 4, 1.0),
        ("step", 0.5, 0.1, 5, 1.0), ("step", 0.5, 0.1, 6, 0.1), ("step", 0.5, 0.1, 10, 0.1),
        ("none", 0.0, 0.0, 10, 1.0),
    ],
)  # fmt: skip
def test_schedule_values(schedule, decay_start, end, epoch, expected):
    cfg = StalConfig(schedule=schedule, decay_start=decay_start, end=end)
    assert stal_intensity(cfg, epoch, 11) == pytest.approx(expected, abs=1e-12)


def test_intensity_is_full_until_set_and_for_single_epoch_runs():
    cfg = StalConfig()
    assert stal_intensity(cfg, 0, 1) == 1.0
    t = SmallTargetAugment(cfg)
    assert t.intensity == 1.0
    t.set_epoch(3, 4)
    assert (t.epoch, t.epochs, t.intensity) == (3, 4, 0.0)


# What is pasted, where, and with which pixels


def test_only_small_targets_are_pasted_and_stay_small(Instances):
    cfg = StalConfig(p=1.0, bank=0, copies=3, scale=(1.0, 1.5))
    pasted = 0
    for seed in range(25):
        _, orig, new, new_cls = run(SmallTargetAugment(cfg, seed=seed), make_labels(Instances, SMALL + LARGE))
        np.testing.assert_allclose(orig, [b for b, _ in SMALL + LARGE])
        assert set(new_cls.tolist()) <= SMALL_CLASSES
        if len(new):
            sides = np.c_[new[:, 2] - new[:, 0], new[:, 3] - new[:, 1]]
            assert sides.max() < cfg.size and sides.min() >= 10 * cfg.scale[0] - 1e-6
        pasted += len(new)
    assert pasted >= 25  # p=1: every image gets 1..3 copies unless no free spot is found


@pytest.mark.parametrize("overlap", [0.0, 0.05])
def test_pasted_boxes_respect_overlap(Instances, overlap):
    # A crowded image: free space exists but random spots often hit a box.
    objects = SMALL + LARGE + [((20, 200, 90, 300), 3), ((150, 220, 240, 300), 2)]
    cfg = StalConfig(p=1.0, bank=0, copies=3, overlap=overlap)
    for seed in range(25):
        _, orig, new, _ = run(SmallTargetAugment(cfg, seed=seed), make_labels(Instances, objects))
        for i, b in enumerate(new):
            assert all(cover(b, o) <= overlap + 1e-9 for o in orig)
            assert all(cover(b, o) <= overlap + 1e-9 for o in new[:i])
            assert all(cover(o, b) <= overlap + 1e-9 for o in new[:i])  # a later copy never hides it


def test_pixels_match_labels_at_scale_one(Instances):
    cfg = StalConfig(p=1.0, bank=0, copies=3, scale=(1.0, 1.0), overlap=0.0)
    for seed in range(10):
        out, _, new, new_cls = run(SmallTargetAugment(cfg, seed=seed), make_labels(Instances, SMALL + LARGE))
        for (x1, y1, x2, y2), c in zip(new, new_cls):
            assert (x1, y1, x2, y2) == tuple(np.round((x1, y1, x2, y2)))  # integer boxes at scale 1
            region = out["img"][int(y1) : int(y2), int(x1) : int(x2)]
            assert region.shape[:2] in ((12, 12), (10, 16), (20, 20))
            assert (region == COLOURS[c]).all()


def test_upsampled_copies_match_their_boxes(Instances):
    cfg = StalConfig(p=1.0, bank=0, copies=3, scale=(1.5, 1.5), overlap=0.0)
    for seed in range(10):
        out, _, new, new_cls = run(SmallTargetAugment(cfg, seed=seed), make_labels(Instances, SMALL))
        for (x1, y1, x2, y2), c in zip(new, new_cls):
            w, h = x2 - x1, y2 - y1
            assert any(
                abs(w - sw * 1.5) < 1.0 and abs(h - sh * 1.5) < 1.0
                for sw, sh in ((12, 12), (16, 10), (20, 20))
            )
            inner = out["img"][math.ceil(y1) + 1 : math.floor(y2) - 1, math.ceil(x1) + 1 : math.floor(x2) - 1]
            assert inner.size and (inner == COLOURS[c]).all()
            yc, xc = int((y1 + y2) / 2), int((x1 + x2) / 2)  # past the box edge lies the copied margin
            assert (out["img"][yc, math.ceil(x2)] == BG).all() and (out["img"][math.ceil(y2), xc] == BG).all()


def test_upsampling_never_makes_a_target_large(Instances):
    cfg = StalConfig(p=1.0, bank=0, copies=3, scale=(2.0, 2.0))
    for seed in range(5):
        *_, new, _ = run(SmallTargetAugment(cfg, seed=seed), make_labels(Instances, [((40, 40, 64, 64), 0)]))
        assert len(new) and np.allclose(new[:, 2:] - new[:, :2], 24)  # 48 px would not be small: kept at 24


@pytest.mark.parametrize("p, epoch", [(0.0, 0), (1.0, 9)])
def test_nothing_happens_at_zero_probability_or_intensity(Instances, p, epoch):
    t = SmallTargetAugment(StalConfig(p=p, end=0.0), seed=0)
    t.set_epoch(epoch, 10)
    labels = make_labels(Instances, SMALL + LARGE)
    img = labels["img"].copy()
    out, _, new, _ = run(t, labels)
    assert len(new) == 0 and t.bank_size == 0
    assert out["img"] is labels["img"] and (out["img"] == img).all()


def test_large_only_image_gets_pastes_only_from_the_bank(Instances):
    cfg = StalConfig(p=1.0, copies=3, bank=8, scale=(1.0, 1.0), overlap=0.0)
    empty = SmallTargetAugment(cfg, seed=0)
    *_, new, _ = run(empty, make_labels(Instances, LARGE))
    assert len(new) == 0 and empty.bank_size == 0

    t = SmallTargetAugment(cfg, seed=0)
    run(t, make_labels(Instances, SMALL))
    assert 1 <= t.bank_size <= cfg.copies
    pasted = 0
    for _ in range(10):
        out, orig, new, new_cls = run(t, make_labels(Instances, LARGE))
        np.testing.assert_allclose(orig, [b for b, _ in LARGE])
        assert set(new_cls.tolist()) <= SMALL_CLASSES
        for (x1, y1, x2, y2), c in zip(new.astype(int), new_cls):
            assert (out["img"][y1:y2, x1:x2] == COLOURS[c]).all()
        pasted += len(new)
    assert pasted >= 10


def test_bank_is_bounded(Instances):
    t = SmallTargetAugment(StalConfig(p=1.0, copies=3, bank=4), seed=0)
    for _ in range(5):
        run(t, make_labels(Instances, SMALL))
    assert t.bank_size == 4


def test_same_seed_same_result(Instances):
    cfg = StalConfig(p=1.0, bank=0)
    a = run(SmallTargetAugment(cfg, seed=3), make_labels(Instances, SMALL + LARGE))
    b = run(SmallTargetAugment(cfg, seed=3), make_labels(Instances, SMALL + LARGE))
    assert (a[0]["img"] == b[0]["img"]).all() and np.array_equal(a[2], b[2])


def test_normalised_xywh_input_is_converted(Instances):
    labels = make_labels(Instances, SMALL + LARGE)
    labels["instances"].convert_bbox("xywh")
    labels["instances"].normalize(320, 320)
    _, orig, new, _ = run(SmallTargetAugment(StalConfig(p=1.0, bank=0), seed=0), labels)
    np.testing.assert_allclose(orig, [b for b, _ in SMALL + LARGE], atol=1e-3)
    assert len(new)


def test_segments_get_rectangles_and_keypoints_pass_through(Instances):
    objects = SMALL + LARGE
    boxes = np.array([b for b, _ in objects], np.float32)
    corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [2, 3]], boxes[:, [0, 3]]], 1)
    segments = np.repeat(corners, 3, axis=1)  # 12 points per polygon
    out, _, new, _ = run(
        SmallTargetAugment(StalConfig(p=1.0, bank=0), seed=0),
        make_labels(Instances, objects, segments=segments),
    )
    seg = out["instances"].segments
    assert len(new) and seg.shape == (len(objects) + len(new), 12, 2)
    np.testing.assert_allclose(seg[len(objects) :].min(1), new[:, :2], atol=1e-4)
    np.testing.assert_allclose(seg[len(objects) :].max(1), new[:, 2:], atol=1e-4)

    keypoints = np.zeros((len(objects), 17, 3), np.float32)
    labels = make_labels(Instances, objects, keypoints=keypoints)
    *_, new, _ = run(SmallTargetAugment(StalConfig(p=1.0, bank=0), seed=0), labels)
    assert len(new) == 0


# Epoch sharing with DataLoader workers


def _report(t, conn):
    conn.recv()  # wait until the parent has set the epoch
    conn.send((t.epoch, t.epochs, t.intensity))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_set_epoch_in_parent_reaches_child(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no '{method}' start method on this platform")
    ctx = multiprocessing.get_context(method)
    t = SmallTargetAugment(StalConfig(schedule="linear"))
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_report, args=(t, child))
    proc.start()
    t.set_epoch(5, 11)  # after the child exists: only shared memory can carry it there
    parent.send("go")
    assert parent.poll(30), "child did not answer"
    assert parent.recv() == (5, 11, 0.5)
    proc.join(10)
    assert proc.exitcode == 0


def test_pickled_copy_is_private_and_keeps_its_epoch(Instances):
    t = SmallTargetAugment(StalConfig(p=1.0), seed=0)
    run(t, make_labels(Instances, SMALL))
    t.set_epoch(2, 11)
    u = pickle.loads(pickle.dumps(t))
    assert (u.epoch, u.epochs, u.bank_size, u.cfg) == (2, 11, 0, t.cfg)
    t.set_epoch(7, 11)
    assert u.epoch == 2
    u.set_epoch(9, 11)
    assert (t.epoch, u.epoch) == (7, 9)


# Inside Ultralytics' pipeline


class _Count:
    def __init__(self):
        self.n: list[int] = []

    def __call__(self, labels):
        self.n.append(len(labels["instances"]))
        return labels


def test_find_stal():
    class Box:
        def __init__(self, transforms):
            self.transforms = transforms

    t = SmallTargetAugment()
    assert find_stal(Box([Box([object()]), object(), Box([Box([t])])])) is t
    assert find_stal(Box([object()])) is None
    assert find_stal(t) is t


def test_runs_inside_a_yolo_dataset_pipeline(tmp_path, Instances):
    from ultralytics.data import YOLODataset
    from ultralytics.utils import DEFAULT_CFG_DICT, IterableSimpleNamespace

    from edgeyolo.data.synth import SynthConfig, synthesize

    data = yaml.safe_load(
        synthesize(SynthConfig(out=tmp_path, train=4, val=2, imgsz=128)).data_yaml.read_text()
    )
    hyp = IterableSimpleNamespace(**DEFAULT_CFG_DICT)  # mosaic 1.0, affine, HSV, flips
    ds = YOLODataset(img_path=str(tmp_path / "images" / "train"), imgsz=128, augment=True, hyp=hyp,
                     data={"names": data["names"], "nc": data["nc"]})  # fmt: skip
    random.seed(0)  # Ultralytics' mosaic and affine draw from the global generators
    np.random.seed(0)
    # At 128 px the demo objects are crowded: a looser overlap and a 64 px threshold let copies happen.
    stal = SmallTargetAugment(StalConfig(p=1.0, size=64, overlap=0.5), seed=0)
    before, after = _Count(), _Count()
    for t in (before, stal, after):
        ds.transforms.insert(-1, t)  # just before Format
    assert type(ds.transforms.transforms[-1]).__name__ == "Format"
    assert find_stal(ds.transforms) is stal
    for i in range(8):
        item = ds[i % len(ds)]
        n = len(item["cls"])
        assert item["img"].shape == (3, 128, 128)
        assert item["bboxes"].shape == (n, 4) and item["batch_idx"].shape == (n,) and n == after.n[-1]
        assert n == 0 or (0.0 <= float(item["bboxes"].min()) and float(item["bboxes"].max()) <= 1.0)
    assert stal.bank_size > 0
    assert sum(after.n) > sum(before.n)  # copies were pasted


# In a real training run


def _small_box_dataset(root, n_train=8, n_val=2, size=64):
    """Images of ``size`` px with three 8x8 targets each, away from the border and from each other."""
    spots = ((10, 10), (40, 12), (22, 42))
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for k in range(n):
            img = np.full((size, size, 3), BG, np.uint8)
            lines = []
            for j, (x, y) in enumerate(spots):
                cv2.rectangle(img, (x, y), (x + 7, y + 7), COLOURS[j % 2], thickness=-1)
                lines.append(f"{j % 2} {(x + 4) / size} {(y + 4) / size} {8 / size} {8 / size}")
            cv2.imwrite(str(root / "images" / split / f"{k}.png"), img)
            (root / "labels" / split / f"{k}.txt").write_text("\n".join(lines) + "\n")
    data = {"path": str(root), "train": "images/train", "val": "images/val", "names": {0: "red", 1: "green"}}
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml", len(spots)


def test_stal_in_training_batches_from_workers_follows_the_decay_through_close_mosaic(tmp_path):
    """A 3-epoch run with DataLoader workers, STAL p=1 and a step decay to 0 after half the run (intensity
    1, 1, 0). close_mosaic=2 rebuilds the transforms before epoch 1. Without mosaic or affine changes every
    image keeps its 3 labels, so any further box in a batch is a pasted one: every image of epochs 0 and 1
    has some (epoch 1 after the rebuild), none of epoch 2 has any, although the workers prepared epoch 2's
    first batches during epoch 1."""
    import collections

    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, train
    from edgeyolo.train.hooks import read_log

    data, per_image = _small_box_dataset(tmp_path / "data")
    batches = []

    def watch(trainer):
        def preprocess_batch(batch, _original=trainer.preprocess_batch):
            counts = collections.Counter(batch["batch_idx"].int().tolist())
            wh = batch["bboxes"][:, 2:].numpy() * 64
            batches.append({
                "epoch": trainer.epoch, "counts": [counts[i] for i in range(len(batch["im_file"]))],
                "sides": wh.max(1).tolist(), "workers": trainer.train_loader.num_workers,
                "transforms": trainer.train_loader.dataset.transforms,
                "stal_inside": find_stal(trainer.train_loader.dataset.transforms) is trainer.stal_transform,
                "main_bank": trainer.stal_transform.bank_size,
            })  # fmt: skip
            return _original(batch)

        trainer.preprocess_batch = preprocess_batch

    stal = StalConfig(p=1.0, schedule="step", decay_start=0.5, end=0.0)
    overrides = {"mosaic": 0.0, "mixup": 0.0, "scale": 0.0, "translate": 0.0, "close_mosaic": 2, "val": False,
                 "plots": False, "warmup_epochs": 0}  # fmt: skip
    r = train(TrainConfig(profile=load_profile("x86-cpu"), data=data, out=tmp_path / "runs", epochs=3, imgsz=64,
                          batch=4, device="cpu", stal=True, stal_config=stal, check=False, overrides=overrides,
                          workers=2),  # the library would load in the main process on CPU; GPU runs use workers
              callbacks={"on_train_start": [watch]})  # fmt: skip

    assert [x["stal_intensity"] for x in read_log(r.run_dir)] == [1.0, 1.0, 0.0]
    by_epoch = collections.defaultdict(list)
    for b in batches:
        assert b["workers"] == 2 and b["main_bank"] == 0  # made in workers: the main process never pasted
        assert b["stal_inside"]
        by_epoch[b["epoch"]].extend(b["counts"])
    assert sorted(by_epoch) == [0, 1, 2] and all(len(v) == 8 for v in by_epoch.values())
    assert all(n > per_image for n in by_epoch[0] + by_epoch[1]), dict(by_epoch)
    assert by_epoch[2] == [per_image] * 8, dict(by_epoch)  # intensity 0: nothing pasted
    first = batches[0]["transforms"]
    rebuilt = [b["transforms"] is not first for b in batches]
    assert rebuilt == [b["epoch"] >= 1 for b in batches]  # close_mosaic rebuilt them, with STAL inside
    assert max(s for b in batches for s in b["sides"]) < stal.size  # pasted copies are small targets


class _Probe:
    """A transform put right after STAL in a run's training pipeline: each sample carries the STAL intensity
    it was made with (read in the process that made it, a DataLoader worker) through collate into the batch."""

    def __init__(self, stal):
        self.stal = stal

    def __call__(self, labels):
        labels["stal_probe"] = (os.getpid(), round(float(self.stal.intensity), 6))
        return labels


def _watch_batches(batches):
    """on_train_start: record, for every batch trained on, its epoch, the STAL intensity each image was made with,
    the labels per image, and (after its step) the one-to-many weight the loss used."""

    def on_train_start(trainer):
        ds = trainer.train_loader.dataset
        stal = find_stal(ds.transforms)
        assert stal is trainer.stal_transform and not isinstance(ds.transforms.transforms[-2], _Probe)
        ds.transforms.insert(len(ds.transforms.transforms) - 1, _Probe(stal))  # before the workers start

        def preprocess_batch(batch, _original=trainer.preprocess_batch):
            counts = collections.Counter(batch["batch_idx"].int().tolist())
            pids, intensities = zip(*batch["stal_probe"])
            batches.append({"epoch": trainer.epoch, "intensity": set(intensities), "pids": set(pids),
                            "counts": [counts[i] for i in range(len(batch["im_file"]))]})  # fmt: skip
            return _original(batch)

        trainer.preprocess_batch = preprocess_batch

    def on_train_batch_end(trainer):
        crit = trainer.model.criterion
        batches[-1].update(
            o2m=round(crit.o2m, 6), o2o=round(crit.o2o, 6), workers=trainer.train_loader.num_workers
        )

    return {"on_train_start": [on_train_start], "on_train_batch_end": [on_train_batch_end]}


class _Killed(Exception):
    pass


def test_every_batch_from_the_first_gets_its_epochs_stal_and_o2m_weight_fresh_and_resumed(
    tmp_path, monkeypatch
):
    """5 epochs, workers=2, close_mosaic=0 (the loader is never reset, so its workers prefetch across every
    epoch boundary), STAL p=1 with a linear decay to 0: intensity 1, 0.75, 0.5, 0.25, 0; the library's o2m
    weight 0.8 -> 0.1 linearly: 0.8, 0.625, 0.45, 0.275, 0.1. The run is killed at the start of epoch 3 and
    resumed. Every batch, the first of each epoch included, must be made with its own epoch's intensity and
    trained with its own epoch's o2m weight; epoch 0 pastes into every image, epoch 4 into none."""
    from edgeyolo._backend import trainer as backend
    from edgeyolo.profiles import load_profile
    from edgeyolo.train import TrainConfig, resume, train
    from edgeyolo.train.hooks import read_log

    data, per_image = _small_box_dataset(tmp_path / "data")
    want_intensity = [1.0, 0.75, 0.5, 0.25, 0.0]
    want_o2m = [0.8, 0.625, 0.45, 0.275, 0.1]
    batches: list[dict] = []
    callbacks = _watch_batches(batches)

    def kill(trainer):
        if trainer.epoch == 3:  # after epoch 2's last.pt: what a kill here leaves; the workers go with it
            trainer.train_loader.close()
            raise _Killed

    overrides = {"mosaic": 0.0, "mixup": 0.0, "scale": 0.0, "translate": 0.0, "close_mosaic": 0, "val": False,
                 "plots": False, "warmup_epochs": 0}  # fmt: skip
    cfg = TrainConfig(profile=load_profile("x86-cpu"), data=data, out=tmp_path / "runs", name="r", epochs=5,
                      imgsz=64, batch=4, device="cpu", stal=True, check=False, overrides=overrides, workers=2,
                      stal_config=StalConfig(p=1.0, schedule="linear", end=0.0))  # fmt: skip
    with pytest.raises(_Killed):
        train(cfg, callbacks={**callbacks, "on_train_epoch_start": [kill]})
    fresh = len(batches)

    original = backend.train_detector  # resume() takes no callbacks: hand them to the backend

    def forget_o2m_updates(trainer):  # as a library whose resume does not carry the counter over leaves it
        trainer.model.criterion = None

    def train_detector(*args, **kwargs):
        return original(
            *args, **{**kwargs, "callbacks": {**callbacks, "on_pretrain_routine_end": [forget_o2m_updates]}}
        )

    monkeypatch.setattr(backend, "train_detector", train_detector)
    r = resume(tmp_path / "runs" / "r")

    assert [b["epoch"] for b in batches] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4], [b["epoch"] for b in batches]
    assert fresh == 6
    for b in batches:
        e = b["epoch"]
        assert b["workers"] == 2 and os.getpid() not in b["pids"], b  # made in the workers
        assert b["intensity"] == {want_intensity[e]}, (e, b)
        assert (b["o2m"], b["o2o"]) == (pytest.approx(want_o2m[e]), pytest.approx(1 - want_o2m[e])), (e, b)
    first, last = [b["counts"] for b in batches[:2]], [b["counts"] for b in batches[-2:]]
    assert all(n > per_image for c in first for n in c), first  # intensity 1: every image got pastes
    assert all(n == per_image for c in last for n in c), last  # intensity 0: none
    log = read_log(r.run_dir)
    assert [x["stal_intensity"] for x in log] == want_intensity
    assert [x["o2m"] for x in log] == pytest.approx(want_o2m)
