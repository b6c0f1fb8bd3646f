"""Training with the recipe: settings saved, schedules applied per epoch, bad input refused, resume."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from edgeyolo.errors import ConfigError, DatasetError, EdgeYoloError
from edgeyolo.profiles import load_profile
from edgeyolo.train import TrainConfig, prepare, train
from edgeyolo.train.hooks import read_log
from edgeyolo.train.progloss import Phase, ProgLossConfig, gains

ROOT = Path(__file__).resolve().parents[1]


def _results_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "results.csv", newline="") as f:
        return [int(float(r["epoch"])) for r in csv.DictReader(f)]


def test_recipe_run_records_its_settings_and_schedules(tiny_run):
    run = tiny_run.run_dir
    settings = yaml.safe_load((run / "edgeyolo_train.yaml").read_text())
    assert settings["train_args"]["optimizer"] == "MuSGD"
    assert settings["loss_preset"] == "general" and settings["aug_preset"] == "small"
    assert settings["stal"] is not None and settings["progloss"]["mode"] == "auto"
    args = yaml.safe_load((run / "args.yaml").read_text())
    assert args["nms"] is False and args["optimizer"] == "MuSGD" and args["deterministic"] is True
    assert _results_epochs(run) == [1, 2]
    # The documented schedules at t = 0 and 1, written out (the batch-level tests check what the loss used):
    # auto ProgLoss box x0.5 -> x1 and cls x2 -> x1 of the general preset (7.5, 0.5), dfl = box x 1.5 / 7.5;
    # o2m 0.8 -> 0.1; STAL's default linear decay 1 -> 0.
    assert read_log(run) == [
        {"epoch": 0, "box": 3.75, "cls": 1.0, "dfl": 0.75, "o2m": 0.8, "o2o": 0.2, "stal_intensity": 1.0},
        {"epoch": 1, "box": 7.5, "cls": 0.5, "dfl": 1.5, "o2m": 0.1, "o2o": 0.9, "stal_intensity": 0.0},
    ]
    assert tiny_run.map50_95 is not None
    # the loader plan: recorded with its reasons, and what the library ran with
    assert settings["loader"]["cache"] == "ram" and args["cache"] == "ram"
    assert set(settings["loader"]["reasons"]) == {"workers", "cache", "pin_memory", "persistent_workers"}
    assert settings["machine"]["cores"] >= 1


def _cfg(data, out, **kw):
    kw = {"epochs": 1, "imgsz": 64, "batch": 4, "device": "cpu", **kw}
    return TrainConfig(profile=load_profile("x86-cpu"), data=data, out=out, **kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"overrides": {"label_smoothing": 0.1}}, "label_smoothing"),
        ({"overrides": {"mosaik": 1.0}}, "unknown training argument 'mosaik'"),
        ({"overrides": {"box": 3.0}}, "'box'"),
        ({"preset": "tiny-things"}, "--preset"),
        ({"aug": "huge"}, "--aug"),
        ({"imgsz": 100}, "multiple of 32"),
        ({"model": "yolo26n.pt"}, "never downloads"),
    ],
)
def test_bad_training_settings_are_refused(tmp_path, tiny_data, kw, match):
    with pytest.raises(EdgeYoloError, match=match):
        prepare(_cfg(tiny_data, tmp_path, **kw))


def test_broken_dataset_is_refused_before_training(tmp_path, tiny_data):
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(tiny_data.parent, root)
    label = sorted((root / "labels" / "train").glob("*.txt"))[0]
    label.write_text("9 0.5 0.5 0.1 0.1\n")  # class id >= nc
    with pytest.raises(DatasetError, match=label.name):
        train(_cfg(root / "data.yaml", tmp_path / "runs"))
    assert not list((tmp_path / "runs").rglob("*.pt"))


def test_resume_after_kill(tmp_path, tiny_data):
    """Kill training during an epoch, resume: every epoch appears once and the schedules continue."""
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "edgeyolo", "train", "--profile", "x86-cpu", "--data", str(tiny_data),
           "--epochs", "4", "--imgsz", "64", "--batch", "4", "--device", "cpu", "--out", str(out), "--name", "r"]  # fmt: skip
    run = out / "r"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            if (
                (run / "results.csv").is_file()
                and len(_results_epochs(run)) >= 1
                and (run / "weights/last.pt").is_file()
            ):
                break
            if proc.poll() is not None:
                pytest.fail(f"training ended early: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        else:
            pytest.fail("first epoch did not finish in time")
        time.sleep(0.5)  # into the next epoch
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = _results_epochs(run)
    assert len(done_before) < 4, "training finished before it could be killed"

    r = subprocess.run([sys.executable, "-m", "edgeyolo", "train", "--resume", str(run)], capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "resuming" in r.stdout
    assert _results_epochs(run) == [1, 2, 3, 4]
    log = read_log(run)
    assert [int(x["epoch"]) for x in log] == [0, 1, 2, 3]
    # t = 0, 1/3, 2/3, 1: the cosine weight (1 - cos(pi t)) / 2 = 0, 1/4, 3/4, 1; o2m 0.8 - 0.7 t.
    want = [(3.75, 1.0, 0.75, 0.8), (4.6875, 0.875, 0.9375, 0.566667), (6.5625, 0.625, 1.3125, 0.333333),
            (7.5, 0.5, 1.5, 0.1)]  # fmt: skip
    assert [(x["box"], x["cls"], x["dfl"], x["o2m"]) for x in log] == [pytest.approx(w) for w in want]

    again = subprocess.run([sys.executable, "-m", "edgeyolo", "train", "--resume", str(run)], capture_output=True,
                           text=True)  # fmt: skip
    assert again.returncode == 1 and "nothing to resume" in again.stdout + again.stderr


def test_ddp_launch_arguments(tmp_path, tiny_data):
    """Two GPUs, total batch 32: lr0 scaled linearly (0.01 x 32/16), warm-up kept, per-GPU batch from total."""
    recipe, args, settings, _ = prepare(_cfg(tiny_data, tmp_path, device="0,1", batch=32, lr0=0.01))
    assert args["lr0"] == pytest.approx(0.02)
    assert args["warmup_epochs"] >= 3
    assert "0.01 x (32 / 16) = 0.02 over 2 GPUs" in settings["lr_scaling"]
    assert settings["batch"] == 32 and settings["device"] == "0,1"
    single = prepare(_cfg(tiny_data, tmp_path, device="cpu", batch=32, lr0=0.01))[1]
    assert single["lr0"] == pytest.approx(0.01)


def test_trainer_class_carries_the_recipe_through_cloudpickle():
    """Under DDP the library ships the trainer class to each rank with cloudpickle: the recipe must travel."""
    import cloudpickle

    from edgeyolo._backend.trainer import make_trainer_class
    from edgeyolo.train.hooks import Recipe
    from edgeyolo.train.stal import StalConfig

    recipe = Recipe(base_box=10.0, base_cls=0.3, stal=StalConfig(p=0.7), assign_min_px=12.0)
    cls = cloudpickle.loads(cloudpickle.dumps(make_trainer_class(recipe)))
    assert cls.edgeyolo_recipe == recipe
    assert cls.__name__ == "EdgeYoloTrainer" and hasattr(cls, "_on_epoch_start")


def test_config_file_with_stal_and_progloss(tmp_path, tiny_data):
    from edgeyolo.train import config_from_file

    f = tmp_path / "best.yaml"
    f.write_text(
        f"profile: rpi5\ndata: {tiny_data}\nepochs: 3\npreset: high-iou\nmosaic: 0.7\n"
        "stal_config: {p: 0.3, scale: [1.0, 1.2]}\nprogloss: {mode: off}\n"
    )
    kw = config_from_file(f)
    assert kw["profile"].name == "rpi5" and kw["epochs"] == 3 and kw["overrides"] == {"mosaic": 0.7}
    assert kw["stal_config"].p == 0.3 and kw["stal_config"].scale == (1.0, 1.2)
    assert kw["progloss"].mode == "off"
    f.write_text("stal_config: {probability: 0.3}\n")
    with pytest.raises(ConfigError, match="unknown key 'probability'"):
        config_from_file(f)


# ---------------------------------------------------------------- ProgLoss: the gains the loss used
# Expected gains per epoch of a 3-epoch run (t = 0, 0.5, 1), written out rather than taken from gains():
# (box, cls, dfl) and the one-to-many weight. dfl (the L1 box term on YOLO26) moves with box: dfl/box = 1.5/7.5.
PROGLOSS_CASES = {
    "auto": (ProgLossConfig(), [(3.75, 1.0, 0.75), (5.625, 0.75, 1.125), (7.5, 0.5, 1.5)], [0.8, 0.45, 0.1]),
    "manual": (
        ProgLossConfig(mode="manual", phases=(Phase(0.5, 5.0, 1.0), Phase(1.0, 10.0, 0.3)), o2m_start=0.9),
        [(5.0, 1.0, 1.0), (5.0, 1.0, 1.0), (10.0, 0.3, 2.0)],
        [0.9, 0.5, 0.1],
    ),
    "off": (ProgLossConfig(mode="off", o2m_start=0.6, o2m_end=0.2), [(7.5, 0.5, 1.5)] * 3, [0.6, 0.4, 0.2]),
}


@pytest.mark.parametrize("mode", list(PROGLOSS_CASES))
def test_progloss_gains_reach_both_branches_of_the_loss(tmp_path, tiny_data, mode):
    """Read box/cls/dfl from the criterion's hyp of the one-to-many and one-to-one branches at every batch of
    a real run: one value per epoch, the schedule's; the assigner threshold and o2m weight likewise."""
    pl, want, o2m = PROGLOSS_CASES[mode]
    seen: dict[int, set] = {}

    def watch(trainer):
        crit = trainer.model.criterion
        branches = (crit.one2many, crit.one2one)
        seen.setdefault(trainer.epoch, set()).add(
            (*((b.hyp.box, b.hyp.cls, b.hyp.dfl) for b in branches), round(crit.o2m, 6), round(crit.o2o, 6),
             *(b.assigner.stride_val for b in branches))
        )  # fmt: skip

    cfg = _cfg(tiny_data, tmp_path, epochs=3, batch=8, progloss=pl, assign_min_px=24.0, stal=False, check=False,
               overrides={"val": False, "plots": False, "warmup_epochs": 0})  # fmt: skip
    r = train(cfg, callbacks={"on_train_batch_end": [watch]})
    assert sorted(seen) == [0, 1, 2]
    for epoch in range(3):
        [used] = seen[epoch]  # the same gains at every step of the epoch
        assert used[0] == used[1] == pytest.approx(want[epoch]), (epoch, used)
        assert used[2:4] == (pytest.approx(o2m[epoch]), pytest.approx(1 - o2m[epoch]))
        assert used[4:] == (24.0, 24.0)
    log = read_log(r.run_dir)  # the log is what the loss used
    assert [(x["box"], x["cls"], x["dfl"]) for x in log] == [pytest.approx(w) for w in want]
    assert [x["o2m"] for x in log] == pytest.approx(o2m)
    assert r.settings["loss_gains"] == {"box": 7.5, "cls": 0.5, "dfl": 1.5}


