"""``edgeyolo bench``: measure artifacts on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeyolo.commands._common import PROFILE_OPT, _profile


@click.command("bench")
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
@click.option("--resume", is_flag=True, help="Skip candidates that already have a result in --out.")
@click.option("--force", is_flag=True, help="Measure candidates again even when --out has their results.")
def command(
    profile, artifacts, data_yaml, out, threads, iterations, warmup, accuracy_images, resume, force
) -> None:
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
                              iterations=iterations, accuracy_images=accuracy_images, resume=resume, force=force),
                              on_record=show)  # fmt: skip
    for skipped in r.skipped:
        click.echo(f"➖ {skipped.name}: already in {r.out} (--resume)")
    click.echo(f"records appended to {r.out}")
    if r.records and all(rec["status"] != "ok" for rec in r.records):
        sys.exit(1)
