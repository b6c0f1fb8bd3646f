"""``edgeyolo export``: NMS-free artifacts for a profile's targets."""

from __future__ import annotations

from pathlib import Path

import click

from edgeyolo.commands._options import PROFILE_OPT, LiveHelpOption, parse_sizes, registry_names


def _parse_targets(formats: str | None, precisions: str | None, profile):
    """--formats/--precisions filter the profile's targets; a pair not in the profile is added."""
    import edgeyolo.api as api

    if formats is None and precisions is None:
        return None
    fmts = [f.strip() for f in formats.split(",")] if formats else sorted({t.format for t in profile.targets})
    precs = (
        [p.strip() for p in precisions.split(",")]
        if precisions
        else sorted({t.precision for t in profile.targets})
    )
    for f in fmts:
        if f not in api.FORMATS:
            raise click.BadParameter(
                f"unknown format '{f}'; known: {', '.join(api.FORMATS)}", param_hint="--formats"
            )
    for p in precs:
        if p not in api.PRECISIONS:
            raise click.BadParameter(
                f"unknown precision '{p}'; known: {', '.join(api.PRECISIONS)}", param_hint="--precisions"
            )
    return tuple(api.TargetSpec(f, p, api.RUNTIMES_FOR_FORMAT[f][0]) for f in fmts for p in precs)


@click.command("export")
@PROFILE_OPT
@click.option(
    "--weights", required=True, type=click.Path(dir_okay=False), help="best.pt from 'edgeyolo train'."
)
@click.option("--imgsz", default=None, help="Comma-separated sizes; default: the profile's.")
@click.option("--formats", default=None, cls=LiveHelpOption,
              live_help=lambda: f"Comma-separated subset: {registry_names('FORMATS')}; default: the profile's.")  # fmt: skip
@click.option("--precisions", default=None, cls=LiveHelpOption,
              live_help=lambda: f"Comma-separated subset: {registry_names('PRECISIONS')}; default: the profile's.")  # fmt: skip
@click.option("--data", "data_yaml", default=None, type=click.Path(dir_okay=False),
              help="data.yaml: INT8 calibration and the PyTorch parity check use its val images.")  # fmt: skip
@click.option("--out", default="artifacts", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--bundle", is_flag=True, help="Also pack the artifacts into one .tar.gz for copying to the device."
)
@click.option(
    "--allow-degraded",
    is_flag=True,
    help="Keep artifacts whose parity check failed (marked in the manifest).",
)
@click.option("--force", is_flag=True, help="Re-export artifacts that already exist for these weights.")
def command(
    profile, weights, imgsz, formats, precisions, data_yaml, out, bundle, allow_degraded, force
) -> None:
    """Export NMS-free artifacts (one folder + manifest.json each) for the profile's targets.

    \b
    Examples:
      edgeyolo export --profile x86-cpu --weights runs/train/yolo26n-320/weights/best.pt --imgsz 320 \\
          --data datasets/demo/data.yaml
      edgeyolo export --profile rpi5 --weights best.pt --formats openvino --precisions int8 --data d.yaml --bundle
    """
    import edgeyolo.api as api

    p = api.load_profile(profile)
    r = api.export(api.ExportConfig(profile=p, weights=Path(weights), out=Path(out), imgsz=parse_sizes(imgsz),
                                    targets=_parse_targets(formats, precisions, p),
                                    data=Path(data_yaml) if data_yaml else None, bundle=bundle,
                                    allow_degraded=allow_degraded, force=force))  # fmt: skip
    for i in r.items:
        mark = {"ok": "✅", "skipped": "➖", "error": "❌"}[i.status]
        what = str(i.artifact) + (" (already exported)" if i.reused else "") if i.status == "ok" else i.reason
        click.echo(f"{mark} {i.target.format}-{i.target.precision} {i.imgsz}: {what}")
        for w in i.warnings:
            click.echo(f"   warning: {w}")
    if r.bundle:
        click.echo(f"bundle: {r.bundle}")
    if not r.artifacts:
        raise click.ClickException("no artifact was exported; see the reasons above")
