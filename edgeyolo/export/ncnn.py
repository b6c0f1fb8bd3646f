"""NCNN export that keeps YOLO26's NMS-free one-to-one head.

Ultralytics exports NCNN with the end-to-end branch switched off ("this export format does not support
end2end models"): NCNN has no top-k layer, so the library's NCNN model is the one-to-many head and needs NMS.
No export option changes that (``nms=False`` is overridden for ``format="ncnn"``), so edgeyolo builds the
graph itself from the library's own modules and converts it with pnnx, as the library does:

1. The checkpoint's model is prepared the way the library's exporter prepares an end-to-end export:
   ``end2end = True`` *before* ``fuse()`` (fusing then drops the one-to-many branch), BatchNorm folded,
   C2f blocks on ``forward_split``, the head in export mode.
2. The Detect head is replaced by :class:`One2OneScores`, a wrapper around it that runs the head's own
   one-to-one branch and decode (``Detect.forward_head(**one2one)`` then ``Detect._inference``: xyxy boxes
   in input pixels and sigmoid class scores, ``[1, 4 + nc, anchors]``) and stops exactly where
   ``Detect.forward`` would call ``Detect.postprocess``, the top-k of the end-to-end head. Everything up to
   the top-k is the library's graph, untouched.
3. ``torch.jit.trace`` + the pnnx converter (as the library's ``torch2ncnn``) write ``model.ncnn.param`` /
   ``model.ncnn.bin`` (FP16 weights for ``fp16``). pnnx is pinned in the ``train`` extra: pnnx 20260704
   wrote YOLO26 graphs that segfault in ncnn 1.0.20260526 (https://github.com/pnnx/pnnx/issues/293, the
   reason the library pins 20260526); 20261020 converts cleanly and runs on ncnn 1.0.20260526 and
   1.0.20261020 (benchmarks/ncnn.py checks the pairs).

The top-k (``Detect.get_topk_index``: best ``max_det`` anchors by their best class, then the best
``max_det`` (anchor, class) pairs among them) runs in numpy in the torch-free runtime
(:func:`edgeyolo.runtime.ncnn.topk_end2end`), which gives the same ``[max_det, 6]`` rows as the ONNX and
OpenVINO graphs of the same weights. Nothing suppresses overlapping boxes: there is no NMS anywhere.

INT8 is not offered (the refusal is in :mod:`edgeyolo.formats`): NCNN quantizes with the C++ tools ``ncnn2table`` / ``ncnn2int8``, which neither the
``ncnn`` nor the ``pnnx`` wheel ships.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

from edgeyolo.errors import BackendUnavailableError, ExportError
from edgeyolo.export.job import ExportJob

PARAM_FILE = "model.ncnn.param"
BIN_FILE = "model.ncnn.bin"


def _one2one_scores_class() -> type:
    import torch

    class One2OneScores(torch.nn.Module):
        """Stands in for the Detect head: its one-to-one branch, decoded, before the end-to-end top-k."""

        def __init__(self, head: torch.nn.Module):
            super().__init__()
            self.head = head
            # The model's forward routes layers by these attributes (inputs from, index, type).
            self.f, self.i, self.type = head.f, head.i, head.type

        def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
            head = self.head
            # [1, 4 + nc, anchors]: boxes decoded as xyxy (end2end) in input pixels, then sigmoid scores.
            return head._inference(head.forward_head(x, **head.one2one))

    return One2OneScores


def build_graph(weights: Path, imgsz: int | tuple[int, int]):
    """The model that pnnx converts: the checkpoint with its head swapped for :class:`One2OneScores`."""
    import torch

    from edgeyolo._backend.checkpoints import load_checkpoint

    ckpt = load_checkpoint(Path(weights))
    model = (ckpt.get("ema") or ckpt["model"]).float()  # the weights YOLO(weights) loads
    head = model.model[-1]
    if getattr(head, "one2one_cv2", None) is None:
        raise ExportError(
            f"{weights}: the head has no one-to-one branch; NCNN export needs a YOLO26 (end-to-end) head"
        )
    for p in model.parameters():
        p.requires_grad = False
    model.eval()
    model.end2end = True  # before fuse(): fusing keeps the one-to-one branch and drops the one-to-many
    model = model.fuse(verbose=False)
    for m in model.modules():
        if any(c.__name__ == "C2f" for c in type(m).__mro__):  # split, not chunk: as the library exports it
            m.forward = m.forward_split
    head = model.model[-1]
    head.export, head.format, head.dynamic, head.xyxy, head.shape = True, "ncnn", False, False, None
    model.model[-1] = _one2one_scores_class()(head)
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    im = torch.zeros(1, 3, h, w)
    with torch.no_grad():
        out = model(im)
    if not isinstance(out, torch.Tensor) or out.shape[1] != 4 + head.nc:
        raise ExportError(f"{weights}: unexpected one-to-one output {getattr(out, 'shape', type(out))}")
    return model, im


def export_ncnn(weights: Path, out_dir: Path, *, imgsz: int | tuple[int, int], fp16: bool) -> Path:
    """Write ``model.ncnn.param`` / ``model.ncnn.bin`` of the one-to-one graph into ``out_dir``, for an input of
    ``imgsz`` (square) or ``(h, w)``.

    pnnx runs as a subprocess inside ``out_dir`` (it drops debug files into its working directory), and a
    failed conversion is an error instead of a missing file.
    """
    try:
        import pnnx
    except ImportError:
        raise BackendUnavailableError("NCNN export needs pnnx: pip install 'edgeyolo[train]'") from None
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, im = build_graph(weights, imgsz)
    pt = out_dir / "model.pt"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", FutureWarning
        )  # jit.trace is deprecated; pnnx reads TorchScript still
        torch.jit.trace(model, im, check_trace=False).save(str(pt))
    files = {
        "pnnxparam": "model.pnnx.param", "pnnxbin": "model.pnnx.bin", "pnnxpy": "model_pnnx.py",
        "pnnxonnx": "model.pnnx.onnx", "ncnnparam": PARAM_FILE, "ncnnbin": BIN_FILE, "ncnnpy": "model_ncnn.py",
    }  # fmt: skip
    cmd = [pnnx.EXEC_PATH, str(pt), f"inputshape=[1,3,{im.shape[2]},{im.shape[3]}]f32", "device=cpu", "optlevel=2",
           f"fp16={int(fp16)}", *(f"{k}={(out_dir / v).as_posix()}" for k, v in files.items())]  # fmt: skip
    proc = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True)
    if proc.returncode != 0 or not (out_dir / PARAM_FILE).is_file() or not (out_dir / BIN_FILE).is_file():
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ExportError(f"pnnx {getattr(pnnx, '__version__', '?')} could not convert the model: {why}")
    return out_dir


def export_artifact(job: ExportJob) -> None:
    """The format's exporter (:mod:`edgeyolo.formats`): the param/bin pair into ``job.out``; pnnx's intermediate
    files stay in ``job.work``."""
    produced = export_ncnn(job.weights, job.work / "ncnn", imgsz=job.imgsz.hw, fp16=job.precision == "fp16")
    job.out.mkdir(parents=True, exist_ok=True)
    for name in (PARAM_FILE, BIN_FILE):
        shutil.move(str(produced / name), job.out / name)
