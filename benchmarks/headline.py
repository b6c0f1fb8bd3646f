"""The headline number: what `edgeyolo run` selects vs what a user does without edgeyolo, same machine.

The default path is the library's: export the trained weights with `model.export(format="onnx")` (its
defaults: FP32, the one-to-many head, NMS outside the graph) and run `YOLO("model.onnx").predict(image)`.
edgeyolo's side is the candidate that `edgeyolo run` selected (from the run's results.jsonl), run with
`edgeyolo.runtime.load_runtime(artifact).predict(image)`. Both:
- at the run's image size, on the run's val images (decoded beforehand, cycled; letterboxing included): the
  default path square (the library's export takes one size), edgeyolo's candidate at its own input, camera-shaped
  (e.g. 320x192 on 16:9 frames) when that is what `select` chose,
- pinned to the same `--threads` cores (process affinity), each runtime given that many intra-op threads
  (Ultralytics' ONNX backend would take ONNX Runtime's default, the machine's core count: the worker sets it,
  and torch's, to --threads),
- each in its own process (two inference sessions in one process slow each other), rounds alternating
  so machine drift hits both alike; p50/p90 are the medians over rounds of each round's percentiles
  (`--stat min`: each side's least disturbed round),
- mAP50-95 with the COCO protocol (faster-coco-eval, confidence 0.001, 300 detections) on the same val
  images, through the same evaluator (`edgeyolo.bench.accuracy.coco_map`).
Stage times are each side's own: edgeyolo's runtime timers, Ultralytics' `Results.speed`; "other" is the
wall time of the call that neither counts.

    .venv/bin/python benchmarks/headline.py --run demo --all [--threads 1] [--rounds 5] [--n 200] [--json out.json]
Without --run (or when the folder has no results.jsonl), `edgeyolo run --profile x86-cpu --out DIR` makes one
first (the demo dataset, 15 epochs: tens of minutes on 2 cores). By default the default path exports the
weights edgeyolo's run trained, so the latency ratio is the deployment path's alone; but its mAP is then the
one-to-many head of a model trained for the one-to-one head. `--train-default` first trains yolo26n the way a
user would without edgeyolo (`YOLO("yolo26n.yaml").train(data, epochs, imgsz)`, the run's epochs, everything
else the library's default; kept beside the run) and gives the default path those weights; `--weights` any.
`--all` also measures every other candidate of the run. When nothing met the run's budget (a machine busy
while `edgeyolo run` benchmarked), the candidate `select` names as closest is used.
On a machine shared with other work prefer `--threads 1`: a 2-thread ONNX Runtime session waits for its
second thread whenever another process holds that core (rounds of 11 to 45 ms for the same session).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("preprocess", "inference", "postprocess", "other")


def _pin(threads: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    os.sched_setaffinity(0, cpus)


def _load_images(paths: list[str]) -> list[np.ndarray]:
    import cv2

    return [cv2.imread(p) for p in paths]


def _edgeyolo_side(target: str, threads: int):
    from edgeyolo.runtime import load_runtime

    rt = load_runtime(target, threads=threads)

    def call(img, conf=0.25):
        det = rt.predict(img, conf=conf)
        t = rt.last_times
        return det, {"preprocess": t.preprocess, "inference": t.inference, "postprocess": t.postprocess}

    return call


def _ultralytics_side(target: str, imgsz: int, threads: int):
    import onnxruntime as ort
    import torch

    from edgeyolo._backend.env import import_ultralytics
    from edgeyolo.runtime.types import Detections

    # Same threads: the library's ONNX backend opens its session with ONNX Runtime's default thread count
    # (the machine's cores, not this process's affinity); give it --threads, as edgeyolo's runtime gets.
    original = ort.InferenceSession.__init__

    def session_init(self, path, sess_options=None, *args, **kwargs):
        sess_options = sess_options or ort.SessionOptions()
        sess_options.intra_op_num_threads = threads
        original(self, path, sess_options, *args, **kwargs)

    ort.InferenceSession.__init__ = session_init
    torch.set_num_threads(threads)  # its pre- and postprocessing (NMS) run in torch
    import_ultralytics()
    from ultralytics import YOLO

    yolo = YOLO(target, task="detect")

    def call(img, conf=0.25):
        r = yolo.predict(img, imgsz=imgsz, conf=conf, max_det=300, verbose=False)[0]
        b = r.boxes
        det = Detections(xyxy=b.xyxy.cpu().numpy().astype(np.float32), scores=b.conf.cpu().numpy().astype(np.float32),
                         classes=b.cls.cpu().numpy().astype(np.int64))  # fmt: skip
        return det, dict(r.speed)

    return call


def _worker(a: argparse.Namespace) -> dict:
    _pin(a.threads)
    spec = json.loads(Path(a.spec).read_text())
    images = _load_images(spec["images"])
    call = (
        _ultralytics_side(spec["ultralytics"], spec["imgsz"], a.threads)
        if a.worker == "ultralytics"
        else _edgeyolo_side(a.worker, a.threads)
    )
    for i in range(a.warmup):
        call(images[i % len(images)])
    wall, stages = [], {k: [] for k in STAGES}
    for i in range(a.n):
        img = images[i % len(images)]
        t0 = time.perf_counter()
        _, st = call(img)
        ms = (time.perf_counter() - t0) * 1e3
        wall.append(ms)
        for k in STAGES[:3]:
            stages[k].append(st[k])
        stages["other"].append(ms - sum(st[k] for k in STAGES[:3]))
    out = {
        "p50": float(np.percentile(wall, 50)),
        "p90": float(np.percentile(wall, 90)),
        "stages_p50": {k: float(np.median(v)) for k, v in stages.items()},
    }
    if a.map:
        from edgeyolo.bench.accuracy import coco_map
        from edgeyolo.data.yolo import load_dataset, load_split

        dataset = load_dataset(spec["data"])
        labeled = load_split(dataset, "val", limit=spec["val_images"])
        dets, sizes = [], []
        for img in _load_images([str(i.path) for i in labeled]):
            sizes.append(img.shape[:2])
            dets.append(call(img, conf=0.001)[0])
        acc = coco_map(labeled, sizes, dets, dataset.names)
        out["map50_95"], out["map50"] = acc["map50_95"], acc["map50"]
    return out


def _ensure_run(run: Path | None, data: str | None) -> Path:
    if run is not None and (run / "results.jsonl").is_file():
        return run
    run = run or Path(tempfile.mkdtemp(prefix="edgeyolo-headline-")) / "run"
    cmd = [sys.executable, "-m", "edgeyolo", "run", "--profile", "x86-cpu", "--out", str(run)]
    if data:
        cmd += ["--data", data]
    print(f"no edgeyolo run at {run}: making one ({' '.join(cmd[2:])})", flush=True)
    subprocess.run(cmd, check=True)
    return run


def _candidates(run: Path, every: bool) -> tuple[list[str], str, dict]:
    """Artifacts to measure (the selected one first) and a note on how it was chosen; its bench record."""
    from edgeyolo.bench.store import read_records
    from edgeyolo.select import select

    records = read_records(run / "results.jsonl")
    sel = select(records)
    chosen, note = sel.selected, "selected by edgeyolo"
    if chosen is None:  # nothing met the budget where the run was benchmarked: what select names instead
        chosen, note = sel.closest or sel.fastest, "select's closest: nothing met the budget"
        print(f"{run}: {sel.reason}")
    if chosen is None:
        sys.exit(f"{run}: no candidate measured ({sel.reason}); pass --candidate ARTIFACT")
    arts = [chosen.artifact] + (
        [c.artifact for c in sel.candidates if c.artifact != chosen.artifact] if every else []
    )
    record = next(r for r in records if r.get("candidate", {}).get("artifact") == chosen.artifact)
    return arts, note, record


def _train_default(edgeyolo_weights: Path, data: str, imgsz: int) -> Path:
    """yolo26n trained the way a user would without edgeyolo: `YOLO("yolo26n.yaml").train(data, epochs, imgsz)`
    with the epochs of edgeyolo's run and every other setting the library's default; kept next to the run."""
    import yaml

    run_dir = edgeyolo_weights.parent.parent
    settings = yaml.safe_load((run_dir / "edgeyolo_train.yaml").read_text())
    out = run_dir.parent.parent / "headline-default-train"
    best = out / "run" / "weights" / "best.pt"
    if best.is_file() and (out / "done").is_file():
        return best
    print(f"training the default path's model: yolo26n.yaml, {settings['epochs']} epochs at {imgsz} px, library defaults",
          flush=True)  # fmt: skip
    code = (
        "import sys\nfrom edgeyolo._backend.env import import_ultralytics\nimport_ultralytics()\n"
        "from ultralytics import YOLO\n"
        "YOLO('yolo26n.yaml').train(data=sys.argv[1], epochs=int(sys.argv[2]), imgsz=int(sys.argv[3]), "
        "device='cpu', project=sys.argv[4], name='run', exist_ok=True, plots=False)\n"
    )  # edgeyolo's import only keeps the library offline; the trainer and its settings are the library's
    subprocess.run(
        [sys.executable, "-c", code, str(data), str(settings["epochs"]), str(imgsz), str(out)], check=True
    )
    (out / "done").write_text("")
    return best


def _label(side: str, arts: dict) -> str:
    if side == "ultralytics":
        return "ultralytics"
    art = arts[side]
    h, w = art.shape
    return f"{art.format} {art.precision} {w}x{h}" if h != w else f"{art.format} {art.precision}"


def _cpu() -> str:
    name, flags = platform.processor() or "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not name.strip():
                name = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8") if f in flags]
    return f"{name or platform.machine()} ({os.cpu_count()} cores; {', '.join(isa) or 'no AVX2'})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--run", type=Path, default=None, help="an `edgeyolo run` output folder (default: make one)"
    )
    ap.add_argument("--data", default=None, help="data.yaml (default: the run's demo dataset)")
    ap.add_argument("--candidate", default=None, help="an artifact folder instead of the run's selection")
    ap.add_argument("--all", action="store_true", help="also measure every other candidate of the run")
    ap.add_argument(
        "--weights", default=None, help="weights for the default path (default: the run's best.pt)"
    )
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=200, help="timed calls per round and side")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="combine rounds by the median, or take each side's least disturbed round (shared machine)")  # fmt: skip
    ap.add_argument(
        "--val-images", type=int, default=32, help="val images cycled for latency and scored for mAP"
    )
    ap.add_argument("--train-default", action="store_true",
                    help="train the default path's model with the library's defaults (the run's epochs) first")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    ap.add_argument("--worker", help=argparse.SUPPRESS)  # "ultralytics" or an artifact folder
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--map", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(_worker(a)))
        return

    from edgeyolo.data.yolo import load_dataset, load_split
    from edgeyolo.runtime import load_artifact

    run = _ensure_run(a.run, a.data)
    record: dict = {}
    if a.candidate:
        artifacts, note = [str(Path(a.candidate).resolve())], "given with --candidate"
    else:
        artifacts, note, record = _candidates(run, a.all)
    arts = {p: load_artifact(p) for p in artifacts}
    art = arts[artifacts[0]]
    imgsz = art.imgsz
    data = a.data or (record.get("accuracy") or {}).get("dataset") or str(run / "data" / "data.yaml")
    weights = Path(a.weights or art.manifest["source_weights"]["path"])
    if a.train_default:
        weights = _train_default(Path(art.manifest["source_weights"]["path"]), data, imgsz)
    labeled = load_split(load_dataset(data), "val", limit=a.val_images)

    from edgeyolo._backend.env import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    sides = ["ultralytics", *artifacts]
    rounds: dict[str, list[dict]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="edgeyolo-headline-") as tmp:
        src = Path(tmp) / weights.name  # the library writes the .onnx next to the weights
        src.write_bytes(weights.read_bytes())
        onnx = YOLO(str(src), task="detect").export(format="onnx", imgsz=imgsz)  # the library's defaults
        spec = {"ultralytics": str(onnx), "imgsz": imgsz, "data": str(data),
                "images": [str(i.path) for i in labeled], "val_images": a.val_images}  # fmt: skip
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        for r in range(a.rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                cmd = [sys.executable, __file__, "--worker", side, "--spec", str(spec_file), "--threads",
                       str(a.threads), "--n", str(a.n), "--warmup", str(a.warmup)] + (["--map"] if r == 0 else [])  # fmt: skip
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode:
                    sys.exit(f"{side} failed:\n{p.stderr[-3000:]}")
                rounds[side].append(json.loads(p.stdout.strip().splitlines()[-1]))
                print(
                    f"round {r + 1} {_label(side, arts):<24} p50 {rounds[side][-1]['p50']:6.2f} ms",
                    flush=True,
                )

    def combine(side: str) -> dict:
        rs = rounds[side]
        if a.stat == "min":  # the round least disturbed by other work on the machine, whole
            quiet = min(rs, key=lambda x: x["p50"])
            return {"p50": quiet["p50"], "p90": quiet["p90"], "stages_p50": quiet["stages_p50"]}
        return {"p50": float(np.median([x["p50"] for x in rs])), "p90": float(np.median([x["p90"] for x in rs])),
                "stages_p50": {k: float(np.median([x["stages_p50"][k] for x in rs])) for k in STAGES}}  # fmt: skip

    res = {
        side: {
            **combine(side),
            "map50_95": rounds[side][0]["map50_95"],
            "map50": rounds[side][0]["map50"],
            "rounds_p50": [x["p50"] for x in rounds[side]],
            "rounds_p90": [x["p90"] for x in rounds[side]],
        }
        for side in sides
    }
    u = res["ultralytics"]
    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": _cpu(),
        "threads": a.threads,
        "imgsz": imgsz,
        "val_images": len(labeled),
        "rounds": a.rounds,
        "n": a.n,
        "stat": a.stat,
        "edgeyolo_candidate": f"{_label(artifacts[0], arts)} ({note})",
        "default_path": f"Ultralytics export(format='onnx') FP32 + YOLO(onnx).predict() ({weights})",
    }
    print()
    print(f"{meta['date']}, {meta['machine']}, {a.threads} threads, {imgsz} px, {len(labeled)} val images, "
          f"{a.rounds} alternating rounds x {a.n} calls ({a.stat} of rounds); edgeyolo's candidate: {meta['edgeyolo_candidate']}")  # fmt: skip
    print("| path | p50 ms | p90 ms | vs default p50 / p90 | mAP50-95 | mAP50 | preprocess | inference | postprocess | other |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for side in sides:
        x, st = res[side], res[side]["stages_p50"]
        label = "Ultralytics ONNX FP32 `predict` (default path)" if side == "ultralytics" else (
            f"edgeyolo {_label(side, arts)}" + (f" ({note})" if side == artifacts[0] else ""))  # fmt: skip
        print(f"| {label} | {x['p50']:.2f} | {x['p90']:.2f} | {x['p50'] / u['p50']:.2f}x / {x['p90'] / u['p90']:.2f}x | "
              f"{x['map50_95']:.4f} | {x['map50']:.4f} | {st['preprocess']:.2f} | {st['inference']:.2f} | "
              f"{st['postprocess']:.2f} | {st['other']:.2f} |")  # fmt: skip
    for side in sides:
        print(
            f"  rounds p50 {_label(side, arts):<14} {', '.join(f'{v:.2f}' for v in res[side]['rounds_p50'])} ms"
        )
    e = res[artifacts[0]]
    ratio50, ratio90 = e["p50"] / u["p50"], e["p90"] / u["p90"]
    print(f"\nedgeyolo / default path: p50 {ratio50:.2f}x, p90 {ratio90:.2f}x (goal <= 0.35x on 16:9 data, 0.6x on square); "
          f"mAP50-95 {e['map50_95'] - u['map50_95']:+.4f} (goal >= 0)")  # fmt: skip
    at_least = [x for x in artifacts if res[x]["map50_95"] >= u["map50_95"]]
    best = min(at_least, key=lambda x: res[x]["p90"], default=None)
    if best is not None and len(artifacts) > 1:
        b = res[best]
        print(f"fastest measured candidate at equal or better mAP50-95: {_label(best, arts)}: p50 "
              f"{b['p50'] / u['p50']:.2f}x, p90 {b['p90'] / u['p90']:.2f}x, mAP50-95 {b['map50_95'] - u['map50_95']:+.4f}")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps({**meta, **res, "ratio_p50": ratio50, "ratio_p90": ratio90}, indent=2))


if __name__ == "__main__":
    main()
