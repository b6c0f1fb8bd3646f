"""``edgeyolo tune``: hyperparameter search over edgeyolo's own recipe (local Optuna or Ray Tune)."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._options import PROFILE_OPT


@click.command("tune")
@PROFILE_OPT
@click.option("--data", "data_yaml", required=True, type=click.Path(dir_okay=False), help="YOLO data.yaml.")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="Total trials (a resumed search runs only the missing ones).")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Epochs per trial.")
@click.option("--space", "space_file", default=None, type=click.Path(dir_okay=False),
              help="Search space YAML; default: the shipped one (edgeyolo/tune/default_space.yaml).")  # fmt: skip
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: sequential Optuna TPE + median pruning; ray: Ray Tune + ASHA.")  # fmt: skip
@click.option("--objective", type=click.Choice(["map", "map-latency"]), default="map", show_default=True,
              help="mAP50-95 of the NMS-free head, or that penalized by measured ONNX latency (MnasNet reward).")  # fmt: skip
@click.option("--model", default="yolo26n.yaml", show_default=True, help="Model YAML or local .pt.")
@click.option("--imgsz", type=int, default=None, help="Training size; default: the profile's first.")
@click.option("--batch", type=click.IntRange(min=1), default=None, help="Batch; default: the recipe's rule.")
@click.option("--device", default=None, help="One device per trial (local backend): cpu or 0.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampler and training seed.")
@click.option("--pruner", type=click.Choice(["median", "none"]), default="median", show_default=True,
              help="local: stop trials below the median of earlier trials at the same epoch.")  # fmt: skip
@click.option("--scheduler", type=click.Choice(["asha", "fifo"]), default="asha", show_default=True,
              help="ray: ASHA stops poor trials early; fifo runs all to the end.")  # fmt: skip
@click.option("--grace-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs every trial runs before it can be pruned; default epochs/4.")  # fmt: skip
@click.option(
    "--ray-address", default=None, help="ray: 'auto' or host:port of a running cluster; default: local."
)
@click.option("--num-cpus", type=click.IntRange(min=1), default=None, help="ray: CPUs of the local instance.")
@click.option("--cpus-per-trial", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--gpus-per-trial", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="ray: GPUs per trial (fractions share one).")  # fmt: skip
@click.option("--max-concurrent", type=click.IntRange(min=1), default=None, help="ray: trials at once.")
@click.option("--latency-budget-ms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="map-latency: budget T; default: the profile's.")  # fmt: skip
@click.option(
    "--resume", is_flag=True, help="Continue the search in --out without repeating finished trials."
)
@click.option("--out", default="runs/tune", show_default=True, type=click.Path(file_okay=False))
def command(profile, data_yaml, trials, epochs, space_file, backend, objective, model, imgsz, batch, device, seed,
            pruner, scheduler, grace_epochs, ray_address, num_cpus, cpus_per_trial, gpus_per_trial, max_concurrent,
            latency_budget_ms, resume, out) -> None:  # fmt: skip
    """Search training hyperparameters with edgeyolo's recipe (MuSGD, STAL, ProgLoss, presets) in every trial.

    Writes trials.jsonl/.csv, best.yaml (for 'edgeyolo train --config'), best.pt and tune.html to --out.

    \b
    Examples:
      edgeyolo tune --profile rpi5 --data d.yaml --trials 30 --epochs 20
      edgeyolo tune --profile rpi5 --data d.yaml --trials 50 --backend ray --ray-address auto --gpus-per-trial 1
      edgeyolo tune --profile rpi5 --data d.yaml --trials 40 --resume      # after an interruption
      edgeyolo train --config runs/tune/best.yaml --epochs 300
    """
    import edgeyolo.api as api

    base = api.TrainConfig(profile=api.load_profile(profile), data=Path(data_yaml), out=Path(out), model=model,
                           epochs=epochs, imgsz=imgsz, batch=batch, device=device, seed=seed)  # fmt: skip
    cfg = api.TuneConfig(base=base, out=Path(out), trials=trials, space=Path(space_file) if space_file else None,
                         backend=backend, objective=objective, seed=seed, pruner=pruner, scheduler=scheduler,
                         grace_epochs=grace_epochs, ray_address=ray_address, num_cpus=num_cpus,
                         cpus_per_trial=cpus_per_trial, gpus_per_trial=gpus_per_trial, max_concurrent=max_concurrent,
                         latency_budget_ms=latency_budget_ms, resume=resume)  # fmt: skip
    r = api.tune(cfg, log=click.echo)
    states = [x["state"] for x in r.records]
    click.echo(f"{len(r.records)} trials ({r.ran} run now, {r.skipped} finished before): "
               f"{states.count('complete')} complete, {states.count('pruned')} pruned, "
               f"{states.count('failed')} failed, in {r.seconds:.0f} s")  # fmt: skip
    if r.best is None:
        click.echo("no trial completed; nothing to train from")
        raise SystemExit(1)
    click.echo(
        f"best: trial {r.best['trial']}, fitness {r.best['fitness']:.4f}, mAP50-95 {r.best['map50_95']:.4f}"
    )
    click.echo(f"train it: edgeyolo train --config {r.best_yaml}")
    if r.best_weights:
        click.echo(f"best weights: {r.best_weights}")
    click.echo(f"report: {r.html}")
