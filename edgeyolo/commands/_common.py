"""Options and helpers shared by the commands in cli.py and edgeyolo/commands/."""

from __future__ import annotations

import click


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


METRIC_OPT = click.option("--metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p90", show_default=True,
                          help="End-to-end latency percentile the budget applies to.")  # fmt: skip


# How SSH logs in and trusts a host: the same for every command that reaches devices (bench, run, device setup).
SSH_LOGIN_OPTIONS = [
    click.option("--identity", "-i", default=None, type=click.Path(dir_okay=False),
                 help="SSH private key; default: ssh-agent and ~/.ssh/id_*."),
    click.option("--known-hosts", default=None, type=click.Path(dir_okay=False), help="Default ~/.ssh/known_hosts."),
    click.option("--accept-new-host-key", is_flag=True,
                 help="Trust and save the key of a host not yet in known_hosts (a changed key is still refused)."),
]  # fmt: skip

_REMOTE_OPTIONS = [
    click.option("--host", "hosts", multiple=True, metavar="USER@HOST[:PORT]",
                 help="Benchmark on this device over SSH (repeatable; devices run in parallel)."),
    click.option("--devices", "inventory", default=None, type=click.Path(dir_okay=False),
                 help="Inventory YAML: devices: {NAME: {host: user@host[:port], profile: rpi5, key:, python:, workdir:}}."),
    click.option("--only", "device_names", multiple=True, metavar="NAME", help="Only these devices of --devices (repeatable)."),
    *SSH_LOGIN_OPTIONS,
    click.option("--remote-python", default="python3", show_default=True,
                 help="Python with edgeyolo installed on --host devices, e.g. '~/venv/bin/python' (quoted)."),
    click.option("--remote-workdir", default=None,
                 help="Folder on --host devices for every file; default ~/.cache/edgeyolo-remote."),
]  # fmt: skip


def _apply(options: list, f):
    for option in reversed(options):
        f = option(f)
    return f


def remote_options(f):
    """The SSH options of ``bench`` and ``run`` (devices to benchmark on instead of this machine)."""
    return _apply(_REMOTE_OPTIONS, f)


def ssh_login_options(f):
    """--identity, --known-hosts and --accept-new-host-key."""
    return _apply(SSH_LOGIN_OPTIONS, f)


def remote_from_options(hosts, inventory, device_names, identity, known_hosts, accept_new_host_key, remote_python,
                        remote_workdir):  # fmt: skip
    """(devices, RemoteOptions) from the remote options; no devices when neither --host nor --devices."""
    from pathlib import Path

    if not hosts and not inventory:
        if device_names:
            raise click.UsageError("--only picks devices from --devices FILE; pass the inventory too")
        return [], None
    from edgeyolo.bench.remote import RemoteOptions, remote_devices

    devices = remote_devices(hosts, inventory, device_names, python=remote_python, workdir=remote_workdir)
    opts = RemoteOptions(known_hosts=Path(known_hosts) if known_hosts else None,
                         accept_new_host_key=accept_new_host_key, key_file=Path(identity) if identity else None)  # fmt: skip
    return devices, opts


DEVICE_OPT = click.option("--device", default=None,
                          help="Results from several devices: the one to use (label 'profile @ host', hostname or profile).")  # fmt: skip

_SELECTION_OPTIONS = [
    click.option("--budget-ms", type=float, default=None,
                 help="End-to-end latency budget in ms; default: the profile's."),
    click.option("--fps", type=float, default=None, help="Frame-rate target: a budget of 1000/FPS ms (not with --budget-ms)."),
    click.option("--min-map", type=float, default=None, help="Never select a candidate below this mAP50-95 (0-1)."),
    METRIC_OPT,
]  # fmt: skip


def selection_options(f):
    """--budget-ms, --fps, --min-map and --metric of select, report and compare."""
    for option in reversed(_SELECTION_OPTIONS):
        f = option(f)
    return f


def check_budget(budget_ms: float | None, fps: float | None) -> None:
    if budget_ms is not None and fps is not None:
        raise click.UsageError("give the latency budget either as --budget-ms or as --fps, not both")
