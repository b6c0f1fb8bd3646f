"""The only package that imports ultralytics (and, for training and export, torch).

Ultralytics reaches for the network in several places (settings sync, font download, auto-install of
missing packages, weight and dataset downloads). Everything here runs offline: the environment is set
before the first import, and names that would trigger a download are refused up front. Results are
converted into edgeyolo's own types before they leave the package.

- ``env.py``: the offline environment and :func:`~edgeyolo._backend.env.import_ultralytics`.
- ``patches.py``: edgeyolo's fixes to the library (MuSGD on CPU, the AMP check without a download).
- ``trainer.py``: model specs, the trainer class carrying a recipe, ``train_detector``, train arguments.
- ``checkpoints.py``: reading checkpoints, repairing a killed save, NMS-free capability of the head.
- ``export.py``, ``predict.py``: export with the NMS-free head; PyTorch reference detections.
- ``validate.py``: validation curves of the NMS-free head, as :class:`edgeyolo.curves.ValidationCurves`.

No module imports ultralytics or torch at import time; each function imports them when called. Import
names from the module that holds them (``from edgeyolo._backend.checkpoints import checkpoint_info``).
"""
