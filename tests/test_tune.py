"""Hyperparameter search: space parsing, a tiny local search and its outputs, best.yaml trains, Ray, resume."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from edgeyolo.cli import main
from edgeyolo.errors import ConfigError
from edgeyolo.profiles import load_profile
from edgeyolo.train import TrainConfig
from edgeyolo.train.progloss import ProgLossConfig, gains
from edgeyolo.tune import TuneConfig, load_space, parse_space, penalized, tune
from edgeyolo.tune.space import CUSTOM, KEYS, apply_params, suggest

SIZE = 64  # tiny trials: 64 px, 1 epoch, the 16 + 8 images of tiny_data
SMALL_SPACE = {
    "lr0": {"distribution": "log-uniform", "low": 1.0e-3, "high": 2.0e-2},
    "mosaic": {"distribution": "uniform", "low": 0.0, "high": 1.0},
    "preset": {"distribution": "choice", "values": ["general", "small-objects"]},
    "stal_p": {"distribution": "uniform", "low": 0.2, "high": 0.8},
}


def _base(data: Path, out: Path, **kw) -> TrainConfig:
    kw = {"epochs": 1, "imgsz": SIZE, "batch": 4, "device": "cpu", **kw}
    return TrainConfig(profile=load_profile("x86-cpu"), data=data, out=out, **kw)


def _space_file(tmp_path: Path, space: dict) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(yaml.safe_dump(space))
    return p


# ---------------------------------------------------------------- space
def test_default_space_covers_the_library_and_the_recipe():
    space = load_space()
    library = {"lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "box", "cls", "dfl", "hsv_h", "hsv_s",
               "hsv_v", "degrees", "translate", "scale", "shear", "flipud", "fliplr", "mosaic", "mixup", "close_mosaic"}  # fmt: skip
    ours = {"preset", "stal_p", "stal_size", "progloss", "progloss_cls_start", "progloss_box_start"}
    assert library | ours <= set(space.params)
    assert space.params["lr0"].distribution == "log-uniform"
    assert space.params["close_mosaic"].distribution == "int"
    assert CUSTOM in space.params["preset"].values


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"lr00": {"distribution": "uniform", "low": 0.0, "high": 1.0}}, "unknown hyperparameter 'lr00'"),
        (
            {"lr0": {"distribution": "uniform", "low": 0.02, "high": 0.01}},
            r"'lr0': low \(0.02\) must be below",
        ),
        ({"lr0": {"distribution": "uniform", "low": 0.01, "high": 0.01}}, "'lr0': low"),
        (
            {"lr0": {"distribution": "log-uniform", "low": 0.0, "high": 0.1}},
            "'lr0': a log-uniform range needs low > 0",
        ),
        (
            {"lr0": {"distribution": "gaussian", "low": 0.0, "high": 0.1}},
            "'lr0': unknown distribution 'gaussian'",
        ),
        ({"lr0": {"low": 0.0, "high": 0.1}}, "'lr0': unknown distribution None"),
        ({"lr0": {"distribution": "uniform", "low": 0.0}}, "'lr0': 'high' must be a number"),
        (
            {"lr0": {"distribution": "uniform", "low": 0.0, "high": 0.1, "step": 1}},
            "'lr0': unknown field 'step'",
        ),
        ({"mosaic": {"distribution": "uniform", "low": 0.0, "high": 1.5}}, "'mosaic': 1.5 is outside"),
        (
            {"close_mosaic": {"distribution": "int", "low": 0.5, "high": 4}},
            "'close_mosaic': an int range needs whole",
        ),
        ({"preset": {"distribution": "choice", "values": []}}, "'preset': a choice needs a non-empty list"),
        ({"preset": {"distribution": "choice", "values": ["tiny"]}}, "'preset': unknown value 'tiny'"),
        ({"preset": {"distribution": "uniform", "low": 0, "high": 1}}, "'preset' takes names"),
        ({"imgsz": {"distribution": "choice", "values": [320, 100]}}, "'imgsz': 100 is not a multiple of 32"),
        (
            {
                "preset": {"distribution": "choice", "values": ["general"]},
                "box": {"distribution": "uniform", "low": 1, "high": 9},
            },
            "'box' is sampled only for preset 'custom'",
        ),  # fmt: skip
        ({"lr0": [0.001, 0.01]}, "'lr0' must be a mapping"),
    ],
)
def test_bad_spaces_are_refused_naming_the_key_and_file(tmp_path, spec, match):
    path = _space_file(tmp_path, spec)
    with pytest.raises(ConfigError, match=match) as e:
        load_space(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_space_file_must_exist_and_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mapping"):
        parse_space(["lr0"], "x.yaml")


def test_conditional_keys_are_sampled_only_when_they_apply():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(40):
        params = suggest(study.ask(), space)
        assert set(params) <= set(KEYS)
        assert ("box" in params) == (params["preset"] == CUSTOM) == ("cls" in params)
        assert ("progloss_cls_start" in params) == (params["progloss"] == "auto")
        assert isinstance(params["close_mosaic"], int) and 0 <= params["close_mosaic"] <= 10
        assert 1e-4 <= params["lr0"] <= 5e-2
        seen.add(params["preset"])
    assert CUSTOM in seen and len(seen) >= 3


@pytest.mark.parametrize("mode", ["auto", "off", "manual"])
def test_custom_gains_become_the_trained_gains(tmp_path, tiny_data, mode):
    """box/cls sampled for preset custom reach the loss every epoch through TrainConfig fields only, and the
    run records them as what they are (loss preset custom, not general), through best.yaml and resume too."""
    from edgeyolo.train import config_from_file, prepare, recipe_from_settings
    from edgeyolo.train.progloss import Phase
    from edgeyolo.tune.outputs import train_config_dict

    manual = ProgLossConfig(mode="manual", phases=(Phase(0.5, 5.0, 1.0), Phase(1.0, 7.5, 0.5)))
    base = _base(tiny_data, tmp_path, check=False, **({"progloss": manual} if mode == "manual" else {}))
    params = {
        "preset": CUSTOM,
        "box": 12.0,
        "cls": 0.8,
        "stal_p": 0.3,
        "stal_size": 24,
        "mosaic": 0.4,
        "lr0": 0.002,
    }
    if mode != "manual":
        params["progloss"] = mode
    if mode == "auto":
        params.update(progloss_cls_start=3.0, progloss_box_start=0.5)
    cfg = apply_params(base, params)
    assert cfg.preset == "general" and cfg.lr0 == 0.002 and cfg.overrides == {"mosaic": 0.4}
    assert cfg.stal is True and (cfg.stal_config.p, cfg.stal_config.size) == (0.3, 24)
    recipe, args, settings, _ = prepare(cfg)
    if mode == "manual":  # absolute phase gains, scaled as the general preset's would be: 12/7.5 and 0.8/0.5
        assert (cfg.box, cfg.cls) == (None, None) and settings["loss_preset"] is None
        want = [(8.0, 1.6, 1.6)] * 3 + [(12.0, 0.8, 2.4)] * 2
    else:
        assert (cfg.box, cfg.cls) == (12.0, 0.8) and (args["box"], args["cls"]) == (12.0, 0.8)
        assert settings["loss_preset"] == "custom"
        assert settings["loss_gains"] == {"box": 12.0, "cls": 0.8, "dfl": 1.5}
        auto = ProgLossConfig(cls_start=3.0, box_start=0.5)
        want = [gains(auto, e, 5, 12.0, 0.8) if mode == "auto" else (12.0, 0.8, 1.5) for e in range(5)]
    for epoch in range(5):
        got = gains(recipe.progloss, epoch, 5, recipe.base_box, recipe.base_cls, recipe.base_dfl)
        assert got == pytest.approx(want[epoch]), epoch

    best = tmp_path / "best.yaml"  # what the search writes, trained with 'edgeyolo train --config'
    best.write_text(yaml.safe_dump(train_config_dict(cfg)))
    again_recipe, _, again, _ = prepare(TrainConfig(**config_from_file(best), out=tmp_path))
    assert again_recipe == recipe and (again["loss_preset"], again["loss_gains"]) == (
        settings["loss_preset"],
        settings["loss_gains"],
    )
    assert recipe_from_settings(settings, "edgeyolo_train.yaml") == recipe  # what --resume trains with


def test_latency_penalty():
    assert penalized(0.5, 50.0, 50.0) == pytest.approx(0.5)
    assert penalized(0.5, 25.0, 50.0) == pytest.approx(0.5 * 2**0.07)  # soft bonus within the budget
    assert penalized(0.5, 100.0, 50.0) == pytest.approx(0.25)  # hard beyond it: 2x over halves it
    assert penalized(0.5, 40.0, 50.0) > penalized(0.5, 45.0, 50.0) > penalized(0.5, 60.0, 50.0)


# ---------------------------------------------------------------- the per-epoch hook
def test_train_calls_on_epoch_and_stops_when_asked(tmp_path, tiny_data):
    from edgeyolo.train import train

    seen = []

    def on_epoch(epoch, metrics):
        seen.append((epoch, metrics))
        return True  # prune after the first epoch

    r = train(_base(tiny_data, tmp_path, epochs=3, name="p", overrides={"plots": False}), on_epoch=on_epoch)
    assert [e for e, _ in seen] == [0]
    assert "metrics/mAP50-95(B)" in seen[0][1] and "fitness" in seen[0][1]
    assert r.epochs_run == 1 and r.best.is_file() and r.map50_95 is not None


def test_a_trial_the_pruner_stops_is_recorded_as_pruned(tmp_path, tiny_data):
    """The reporter (Optuna's should_prune locally) says stop after epoch 1 of 2: the trial ends there."""
    from edgeyolo.tune.trial import TrialContext, run_trial

    ctx = TrialContext(base=_base(tiny_data, tmp_path, epochs=2), out=tmp_path, objective="map",
                       latency_budget_ms=None, latency_warmup=None, latency_iterations=None)  # fmt: skip
    steps = []
    rec = run_trial(
        ctx, 7, {"lr0": 0.01, "stal_p": 0.5}, lambda step, row: steps.append(step) or True, lambda m: None
    )
    assert rec["state"] == "pruned" and rec["epochs_run"] == 1 and steps == [1], rec["error"]
    assert [h["epoch"] for h in rec["history"]] == [1] and rec["run_dir"].endswith("trial-007")


# ---------------------------------------------------------------- a tiny local search, through the CLI
@pytest.fixture(scope="module")
def local_search(tmp_path_factory, tiny_data):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("tune") / "search"
    r = CliRunner().invoke(main, ["tune", "--profile", "x86-cpu", "--data", str(tiny_data), "--trials", "2",
                                  "--epochs", "1", "--imgsz", str(SIZE), "--batch", "4", "--device", "cpu",
                                  "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output + repr(r.exception)
    return out, r.output


def test_local_search_writes_every_output(local_search):
    out, output = local_search
    records = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == [0, 1]
    for r in records:
        assert r["schema"] == "edgeyolo.tune/1" and r["backend"] == "local"
        assert r["state"] == "complete" and r["fitness"] == r["map50_95"] is not None
        assert r["epochs_run"] == 1 and len(r["history"]) == 1 and Path(r["weights"]).is_file()
        assert {"lr0", "preset", "stal_p", "progloss", "mosaic"} <= set(r["params"])
    header = (out / "trials.csv").read_text().splitlines()[0].split(",")
    assert {"trial", "state", "fitness", "map50_95", "lr0", "stal_p"} <= set(header)
    assert len((out / "trials.csv").read_text().splitlines()) == 3
    assert (out / "best.pt").is_file() and (out / "study.db").is_file()
    page = (out / "tune.html").read_text()
    assert page.count("<svg") >= 2 and "lr0" in page
    assert "<script" not in page and "<link" not in page and 'src="http' not in page  # nothing fetched
    assert "trial 0" in output and "(2/2 done" in output and "train it: edgeyolo train --config" in output


def test_best_yaml_trains(local_search, tiny_data, runner, tmp_path):
    out, _ = local_search
    best = yaml.safe_load((out / "best.yaml").read_text())
    assert best["profile"] == "x86-cpu" and best["epochs"] == 1 and best["imgsz"] == SIZE
    r = runner.invoke(main, ["train", "--config", str(out / "best.yaml"), "--out", str(tmp_path / "runs"),
                             "--name", "best"])  # fmt: skip
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "trained 1 epochs" in r.output
    settings = yaml.safe_load((tmp_path / "runs" / "best" / "edgeyolo_train.yaml").read_text())
    record = min(
        (json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()), key=lambda x: -x["fitness"]
    )
    assert settings["train_args"]["mosaic"] == pytest.approx(record["params"]["mosaic"])
    assert settings["loss_preset"] == record["params"]["preset"]  # a named preset, or custom gains


def test_a_second_search_into_the_same_folder_needs_resume(local_search, tiny_data):
    out, _ = local_search
    with pytest.raises(ConfigError, match="--resume"):
        tune(TuneConfig(base=_base(tiny_data, out), out=out, trials=2))


def test_resume_runs_only_the_missing_trials(local_search, tiny_data, tmp_path):
    """A search stopped after 2 trials, and killed during a third, continues with 1 more training: the
    interrupted configuration, not a repeat of a finished one."""
    import optuna

    src, _ = local_search
    out = tmp_path / "search"
    shutil.copytree(src, out)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "trials").glob("*/weights/best.pt")}
    study = optuna.load_study(study_name="edgeyolo-tune", storage=f"sqlite:///{out / 'study.db'}")
    killed = study.ask()  # a trial the interrupted run had started: RUNNING in the study, no record
    killed.set_user_attr("edgeyolo_trial", 2)
    params = suggest(killed, load_space())

    with pytest.raises(ConfigError, match="'epochs' differs"):
        tune(TuneConfig(base=_base(tiny_data, out, epochs=2), out=out, trials=3, resume=True))
    lines = []
    r = tune(TuneConfig(base=_base(tiny_data, out), out=out, trials=3, resume=True), log=lines.append)
    assert (r.ran, r.skipped) == (1, 2)
    assert [x["trial"] for x in r.records] == [0, 1, 2]
    assert r.records[2]["params"] == params
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["trial-000", "trial-001", "trial-002"]
    after = {p.name: p.stat().st_mtime_ns for p in (out / "trials").glob("*/weights/best.pt")}
    assert all(after[k] == v for k, v in before.items())  # finished trials were not trained again
    assert any("2 of 3 trials already finished" in m for m in lines)
    assert any("interrupted" in m for m in lines)

    again = tune(TuneConfig(base=_base(tiny_data, out), out=out, trials=3, resume=True))
    assert again.ran == 0 and len(again.records) == 3


# ---------------------------------------------------------------- Ray
def test_ray_search_same_outputs(tiny_data, tmp_path):
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    out = tmp_path / "ray-search"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        lines = []
        r = tune(TuneConfig(base=_base(tiny_data, out), out=out, trials=2, backend="ray", cpus_per_trial=1,
                            space=_space_file(tmp_path, SMALL_SPACE)), log=lines.append)  # fmt: skip
    finally:
        ray.shutdown()
    assert r.ran == 2 and sorted(x["trial"] for x in r.records) == [0, 1]
    for rec in r.records:
        assert rec["backend"] == "ray" and rec["state"] == "complete" and rec["fitness"] is not None
        assert set(rec["params"]) == set(SMALL_SPACE)
    local_keys = {"schema", "trial", "state", "params", "fitness", "map50_95", "latency_ms", "epochs_run",
                  "history", "weights", "error"}  # fmt: skip
    assert local_keys <= set(r.records[0])
    for name in ("trials.jsonl", "trials.csv", "best.yaml", "best.pt", "tune.html", "study.db"):
        assert (out / name).is_file(), name
    assert any("starts on Ray" in m for m in lines) and any("(2/2 done" in m for m in lines)


def test_map_latency_objective_measures_the_exported_model(tiny_data, tmp_path):
    out = tmp_path / "lat"
    r = tune(TuneConfig(base=_base(tiny_data, out), out=out, trials=1, objective="map-latency",
                        space=_space_file(tmp_path, SMALL_SPACE), latency_budget_ms=20.0, latency_warmup=2,
                        latency_iterations=10))  # fmt: skip
    rec = r.records[0]
    assert rec["state"] == "complete", rec["error"]
    assert rec["latency_ms"] > 0
    assert rec["fitness"] == pytest.approx(penalized(rec["map50_95"], rec["latency_ms"], 20.0))
    assert (Path(rec["run_dir"]) / "export").is_dir()
    assert r.settings["latency_budget_ms"] == 20.0
