"""``edgeyolo device setup``: install edgeyolo's torch-free runtime on devices over SSH (no internet there)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgeyolo.commands._options import (
    LiveHelpOption,
    registry_names,
    ssh_login_from_options,
    ssh_login_options,
)


@click.group("device", short_help="Prepare devices for benchmarking over SSH.")
def command() -> None:
    """Prepare devices reached over SSH (see 'edgeyolo bench --help' for --host / --devices).

    \b
    Example (install the torch-free runtime on a Pi with no internet, then benchmark there):
      edgeyolo device setup --host pi@rpi5.local --profile rpi5
    """


def _runtimes(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise click.BadParameter("name runtimes like onnxruntime,ncnn", param_hint="--runtimes")
    return names


@command.command("setup")
@click.option("--host", "hosts", multiple=True, metavar="USER@HOST[:PORT]", help="The device (repeatable).")
@click.option(
    "--devices",
    "inventory",
    default=None,
    type=click.Path(dir_okay=False),
    help="Inventory YAML (as for bench): set up its devices, with their profile:, key: and workdir:.",
)
@click.option(
    "--only",
    "device_names",
    multiple=True,
    metavar="NAME",
    help="Only these devices of --devices (repeatable).",
)
@click.option(
    "--profile",
    "-p",
    "profile",
    default=None,
    help="Install the runtimes this profile's targets use (default: each inventory device's profile).",
)
@click.option("--runtimes", default=None, metavar="LIST", cls=LiveHelpOption,
              live_help=lambda: f"Runtimes to install instead, e.g. onnxruntime,ncnn ({registry_names('PIP_RUNTIMES')}).")  # fmt: skip
@click.option(
    "--base-python",
    default="python3",
    show_default=True,
    help="The device's Python to make the venv from; its version decides the wheels.",
)
@click.option(
    "--remote-workdir",
    default=None,
    help="Folder on the device for the wheels and the venv; default ~/.cache/edgeyolo-remote.",
)
@click.option(
    "--wheelhouse",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder here for the device's wheels (kept for the next device); default ~/.cache/edgeyolo/wheelhouse/<platform>.",
)
@ssh_login_options
@click.option(
    "--force", is_flag=True, help="Copy and install again even when the device already has these versions."
)
def setup(hosts, inventory, device_names, profile, runtimes, base_python, remote_workdir, wheelhouse, identity,
          known_hosts, accept_new_host_key, force) -> None:  # fmt: skip
    """Install edgeyolo and its runtimes on devices, from wheels fetched here: the device needs no internet.

    Asks the device for its architecture, Python and glibc; downloads the wheels for exactly that platform
    here (edgeyolo's own wheel is made from this installation); copies them over SFTP into the device's work
    folder; installs them there into a venv with no package index; checks them with the benchmark agent.
    A device that already has the same wheels is left alone (--force reinstalls).

    \b
    Examples:
      edgeyolo device setup --host pi@rpi5.local --profile rpi5
      edgeyolo device setup --devices devices.yaml --only pi5-lab --runtimes onnxruntime,ncnn
    """
    import edgeyolo.api as api

    if not hosts and not inventory:
        raise click.UsageError("name the device: --host USER@HOST[:PORT] or --devices devices.yaml")
    if device_names and not inventory:
        raise click.UsageError("--only picks devices from --devices FILE; pass the inventory too")
    devices = api.remote_devices(hosts, inventory, device_names, python=base_python, workdir=remote_workdir)
    prof = api.load_profile(profile) if profile else None
    names = _runtimes(runtimes)
    configs = [api.SetupConfig(device=d, runtimes=names, profile=prof, base_python=base_python, force=force,
                               wheelhouse=Path(wheelhouse) if wheelhouse else None) for d in devices]  # fmt: skip
    opts = ssh_login_from_options(identity, known_hosts, accept_new_host_key)
    failed = 0
    for cfg, r in zip(configs, api.setup_devices(configs, opts, log=lambda m: click.echo(m, err=True))):
        if not isinstance(r, api.SetupResult):
            failed += 1
            named = cfg.device.name == str(cfg.device.host)  # --host: the message names it already
            click.echo(f"❌ {r}" if named else f"❌ {cfg.device.name}: {r}")
            continue
        rts = ", ".join(f"{k} {v}" for k, v in r.runtimes.items() if v is not None)
        what = (
            "already set up"
            if not r.changed
            else f"installed {len(r.packages)} packages in {r.seconds:.0f} s"
        )
        click.echo(f"✅ {r.device} ({r.platform}): edgeyolo {r.packages.get('edgeyolo')} with {rts}; {what}")
        click.echo(
            f"   python: {r.python}   (bench/run: --remote-python '{r.python}'; devices.yaml: python: {r.python})"
        )
        for rt, why in r.skipped.items():
            click.echo(f"   {rt}: not installed ({why})")
        if r.emulation:
            click.echo(f"   ⚠️ emulated: {r.emulation.get('emulator')} on {r.emulation.get('host_arch') or 'another CPU'}: "
                       "latency measured there is not the device's; accuracy is")  # fmt: skip
    if failed:
        sys.exit(1)