# ---------------------------------------------------------------- train options through the CLI
def test_train_options_through_the_cli_win_over_the_config_file(runner, tmp_path, tiny_data):
    """Every STAL/ProgLoss/assignment option reaches the run, and wins over --config where they disagree
    (keys the options do not set stay from the file)."""
    from edgeyolo.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"profile: rpi5\ndata: {tiny_data}\nepochs: 1\nimgsz: 64\nbatch: 8\ndevice: cpu\nstal: true\n"
                   "stal_config: {p: 0.1, size: 8, copies: 2}\nprogloss: {mode: off, o2m_start: 0.5, o2m_end: 0.5}\n"
                   "assign_min_px: 8\nplots: false\nval: false\nwarmup_epochs: 0\n")  # fmt: skip
    r = runner.invoke(main, ["train", "--config", str(cfg), "--profile", "x86-cpu", "--epochs", "2", "--stal-p", "0.9",
                             "--stal-size", "24", "--progloss-phases", "0.5:5:1,1.0:10:0.3", "--o2m", "0.9:0.2",
                             "--assign-min-px", "24", "--no-check", "--out", str(tmp_path / "runs"), "--name", "cli"])  # fmt: skip
    assert r.exit_code == 0, r.output + repr(r.exception)
    run = tmp_path / "runs" / "cli"
    s = yaml.safe_load((run / "edgeyolo_train.yaml").read_text())
    assert s["profile"] == "x86-cpu" and s["epochs"] == 2 and s["imgsz"] == 64
    assert (s["stal"]["p"], s["stal"]["size"], s["stal"]["copies"]) == (0.9, 24, 2)
    assert isinstance(s["stal"]["size"], int)
    pl = s["progloss"]
    assert pl["mode"] == "manual" and (pl["o2m_start"], pl["o2m_end"]) == (0.9, 0.2)
    assert pl["phases"] == [{"until": 0.5, "box": 5.0, "cls": 1.0}, {"until": 1.0, "box": 10.0, "cls": 0.3}]
    assert s["assign_min_px"] == 24.0 and s["loss_preset"] is None
    assert s["train_args"]["val"] is False  # a training argument only the file sets
    log = read_log(run)
    assert [(x["box"], x["cls"], x["dfl"], x["o2m"]) for x in log] == [
        pytest.approx((5.0, 1.0, 1.0, 0.9)),
        pytest.approx((10.0, 0.3, 2.0, 0.2)),
    ]
    assert all(x["stal_intensity"] is not None for x in log)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--stal-size", "1"], "--stal-size"),
        (["--stal-size", "24.5"], "--stal-size"),
        (["--stal-p", "1.5"], "--stal-p"),
        (["--o2m", "1.2:0.1"], "--o2m"),
        (["--progloss-phases", "0.5:5:1"], "--progloss-phases"),  # the last phase must reach 1.0
        (["--progloss", "auto", "--progloss-phases", "1.0:5:1"], "--progloss-phases"),
        (["--assign-min-px", "0"], "--assign-min-px"),
        (["--workers", "-1"], "--workers"),
        (["--cache", "gpu"], "--cache"),
    ],
)
def test_bad_train_option_values_name_the_flag(runner, tmp_path, tiny_data, args, flag):
    from edgeyolo.cli import main

    # A test-sized run, should a bad value get through.
    small = ["--epochs", "1", "--imgsz", "64", "--device", "cpu", "--no-check", "--out", str(tmp_path)]
    r = runner.invoke(main, ["train", "--profile", "x86-cpu", "--data", str(tiny_data), *small, *args])
    assert r.exit_code == 2 and flag in r.output and "Traceback" not in r.output, r.output


