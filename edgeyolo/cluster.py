"""The one place edgeyolo connects to Ray, for ``tune --backend ray`` and ``run --ray-address``.

- Address: ``None`` or ``"local"`` starts a Ray instance on this machine (loopback address, ``num_cpus`` CPUs,
  no dashboard, no usage statistics); ``"auto"`` joins the cluster this machine belongs to (``RAY_ADDRESS`` or
  the one ``ray start`` left); ``host:port`` joins that head's GCS and ``ray://host:port`` its Ray Client server.
  An address nobody answers is one line (:class:`ClusterError`) after a few seconds, not Ray's minutes of retries.
- Environment: edgeyolo's and Ultralytics' settings (``EDGEYOLO_HOME``, ``YOLO_CONFIG_DIR``, offline flags) are
  passed to the workers, so a task trains offline with the same caches as a local run.
- Resources: a task asks for CPUs and GPUs; a task with GPUs sees the ones Ray gave it as devices ``0..n-1``
  (Ray sets ``CUDA_VISIBLE_DEVICES``), so its training device is :func:`task_device`.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from edgeyolo.errors import BackendUnavailableError, EdgeYoloError

PASS_ENV = ("EDGEYOLO_HOME", "YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL")
LOCAL = "local"
_CONNECT_TIMEOUT_S = 5.0


class ClusterError(EdgeYoloError, ConnectionError):
    """The Ray cluster at the given address cannot be reached."""


def require_ray(message: str, modules: tuple[str, ...] = ("ray",)) -> None:
    """Raise ``BackendUnavailableError(message)`` when one of ``modules`` is not installed."""
    from importlib.util import find_spec

    try:
        missing = any(find_spec(m) is None for m in modules)
    except ModuleNotFoundError:  # a submodule of a package that is not there
        missing = True
    if missing:
        raise BackendUnavailableError(message)


def _head(address: str) -> tuple[str, int] | None:
    """``host:port`` of an address (``ray://`` or plain); None for ``auto``, ``local`` and other forms."""
    if address in ("auto", LOCAL):
        return None
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise ClusterError(
            f"--ray-address '{address}': not an address; use auto, local, host:port or ray://host:10001"
        )
    return parts.hostname, port


def check_reachable(address: str) -> None:
    """Fail in one line when nothing listens at ``address`` (Ray itself retries for minutes)."""
    if address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            found = canonicalize_bootstrap_address("auto")
        except ConnectionError:
            found = None
        if not found:
            raise ClusterError(
                "--ray-address auto: no Ray cluster found on this machine (no RAY_ADDRESS, no 'ray start'); start "
                "one with 'ray start --head' or pass its address"
            )
        address = found
    head = _head(address)
    if head is None:
        return
    try:
        socket.create_connection(head, timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise ClusterError(
            f"--ray-address {address}: no Ray cluster answers at {head[0]}:{head[1]} ({reason}); start one with "
            "'ray start --head' there, or check the address and port"
        ) from None


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address`` or start a local instance; True when this call started Ray (the caller
    shuts it down). An initialized Ray (a test's, a notebook's) is used as it is."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report
    import ray

    if ray.is_initialized():
        return False
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    runtime_env = {"env_vars": env} if env else None
    if address and address != LOCAL:
        check_reachable(address)
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env,
                 _node_ip_address="127.0.0.1")  # fmt: skip
    return True


def cluster_gpus() -> float:
    """GPUs of the connected cluster (0 without any)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0))


def task_device(gpus: float) -> str:
    """The training device inside a task given ``gpus`` GPUs: ``cpu``, ``0`` (a whole or shared GPU), ``0,1``."""
    if gpus <= 0:
        return "cpu"
    return ",".join(str(i) for i in range(max(1, int(gpus))))


def describe() -> str:
    """``3 node(s), 48 CPU(s), 4 GPU(s)`` of the connected cluster."""
    import ray

    res = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    return f"{nodes} node(s), {res.get('CPU', 0):g} CPU(s), {res.get('GPU', 0):g} GPU(s)"
