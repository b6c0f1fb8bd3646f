"""The offline environment ultralytics is imported into, and the one way to import it.

Set before the first import: offline mode and no auto-install, the library's config folder under
edgeyolo's cache, a local font for its plots, its settings' integrations off, vendor telemetry declined,
and edgeyolo's library patches applied (``patches.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from edgeyolo._backend.patches import patch_ultralytics
from edgeyolo.errors import BackendUnavailableError

_READY = False
_SETTINGS_OFF = dict(
    sync=False, clearml=False, comet=False, dvc=False, mlflow=False, raytune=False,
    tensorboard=False, wandb=False, vscode_msg=False, openvino_msg=False,
)  # fmt: skip


def edgeyolo_home() -> Path:
    """Where edgeyolo keeps its caches (``EDGEYOLO_HOME``, default ``~/.cache/edgeyolo``)."""
    return Path(os.environ.get("EDGEYOLO_HOME", Path.home() / ".cache" / "edgeyolo")).expanduser()


def _prepare_environment() -> Path:
    config_dir = edgeyolo_home() / "ultralytics"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    # Plots ask for Arial.ttf and download it when missing, even offline; matplotlib ships a free font.
    font_dir = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics"  # ultralytics' USER_CONFIG_DIR
    font_dir.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            if src.is_file() and not (font_dir / name).exists():
                shutil.copyfile(src, font_dir / name)
    except ImportError:
        pass
    return config_dir


def import_ultralytics() -> Any:
    """Import ultralytics with the network switched off; one clear error when it is not installed."""
    global _READY
    if not _READY:
        _prepare_environment()
        from edgeyolo._offline import disable_vendor_telemetry

        disable_vendor_telemetry()
    try:
        import ultralytics
        from ultralytics.utils import SETTINGS
    except ImportError as e:
        raise BackendUnavailableError(
            f"training and export need ultralytics and torch ({e.name} is missing): pip install 'edgeyolo[train]'"
        ) from None
    if not _READY:
        SETTINGS.update(_SETTINGS_OFF)
        patch_ultralytics()
        _READY = True
    return ultralytics