# ---------------------------------------------------------------- loss presets and manual ProgLoss
MANUAL = ProgLossConfig(mode="manual", phases=(Phase(0.3, 5.0, 1.0), Phase(1.0, 10.0, 0.3)))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"preset": "small-objects"}, "--preset small-objects would be ignored"),
        ({"preset": "auto"}, "--preset auto would be ignored"),
        ({"box": 12.0}, "'box' would be ignored"),
    ],
)
def test_manual_progloss_refuses_gains_it_would_drop(tmp_path, tiny_data, kw, match):
    with pytest.raises(ConfigError, match=match):
        prepare(_cfg(tiny_data, tmp_path, progloss=MANUAL, check=False, **kw))


def test_manual_progloss_with_a_preset_is_one_line_on_the_cli(runner, tmp_path, tiny_data):
    from edgeyolo.cli import main

    r = runner.invoke(main, ["train", "--profile", "x86-cpu", "--data", str(tiny_data), "--preset", "small-objects",
                             "--progloss", "manual", "--progloss-phases", "0.3:5:1,1.0:10:0.3", "--epochs", "1",
                             "--imgsz", "64", "--device", "cpu", "--no-check", "--out", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    [line] = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]  # (the library may greet first)
    assert r.output.strip().endswith(line)
    assert "--preset small-objects" in line and "--progloss manual" in line
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_presets_and_manual_phases_are_recorded_as_what_they_apply(tmp_path, tiny_data):
    _, _, s, _ = prepare(_cfg(tiny_data, tmp_path, preset="small-objects", check=False))
    assert s["loss_preset"] == "small-objects" and s["loss_gains"] == {"box": 10.0, "cls": 0.3, "dfl": 1.5}
    recipe, _, s, _ = prepare(_cfg(tiny_data, tmp_path, progloss=MANUAL, check=False, overrides={"dfl": 3.0}))
    assert s["loss_preset"] is None and s["loss_gains"]["dfl"] == 3.0  # no preset: the phases' gains apply
    assert gains(MANUAL, 0, 10, recipe.base_box, recipe.base_cls, recipe.base_dfl) == (5.0, 1.0, 2.0)


def _docs_train_example(needle: str) -> list[str]:
    """The workflow page's `edgeyolo train` example containing ``needle``, as arguments after 'edgeyolo'."""
    text = (ROOT / "docs" / "workflow.md").read_text().replace("\\\n", " ")
    [line] = [ln for ln in text.splitlines() if ln.startswith("edgeyolo train") and needle in ln]
    return line.split("#")[0].split()[1:]


def test_the_docs_manual_progloss_example_trains_as_it_says(runner, tmp_path, tiny_data):
    from edgeyolo.cli import main

    args = _docs_train_example("--progloss manual")
    args[args.index("--data") + 1] = str(tiny_data)
    extra = tmp_path / "fast.yaml"  # test-sized run; the page's options are untouched
    extra.write_text("plots: false\nval: false\nwarmup_epochs: 0\n")
    r = runner.invoke(main, [*args, "--epochs", "1", "--imgsz", "64", "--batch", "8", "--device", "cpu", "--no-check",
                             "--config", str(extra), "--out", str(tmp_path / "runs"), "--name", "readme"])  # fmt: skip
    assert r.exit_code == 0, r.output + repr(r.exception)
    s = yaml.safe_load((tmp_path / "runs" / "readme" / "edgeyolo_train.yaml").read_text())
    assert s["loss_preset"] is None and s["progloss"]["mode"] == "manual" and s["stal"]["p"] == 0.5
    [row] = read_log(tmp_path / "runs" / "readme")
    assert (row["box"], row["cls"], row["o2m"]) == (5.0, 1.0, 0.8)  # phase 1's gains, the page's o2m start


def _ckpt(path: Path, *, epoch: int, optimizer: bool, best_fitness, fitness, epochs: int = 10) -> Path:
    import torch

    torch.save({"epoch": epoch, "optimizer": {"state": {}} if optimizer else None, "best_fitness": best_fitness,
                "train_metrics": {"fitness": fitness}, "train_args": {"epochs": epochs}}, path)  # fmt: skip
    return path


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_recover_best_cut_off_between_the_two_writes_of_its_epoch(tmp_path):
    from edgeyolo._backend.checkpoints import recover_checkpoints

    last = _ckpt(tmp_path / "last.pt", epoch=3, optimizer=True, best_fitness=0.5, fitness=0.5)
    _ckpt(tmp_path / "best.pt", epoch=3, optimizer=True, best_fitness=0.5, fitness=0.5)
    _cut(tmp_path / "best.pt")
    [note] = recover_checkpoints(tmp_path)
    assert "same (best) epoch" in note
    assert (tmp_path / "best.pt").read_bytes() == last.read_bytes()
    assert (tmp_path / "best.pt.damaged").is_file()
    assert recover_checkpoints(tmp_path) == []  # repaired: nothing left to do


def test_recover_best_cut_off_while_stripped_at_the_end_says_the_best_epoch_is_lost(tmp_path):
    from edgeyolo._backend.checkpoints import recover_checkpoints

    _ckpt(tmp_path / "last.pt", epoch=-1, optimizer=False, best_fitness=None, fitness=0.4)
    (tmp_path / "best.pt").write_bytes(b"\x80\x02")
    [note] = recover_checkpoints(tmp_path)
    assert "lost" in note and "final epoch" in note


def test_recover_last_from_best_continues_from_the_best_epoch(tmp_path):
    from edgeyolo._backend.checkpoints import checkpoint_progress, recover_checkpoints

    best = _ckpt(tmp_path / "best.pt", epoch=2, optimizer=True, best_fitness=0.3, fitness=0.3)
    _ckpt(tmp_path / "last.pt", epoch=5, optimizer=True, best_fitness=0.3, fitness=0.2)
    _cut(tmp_path / "last.pt")
    [note] = recover_checkpoints(tmp_path)
    assert "continuing from best.pt (epoch 3)" in note
    assert (tmp_path / "last.pt").read_bytes() == best.read_bytes()
    assert checkpoint_progress(tmp_path / "last.pt") == (2, 10)


@pytest.mark.parametrize("case", ["both-damaged", "last-damaged-best-stripped", "best-damaged-no-last"])
def test_recover_refuses_when_nothing_can_continue(tmp_path, case):
    from edgeyolo._backend.checkpoints import recover_checkpoints
    from edgeyolo.errors import CheckpointError

    _ckpt(tmp_path / "best.pt", epoch=-1 if case == "last-damaged-best-stripped" else 2,
          optimizer=case != "last-damaged-best-stripped", best_fitness=0.3, fitness=0.3)  # fmt: skip
    if case != "best-damaged-no-last":
        _ckpt(tmp_path / "last.pt", epoch=5, optimizer=True, best_fitness=0.3, fitness=0.2)
        _cut(tmp_path / "last.pt")
    if case != "last-damaged-best-stripped":
        _cut(tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="damaged"):
        recover_checkpoints(tmp_path)


def test_recover_best_missing_after_a_kill_between_the_two_writes(tmp_path):
    from edgeyolo._backend.checkpoints import recover_checkpoints

    last = _ckpt(tmp_path / "last.pt", epoch=0, optimizer=True, best_fitness=0.1, fitness=0.1)
    [note] = recover_checkpoints(tmp_path)
    assert "missing" in note and (tmp_path / "best.pt").read_bytes() == last.read_bytes()
    (tmp_path / "best.pt").unlink()
    _ckpt(last, epoch=4, optimizer=True, best_fitness=0.3, fitness=0.2)  # not its best epoch: nothing to copy
    assert recover_checkpoints(tmp_path) == [] and not (tmp_path / "best.pt").exists()


def test_a_checkpoint_cut_anywhere_is_reported_as_damaged(tmp_path, tiny_run):
    """torch's zip reader fails differently depending on where a file was cut (EOFError, RuntimeError,
    OSError...): every cut must read as 'damaged', never as a crash."""
    from edgeyolo._backend.checkpoints import checkpoint_progress
    from edgeyolo.errors import CheckpointError

    data = tiny_run.last.read_bytes()
    cut = tmp_path / "last.pt"
    for frac in (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.9999):
        cut.write_bytes(data[: int(len(data) * frac)])
        with pytest.raises(CheckpointError, match="incomplete or damaged"):
            checkpoint_progress(cut)


# ---------------------------------------------------------------- data loader settings
def _fake_machine(monkeypatch, cores=16, ram=64.0):
    from edgeyolo.train import loader

    def describe(gpus, visible=None):
        return loader.Machine(
            cores=cores, gpus=gpus, ram_available_gib=ram, visible_gpus=visible, cpu_count=cores
        )

    monkeypatch.setattr(loader, "describe_machine", describe)


def test_loader_settings_are_chosen_from_the_machine_and_recorded(monkeypatch, tmp_path, tiny_data):
    """A 16-core machine training on one GPU: 15 workers (the library's default is 8), the dataset in RAM."""
    _fake_machine(monkeypatch)
    _, args, s, _ = prepare(_cfg(tiny_data, tmp_path, device="0", batch=1, check=False))
    assert (args["workers"], args["cache"]) == (15, "ram")
    assert (
        s["loader"]["workers"] == 15 and s["loader"]["cache"] == "ram" and s["loader"]["pin_memory"] is True
    )
    assert "16 cores / 1 GPU(s)" in s["loader"]["reasons"]["workers"]
    assert s["machine"] == {
        "cores": 16,
        "gpus": 1,
        "ram_available_gib": 64.0,
        "visible_gpus": None,
        "cpu_count": 16,
    }
    _, args, s, _ = prepare(_cfg(tiny_data, tmp_path, device="cpu", check=False))
    assert args["workers"] == 0 and "CPU training on 16 cores" in s["loader"]["reasons"]["workers"]


def test_given_loader_settings_win_and_are_recorded(monkeypatch, tmp_path, tiny_data):
    _fake_machine(monkeypatch)
    _, args, s, _ = prepare(
        _cfg(tiny_data, tmp_path, device="0", batch=1, check=False, workers=3, cache="off")
    )
    assert (args["workers"], args["cache"]) == (3, False)
    assert s["loader"]["reasons"]["workers"] == "given" and s["loader"]["reasons"]["cache"] == "given"
    cfg_file = tmp_path / "loader.yaml"
    cfg_file.write_text("workers: 2\ncache: disk\n")
    from edgeyolo.train import config_from_file

    kw = config_from_file(cfg_file)
    assert (kw["workers"], kw["cache"], kw["overrides"]) == (2, "disk", {})
    with pytest.raises(ConfigError, match="set 'workers' with its own option"):
        prepare(_cfg(tiny_data, tmp_path, check=False, overrides={"workers": 8}))
    with pytest.raises(ConfigError, match="--cache 'gpu'"):
        prepare(_cfg(tiny_data, tmp_path, check=False, cache="gpu"))


def test_workers_given_for_cpu_training_reach_the_data_loader(tmp_path, tiny_data):
    """The library loads in the main process on any CPU run; a given --workers is used instead."""
    seen = {}

    def watch(trainer):
        seen.update(workers=trainer.train_loader.num_workers, cache=trainer.train_loader.dataset.cache)

    train(_cfg(tiny_data, tmp_path, workers=1, cache="off", check=False, overrides={"val": False, "plots": False}),
          callbacks={"on_train_start": [watch]})  # fmt: skip
    assert seen == {"workers": 1, "cache": None}
