"""The ``edgeyolo`` command line: parse options, build one config, call one API function, print.

Heavy modules are imported inside each command so ``edgeyolo --help`` and ``--version`` stay instant.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeyolo._version import __version__
from edgeyolo.errors import EdgeYoloError


class _Group(click.Group):
    """Turns user mistakes (EdgeYoloError) into one clear line and exit code 1, without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeYoloError as e:
            raise click.ClickException(str(e)) from None


def _profile(name: str):
    from edgeyolo.profiles import load_profile

    return load_profile(name)


def _parse_sizes(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        sizes = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"'{value}' is not a comma-separated list of integers like 320,480"
        ) from None
    if not sizes or any(s <= 0 or s % 32 for s in sizes):
        raise click.BadParameter(f"'{value}': sizes must be positive multiples of 32, e.g. 320,480")
    return sizes


PROFILE_OPT = click.option("--profile", "-p", "profile", required=True,
                           help="Built-in device profile name (see 'edgeyolo profiles list') or a profile YAML path.")  # fmt: skip


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="edgeyolo")
def main() -> None:
    """Take a YOLO dataset to the best YOLO26 detector an edge device can run.

    \b
    Quick start (demo dataset, x86 CPU profile):
      edgeyolo run --profile x86-cpu --out demo
    """


# ---------------------------------------------------------------- profiles
@main.group()
def profiles() -> None:
    """List, show and validate device profiles.

    \b
    Example:
      edgeyolo profiles show rpi5
    """


