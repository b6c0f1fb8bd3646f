"""What the commands share: options that several commands declare the same way, and the helpers that turn
their values into API arguments (image sizes, the devices to reach over SSH and how to log in, a budget).

Only click is imported here; the API is imported inside the helpers that need it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


class LiveHelpOption(click.Option):
    """An option whose help is written when it is shown (``live_help()``), so lists of names come from the
    format registry as it is then, a registered plugin's included, and ``edgeyolo --help`` imports nothing."""

    def __init__(self, *args: Any, live_help: Callable[[], str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.live_help = live_help

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self.live_help()
        return super().get_help_record(ctx)


def registry_names(which: str) -> str:
    """A list of the registry's names as the API shows it (``FORMATS``, ``PRECISIONS``, ``PIP_RUNTIMES``),
    comma-separated."""
    import edgeyolo.api as api

    return ", ".join(getattr(api, which))


PROFILE_OPT = click.option("--profile", "-p", "profile", required=True,
                           help="Built-in device profile name (see 'edgeyolo profiles list') or a profile YAML path.")  # fmt: skip


METRIC_OPT = click.option("--metric", type=click.Choice(["p50", "p90", "p95", "p99"]), default="p90", show_default=True,
                          help="End-to-end latency percentile the budget applies to.")  # fmt: skip


DEVICE_OPT = click.option("--device", default=None,
                          help="Results from several devices: the one to use (label 'profile @ host', hostname or profile).")  # fmt: skip


def parse_sizes(value: str | None) -> tuple | None:
    """'320,480,320x192' -> image sizes: an int for a square size, an ``edgeyolo.shapes.Shape`` for ``WxH`` (width
    and height positive multiples of 32); None when the option is not given."""
    if value is None:
        return None
    import edgeyolo.api as api
    from edgeyolo.errors import ConfigError

    parts = [v.strip() for v in value.split(",") if v.strip()]
    if not parts:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of sizes like 320,480 or 320x192")
    sizes = []
    for part in parts:
        try:
            shape = api.parse_shape(part, f"'{part}'")
        except ConfigError as e:
            raise click.BadParameter(
                f"{e} (sizes are comma-separated: 320,480 square, 320x192 width x height)"
            ) from None
        sizes.append(shape.h if shape.is_square else shape)
    return tuple(sizes)


def _apply(options: list, f):
    for option in reversed(options):
        f = option(f)
    return f


# How SSH logs in and trusts a host: the same for every command that reaches devices (bench, run, device setup).
_SSH_LOGIN_OPTIONS = [
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
    *_SSH_LOGIN_OPTIONS,
    click.option("--remote-python", default="python3", show_default=True,
                 help="Python with edgeyolo installed on --host devices, e.g. '~/venv/bin/python' (quoted)."),
    click.option("--remote-workdir", default=None,
                 help="Folder on --host devices for every file; default ~/.cache/edgeyolo-remote."),
    click.option("--candidate-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                 help="Total time one candidate may take on a device before it is ended and recorded as an error; "
                      "default: from its iterations, val images and the profile."),
]  # fmt: skip


def ssh_login_options(f):
    """--identity, --known-hosts and --accept-new-host-key."""
    return _apply(_SSH_LOGIN_OPTIONS, f)


def remote_options(f):
    """The SSH options of ``bench`` and ``run`` (devices to benchmark on instead of this machine)."""
    return _apply(_REMOTE_OPTIONS, f)


def ssh_login_from_options(identity, known_hosts, accept_new_host_key):
    """The API's RemoteOptions from --identity, --known-hosts and --accept-new-host-key."""
    import edgeyolo.api as api

    return api.RemoteOptions(known_hosts=Path(known_hosts) if known_hosts else None,
                             accept_new_host_key=accept_new_host_key, key_file=Path(identity) if identity else None)  # fmt: skip


def remote_from_options(hosts, inventory, device_names, identity, known_hosts, accept_new_host_key, remote_python,
                        remote_workdir, candidate_timeout=None):  # fmt: skip
    """(devices, RemoteOptions) from the remote options; no devices when neither --host nor --devices."""
    if not hosts and not inventory:
        if device_names:
            raise click.UsageError("--only picks devices from --devices FILE; pass the inventory too")
        if candidate_timeout is not None:
            raise click.UsageError("--candidate-timeout limits candidates on devices reached over SSH; pass --host "
                                   "or --devices, or leave it out")  # fmt: skip
        return [], None
    import edgeyolo.api as api

    devices = api.remote_devices(hosts, inventory, device_names, python=remote_python, workdir=remote_workdir)
    login = ssh_login_from_options(identity, known_hosts, accept_new_host_key)
    return devices, dataclasses.replace(login, candidate_timeout_s=candidate_timeout)


_SELECTION_OPTIONS = [
    click.option("--budget-ms", type=float, default=None,
                 help="End-to-end latency budget in ms; default: the profile's."),
    click.option("--fps", type=float, default=None, help="Frame-rate target: a budget of 1000/FPS ms (not with --budget-ms)."),
    click.option("--min-map", type=float, default=None, help="Never select a candidate below this mAP50-95 (0-1)."),
    METRIC_OPT,
]  # fmt: skip


def selection_options(f):
    """--budget-ms, --fps, --min-map and --metric of select, report and compare."""
    return _apply(_SELECTION_OPTIONS, f)


def check_budget(budget_ms: float | None, fps: float | None) -> None:
    """The latency budget is given at most one way."""
    if budget_ms is not None and fps is not None:
        raise click.UsageError("give the latency budget either as --budget-ms or as --fps, not both")
