"""Camera-shaped inputs against square ones: the same weights, each target of a profile, measured side by side.

For each target (format x precision) of the profile, the weights are exported at the square size and at the
camera shape of the val images' aspect (16:9 at 320 -> 320x192), then every artifact is benchmarked by
`edgeyolo bench`'s own machinery (each candidate in a fresh process, interleaved rounds, end-to-end latency,
mAP50-95 with the COCO protocol and per-image bootstrap). Printed per target: the camera shape's end-to-end p50
against its square twin's, and their paired mAP50-95 difference with its 95% interval (the selection rule's
paired bootstrap over the val images).

Goal (issue 22): at most 0.65x the square twin's p50, with the difference interval containing 0, for every
format.

    .venv/bin/python benchmarks/camera_shape.py                      # the `make demo` run (demo/): 16:9 data
    .venv/bin/python benchmarks/camera_shape.py --weights best.pt --data wide.yaml --size 320 --threads 1

With no `demo/` run and no --weights: `edgeyolo data synth --aspect 16:9` and `edgeyolo train` (15 epochs at
--size) make them first (tens of minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

from _machine import cpu


def _ensure_weights(a: argparse.Namespace) -> tuple[Path, Path]:
    if a.weights:
        if not a.data:
            sys.exit("--weights needs --data (the 16:9 dataset whose val images are measured)")
        return Path(a.weights), Path(a.data)
    run = Path("demo")
    best, data = run / "train" / f"yolo26n-{a.size}" / "weights" / "best.pt", run / "data" / "data.yaml"
    if best.is_file() and data.is_file():
        return best, Path(a.data or data)
    work = Path(a.out)
    data = work / "data" / "data.yaml"
    edgeyolo = [sys.executable, "-m", "edgeyolo"]
    if not data.is_file():
        subprocess.run([*edgeyolo, "data", "synth", str(data.parent), "--aspect", "16:9", "--imgsz", str(a.size)],
                       check=True)  # fmt: skip
    best = work / "train" / f"yolo26n-{a.size}" / "weights" / "best.pt"
    if not best.is_file():
        subprocess.run([*edgeyolo, "train", "--profile", a.profile, "--data", str(data), "--epochs", "15",
                        "--imgsz", str(a.size), "--out", str(work / "train")], check=True)  # fmt: skip
    return best, data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="trained .pt (default: the demo run's, or train one)")
    ap.add_argument("--data", default=None, help="data.yaml with camera-shaped (e.g. 16:9) val images")
    ap.add_argument("--profile", default="x86-cpu", help="its targets are measured (default x86-cpu)")
    ap.add_argument("--size", type=int, default=320, help="the long side (default 320)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=150, help="timed calls per candidate, over all rounds")
    ap.add_argument("--out", default="camera-shape-bench", help="work folder (artifacts, results.jsonl)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    a = ap.parse_args()

    from edgeyolo.bench import BenchConfig, benchmark, read_records
    from edgeyolo.data import val_aspect
    from edgeyolo.export import ExportConfig, export
    from edgeyolo.profiles import load_profile
    from edgeyolo.select import select, shape_comparisons
    from edgeyolo.shapes import Shape, camera_shape

    weights, data = _ensure_weights(a)
    aspect, share, n = val_aspect(data)
    if aspect is None or aspect.w == aspect.h:
        sys.exit(
            f"{data}: the val images share no non-square aspect (largest share {share:.0%}); use a 16:9 set"
        )
    profile = load_profile(a.profile)
    square, cam = Shape.square(a.size), camera_shape(a.size, aspect)
    print(f"{data}: val images {aspect.label} ({share:.0%} of {n}); square {square.label} vs camera {cam.label}",
          flush=True)  # fmt: skip
    out = Path(a.out)
    ex = export(
        ExportConfig(profile=profile, weights=weights, out=out / "artifacts", imgsz=(square, cam), data=data)
    )
    for item in ex.items:
        print(
            f"export {item.target.key} {item.imgsz.label}: {item.status} {item.reason}".rstrip(), flush=True
        )
    results = out / "results.jsonl"
    results.unlink(missing_ok=True)  # one run, interleaved: never mix with an earlier machine state
    benchmark(BenchConfig(profile=profile, artifacts=tuple(ex.artifacts), out=results, data=data, threads=a.threads,
                          iterations=a.iterations, rounds=a.rounds, warmup=20),
              log=lambda m: print(f"[bench] {m}", flush=True))  # fmt: skip
    sel = select(read_records(results), metric="p50")
    rows = []
    for c in shape_comparisons(sel):
        lo, hi = c.map_diff_ci or (None, None)
        ok = c.latency_ratio is not None and c.latency_ratio <= 0.65 and lo is not None and lo <= 0 <= hi
        rows.append({"target": f"{c.camera.format}-{c.camera.precision}", "square": c.square.name, "camera": c.camera.name,
                     "square_p50_ms": c.square.latency_ms, "camera_p50_ms": c.camera.latency_ms,
                     "ratio_p50": c.latency_ratio, "square_map50_95": c.square.map50_95,
                     "camera_map50_95": c.camera.map50_95, "map_diff": c.map_diff, "map_diff_ci": c.map_diff_ci,
                     "goal_met": ok})  # fmt: skip
    meta = {"date": datetime.date.today().isoformat(), "machine": cpu(), "threads": a.threads, "rounds": a.rounds,
            "iterations": a.iterations, "weights": str(weights), "data": str(data), "val_images": n,
            "aspect": aspect.label, "square": square.label, "camera": cam.label}  # fmt: skip
    print(f"\n{meta['date']}, {meta['machine']}, {a.threads} thread(s), {n} val images ({aspect.label}), "
          f"{a.rounds} interleaved rounds, {a.iterations} timed calls each")  # fmt: skip
    print("| target | square p50 ms | camera p50 ms | camera / square | mAP50-95 square | mAP50-95 camera | "
          "difference [95% paired CI] | goal |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ci = (
            "n/a" if r["map_diff_ci"] is None else f"[{r['map_diff_ci'][0]:+.3f}, {r['map_diff_ci'][1]:+.3f}]"
        )
        print(f"| {r['target']} | {r['square_p50_ms']:.2f} | {r['camera_p50_ms']:.2f} | {r['ratio_p50']:.2f}x | "
              f"{r['square_map50_95']:.4f} | {r['camera_map50_95']:.4f} | {r['map_diff']:+.4f} {ci} | "
              f"{'met' if r['goal_met'] else 'NOT met'} |")  # fmt: skip
    print(f"\ngoal (<= 0.65x the square twin's p50, difference interval containing 0): "
          f"{sum(r['goal_met'] for r in rows)}/{len(rows)} targets")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps({**meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