@profiles.command("list")
def profiles_list() -> None:
    """List the built-in device profiles.

    \b
    Example:
      edgeyolo profiles list
    """
    from edgeyolo.profiles import list_profiles

    for p in list_profiles():
        click.echo(f"{p.name:<18} imgsz {','.join(map(str, p.imgsz)):<12} p90 budget {p.latency_budget_ms:>5g} ms  "
                   f"{' '.join(t.key for t in p.targets)}")  # fmt: skip
        click.echo(f"{'':<18} {p.description}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name: str) -> None:
    """Print a profile as YAML (built-in name or path).

    \b
    Example:
      edgeyolo profiles show jetson-orin-nano
    """
    import yaml

    click.echo(yaml.safe_dump(_profile(name).to_dict(), sort_keys=False), nl=False)


@profiles.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def profiles_validate(file: str) -> None:
    """Check a profile YAML file; the first problem is named with its key.

    \b
    Example:
      edgeyolo profiles validate my-device.yaml
    """
    p = _profile(file if Path(file).suffix in (".yaml", ".yml") or "/" in file else f"./{file}")
    click.echo(f"{file}: ok ({p.name}: {len(p.targets)} targets, imgsz {list(p.imgsz)})")


# ---------------------------------------------------------------- data
@main.group()
def data() -> None:
    """Datasets: generate the built-in demo dataset.

    \b
    Example:
      edgeyolo data synth datasets/demo --train 200 --val 50
    """


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--train", "n_train", default=160, show_default=True, help="Training images.")
@click.option("--val", "n_val", default=40, show_default=True, help="Validation images.")
@click.option("--imgsz", default=320, show_default=True, help="Image width in pixels (height is 3/4).")
@click.option("--seed", default=0, show_default=True, help="Random seed; the same seed gives the same files.")
def data_synth(out: str, n_train: int, n_val: int, imgsz: int, seed: int) -> None:
    """Write the deterministic synthetic demo dataset (YOLO format) to OUT.

    \b
    Example:
      edgeyolo data synth datasets/demo --train 200 --val 50 --seed 1
    """
    from edgeyolo.data.synth import SynthConfig, synthesize

    r = synthesize(SynthConfig(out=Path(out), train=n_train, val=n_val, imgsz=imgsz, seed=seed))
    for split in r.images:
        click.echo(
            f"{split}: {r.images[split]} images, {r.instances[split]} objects ({r.small[split]} smaller than 32 px)"
        )
    click.echo(f"wrote {r.data_yaml}")


# ---------------------------------------------------------------- train
@main.command()
@PROFILE_OPT
@click.option("--data", "data_yaml", required=True, type=click.Path(dir_okay=False), help="YOLO data.yaml.")
@click.option("--model", default="yolo26n.yaml", show_default=True,
              help="Model YAML to train from scratch, or a local .pt to fine-tune.")  # fmt: skip
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option(
    "--imgsz", type=int, default=None, help="Training size; default: the profile's first image size."
)
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--device", default=None, help="cpu, 0, or 0,1 for DDP; default: GPU 0 when present, else cpu.")
@click.option("--out", default="runs/train", show_default=True, type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Run folder name; default: <model>-<imgsz>.")
def train(profile, data_yaml, model, epochs, imgsz, batch, device, out, name) -> None:
    """Train YOLO26 for a device profile (NMS-free head selected, MuSGD).

    \b
    Example:
      edgeyolo train --profile rpi5 --data datasets/demo/data.yaml --epochs 50
    """
    from edgeyolo.train import TrainConfig
    from edgeyolo.train import train as run_train

    r = run_train(TrainConfig(profile=_profile(profile), data=Path(data_yaml), out=Path(out), model=model,
                              epochs=epochs, imgsz=imgsz, batch=batch, device=device, name=name))  # fmt: skip
    m = r.map50_95
    click.echo(f"trained {r.epochs_run} epochs at {r.imgsz} px in {r.seconds:.0f} s; "
               f"mAP50-95 {'n/a' if m is None else f'{m:.4f}'} (NMS-free head)")  # fmt: skip
    click.echo(f"best weights: {r.best}")


# ---------------------------------------------------------------- export
@main.command()
@PROFILE_OPT
@click.option(
    "--weights", required=True, type=click.Path(dir_okay=False), help="best.pt from 'edgeyolo train'."
)
@click.option("--imgsz", default=None, help="Comma-separated sizes; default: the profile's.")
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="data.yaml whose val images are used for the PyTorch parity check.")  # fmt: skip
@click.option("--out", default="artifacts", show_default=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Re-export artifacts that already exist for these weights.")
def export(profile, weights, imgsz, data_yaml, out, force) -> None:
    """Export NMS-free artifacts (one folder + manifest.json each) for the profile's targets.

    \b
    Example:
      edgeyolo export --profile x86-cpu --weights runs/train/yolo26n-320/weights/best.pt --imgsz 320
    """
    from edgeyolo.export import ExportConfig
    from edgeyolo.export import export as run_export

    r = run_export(ExportConfig(profile=_profile(profile), weights=Path(weights), out=Path(out),
                                imgsz=_parse_sizes(imgsz), data=Path(data_yaml) if data_yaml else None,
                                force=force))  # fmt: skip
    for i in r.items:
        mark = {"ok": "✅", "skipped": "➖", "error": "❌"}[i.status]
        what = str(i.artifact) + (" (already exported)" if i.reused else "") if i.status == "ok" else i.reason
        click.echo(f"{mark} {i.target.format}-{i.target.precision} {i.imgsz}: {what}")
    if not r.artifacts:
        raise click.ClickException("no artifact was exported; see the reasons above")


# ---------------------------------------------------------------- bench
@main.command()
@PROFILE_OPT
@click.argument("artifacts", nargs=-1, required=True, type=click.Path())
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="data.yaml: val images for latency and the artifact's mAP. Without it: latency only.")  # fmt: skip
@click.option("--out", default="results.jsonl", show_default=True, type=click.Path(dir_okay=False))
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Inference threads; default: profile's."
)
@click.option(
    "--iterations", type=click.IntRange(min=1), default=None, help="Timed runs; default: profile's."
)
@click.option(
    "--warmup", type=click.IntRange(min=0), default=None, help="Untimed runs first; default: profile's."
)
@click.option(
    "--accuracy-images", type=click.IntRange(min=1), default=None, help="Score mAP on the first N val images."
)
def bench(profile, artifacts, data_yaml, out, threads, iterations, warmup, accuracy_images) -> None:
    """Measure latency (per stage, percentiles), memory and mAP of artifacts; append to a JSONL file.

    \b
    Example:
      edgeyolo bench --profile x86-cpu artifacts/yolo26n-320-onnx-fp32 --data datasets/demo/data.yaml
    """
    from edgeyolo.bench import BenchConfig, benchmark

    def show(r: dict) -> None:
        art = Path(r["candidate"]["artifact"]).name
        if r["status"] != "ok":
            click.echo(f"❌ {art}: {r['message']}")
            return
        e2e = r["latency_ms"]["end_to_end"]
        acc = r.get("accuracy") or {}
        m = acc.get("map50_95")
        click.echo(f"✅ {art}: e2e p50 {e2e['p50']:.2f} ms, p90 {e2e['p90']:.2f} ms, p99 {e2e['p99']:.2f} ms; "
                   f"mAP50-95 {'n/a' if m is None else f'{m:.4f}'}; peak RSS {r['memory_mb']['peak_rss']} MB")  # fmt: skip

    r = benchmark(BenchConfig(profile=_profile(profile), artifacts=tuple(Path(a) for a in artifacts), out=Path(out),
                              data=Path(data_yaml) if data_yaml else None, threads=threads, warmup=warmup,
                              iterations=iterations, accuracy_images=accuracy_images), on_record=show)  # fmt: skip
    click.echo(f"records appended to {r.out}")
    if all(rec["status"] != "ok" for rec in r.records):
        sys.exit(1)


