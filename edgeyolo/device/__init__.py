"""``edgeyolo device setup``: install edgeyolo's torch-free runtime on a device over SSH, with no internet there.

1. Ask the device (over SSH, with its own Python) for its architecture, Python version and C library.
2. Build a wheelhouse here for exactly that platform: edgeyolo's own wheel, made from the installed package
   (edgeyolo is not on a package index), plus ``pip download --platform ... --python-version ...
   --only-binary=:all:`` of its dependencies and the runtime package of each runtime the device's profile
   needs (``onnxruntime`` of the ``onnx`` extra, ``openvino``, ``ncnn``; not the export-time packages those
   extras also carry: onnx, onnxslim, nncf) and pip itself. Kept per platform, so a second device of the same
   kind, or a rerun, downloads nothing.
3. Copy it over SFTP into the device's work folder (files already there with the same size are kept).
4. Install it there into a new virtual environment, ``<workdir>/venv.<n>``, and switch the link ``<workdir>/venv``
   to it only once it passes the check (a failed or timed-out install leaves the previous one working), with no
   index: ``--no-index
   --find-links`` and ``--require-hashes`` (every wheel pinned to its sha256). The venv is made
   ``--without-pip`` and pip runs from its wheel in the wheelhouse, so Debian's ``python3-venv`` (ensurepip) is
   not needed either. ``--no-compile``: byte-compiling every module at install is two thirds of pip's time on a
   slow CPU, and most of them (matplotlib's, OpenVINO's tools) are never imported by the runtime; Python
   compiles what it imports on first use (the venv is the user's, so the cache is written).
5. Verify with the benchmark agent's ``info`` (edgeyolo's version, each runtime imports).

Idempotent: a device whose venv holds exactly this wheelhouse (same files, same checksums) and still passes the
check is left alone; anything else gets a fresh venv; ``force`` reinstalls. Host keys, the work folder rules and
errors are those of remote benchmarking (:mod:`edgeyolo.bench.remote`).

``wheelhouse`` holds step 2, ``setup`` the others.
"""

from edgeyolo.device.setup import SetupConfig, SetupResult, setup_device, setup_devices, setup_runtimes
from edgeyolo.device.wheelhouse import DevicePlatform, SetupError, build_own_wheel, build_wheelhouse

__all__ = [
    "DevicePlatform",
    "SetupConfig",
    "SetupError",
    "SetupResult",
    "build_own_wheel",
    "build_wheelhouse",
    "setup_device",
    "setup_devices",
    "setup_runtimes",
]
