"""Benchmark on remote devices over SSH (the device side is :mod:`edgeyolo.bench.agent`).

``inventory`` (devices, ``devices.yaml``, work folder rules), ``session`` (one SSH connection: login, host
keys, remote paths and commands), ``stage`` (profile, val split and artifacts onto a device), ``fetch``
(records and per-image sidecars back) and ``fleet`` (:func:`benchmark_remote`: every device in parallel,
each in interleaved rounds, each candidate under its time limit).
"""

from edgeyolo.bench.remote.fleet import benchmark_remote, candidate_limit_s
from edgeyolo.bench.remote.inventory import Device, Host, load_inventory, parse_host, remote_devices
from edgeyolo.bench.remote.session import RemoteError, RemoteOptions

__all__ = [
    "Device",
    "Host",
    "RemoteError",
    "RemoteOptions",
    "benchmark_remote",
    "candidate_limit_s",
    "load_inventory",
    "parse_host",
    "remote_devices",
]