# ---------------------------------------------------------------- select / report
METRIC_OPT = click.option("--metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p90", show_default=True,
                          help="End-to-end latency percentile the budget applies to.")  # fmt: skip


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--budget-ms", type=float, default=None, help="Latency budget; default: the profile's.")
@METRIC_OPT
def select(results, budget_ms, metric) -> None:
    """Pick the best accuracy/latency trade-off within the budget from benchmark results.

    \b
    Example:
      edgeyolo select results.jsonl --budget-ms 30
    """
    from edgeyolo.bench.store import read_records
    from edgeyolo.select import select as run_select

    sel = run_select(read_records(*results), budget_ms=budget_ms, metric=metric)
    for c in sorted(sel.candidates, key=lambda c: c.latency_ms):
        flags = ("*" if sel.selected is c else " ") + ("P" if c.on_front else " ")
        m = "n/a" if c.map50_95 is None else f"{c.map50_95:.4f}"
        click.echo(f"{flags} {c.name:<32} {metric} {c.latency_ms:8.2f} ms  mAP50-95 {m}  {c.note}")
    click.echo("(* selected, P on the Pareto front)")
    click.echo(sel.reason)
    if sel.selected is None:
        sys.exit(1)


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder for report.json and report.md."
)
@click.option("--budget-ms", type=float, default=None, help="Latency budget; default: the profile's.")
@METRIC_OPT
def report(results, out, budget_ms, metric) -> None:
    """Write report.json and report.md (all candidates, the Pareto front, the choice and why).

    \b
    Example:
      edgeyolo report results.jsonl --out report/
    """
    from edgeyolo.bench.store import read_records
    from edgeyolo.report import report as run_report

    r = run_report(read_records(*results), Path(out), budget_ms=budget_ms, metric=metric)
    click.echo(r.selection.reason)
    for f in r.files.values():
        click.echo(f"wrote {f}")


# ---------------------------------------------------------------- run
@main.command()
@PROFILE_OPT
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="YOLO data.yaml; default: generate the built-in demo dataset.")  # fmt: skip
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder for everything the run writes."
)
@click.option("--model", default="yolo26n.yaml", show_default=True, help="Model YAML or local .pt.")
@click.option("--epochs", type=click.IntRange(min=1), default=15, show_default=True)
@click.option("--imgsz", type=int, default=None, help="Default: the profile's first image size.")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default=None, help="Training device: cpu, 0, 0,1.")
@click.option("--synth-train", type=click.IntRange(min=1), default=128, show_default=True,
              help="Demo dataset training images (without --data).")  # fmt: skip
@click.option("--synth-val", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--bench-iterations", type=click.IntRange(min=1), default=None, help="Default: the profile's.")
def run(
    profile, data_yaml, out, model, epochs, imgsz, batch, device, synth_train, synth_val, bench_iterations
) -> None:
    """Dataset -> train -> export -> bench -> select -> report, resumable.

    \b
    Example (demo dataset):
      edgeyolo run --profile x86-cpu --out demo
    """
    import time

    from edgeyolo.pipeline import PipelineConfig, run_pipeline

    t0 = time.perf_counter()
    r = run_pipeline(
        PipelineConfig(profile=_profile(profile), out=Path(out), data=Path(data_yaml) if data_yaml else None,
                       model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device,
                       synth_train=synth_train, synth_val=synth_val, bench_iterations=bench_iterations,
                       train_overrides=_demo_overrides(batch)),
        log=click.echo,
    )  # fmt: skip
    click.echo(f"\nselected: {r.selected or 'none'}. {r.reason}")
    click.echo(
        f"report: {r.report_dir / 'report.md'} (and report.json); took {time.perf_counter() - t0:.0f} s"
    )


def _demo_overrides(batch: int) -> dict:
    # Short runs: one optimizer step per batch (nbs = batch) instead of accumulating to 64 images, a one-epoch
    # warm-up and two mosaic-free epochs at the end.
    return {"nbs": batch, "warmup_epochs": 1, "close_mosaic": 2}


if __name__ == "__main__":
    main()
