"""Selection stability: the demo bench repeated K times with ``--rounds 1`` and with ``--rounds 3``, side by side.

Each repeat benchmarks the same candidates (the demo's four: ONNX/OpenVINO x FP32/INT8) into a fresh results
file exactly as ``edgeyolo bench`` does (fresh processes, accuracy with intervals) and selects from it. The
two modes alternate (R1 R3, R3 R1, ...) so the machine's drift hits both alike. Printed per mode:

- how often the same candidate is selected (the most frequent one's share of the K repeats);
- how well the latency ranking agrees between repeats: mean pairwise Kendall tau of the candidates' p90;
- for the pairs of candidates whose median p90 differ by more than 10%: in how many repeats their order flips;
- the goal: with rounds, every repeat selects the same candidate unless the candidates it wavers between have
  p90 within 10% of each other (a latency the data cannot separate, which the report says in words).

Needs the demo (``make demo`` writes demo/artifacts and demo/data) or --artifacts/--data.

    .venv/bin/python benchmarks/selection_stability.py [--demo demo] [--repeats 5] [--profile x86-cpu]
        [--iterations N] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def kendall_tau(a: dict[str, float], b: dict[str, float]) -> float:
    """Kendall's tau-a between two latency maps over the same candidates (1 = same order)."""
    names = sorted(a)
    pairs = list(itertools.combinations(names, 2))
    score = 0
    for x, y in pairs:
        da, db = a[x] - a[y], b[x] - b[y]
        score += 1 if da * db > 0 else -1 if da * db < 0 else 0
    return score / len(pairs) if pairs else 1.0


def run_once(artifacts: list[Path], data: Path, profile, rounds: int, iterations: int | None, threads: int | None,
             work: Path) -> dict:  # fmt: skip
    from edgeyolo.bench import BenchConfig, benchmark
    from edgeyolo.select import candidate_name, select

    out = work / f"r{rounds}-{time.monotonic_ns()}.jsonl"
    t0 = time.monotonic()
    res = benchmark(BenchConfig(profile=profile, artifacts=tuple(artifacts), out=out, data=data, rounds=rounds,
                                iterations=iterations, threads=threads))  # fmt: skip
    from edgeyolo.bench.store import read_records

    records = read_records(out)
    bad = [r.get("message") for r in res.records if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"benchmark failed: {bad[0]}")
    sel = select(records)
    # Without a budget the choice is all accuracy ties and latency: the harder test of stability.
    free = select(records, budget_ms=1e9)
    return {
        "rounds": rounds,
        "seconds": round(time.monotonic() - t0, 1),
        "selected": sel.selected.name if sel.selected else None,
        "reason": sel.reason,
        "selected_no_budget": free.selected.name if free.selected else None,
        "reason_no_budget": free.reason,
        "p90": {candidate_name(r): r["latency_ms"]["end_to_end"]["p90"] for r in records},
        # not what select uses (the pooled p90 above); shown for comparison: robust to one disturbed round
        "p90_round_median": {
            candidate_name(r): statistics.median(x["end_to_end"]["p90"] for x in r.get("rounds") or [])
            for r in records
            if r.get("rounds")
        },
        "p90_ci": {
            candidate_name(r): ((r.get("latency_ci_ms") or {}).get("end_to_end") or {}).get("p90")
            for r in records
        },  # fmt: skip
        "round_spread": {candidate_name(r): (r.get("stability") or {}).get("round_spread") for r in records},
        "noisy": {candidate_name(r): (r.get("stability") or {}).get("noisy") for r in records},
        "map50_95": {candidate_name(r): (r.get("accuracy") or {}).get("map50_95") for r in records},
    }


def summarize_mode(runs: list[dict]) -> dict:
    names = sorted(runs[0]["p90"])
    picks = Counter(r["selected"] for r in runs)
    free_picks = Counter(r["selected_no_budget"] for r in runs)
    taus = [kendall_tau(a["p90"], b["p90"]) for a, b in itertools.combinations(runs, 2)]
    taus_med = [
        kendall_tau(a["p90_round_median"], b["p90_round_median"]) for a, b in itertools.combinations(runs, 2)
    ]
    med = {n: statistics.median(r["p90"][n] for r in runs) for n in names}
    separated = [(x, y) for x, y in itertools.combinations(names, 2)
                 if abs(med[x] - med[y]) / min(med[x], med[y]) > 0.10]  # fmt: skip
    flips = {f"{x} vs {y}": sum(1 for r in runs if (r["p90"][x] - r["p90"][y]) * (med[x] - med[y]) < 0)
             for x, y in separated}  # fmt: skip
    # goal: two repeats that select differently must have picked candidates within 10% p90 of each other
    violations = []
    for key in ("selected", "selected_no_budget"):
        for a, b in itertools.combinations(runs, 2):
            sa, sb = a[key], b[key]
            if sa != sb and sa and sb:
                gap = max(abs(r["p90"][sa] - r["p90"][sb]) / min(r["p90"][sa], r["p90"][sb]) for r in (a, b))
                if gap > 0.10:
                    violations.append(f"{key}: {sa} vs {sb}: p90 {gap:.0%} apart")
    return {
        "repeats": len(runs),
        "selections": [r["selected"] for r in runs],
        "same_selection": f"{picks.most_common(1)[0][1]}/{len(runs)}",
        "selections_no_budget": [r["selected_no_budget"] for r in runs],
        "same_selection_no_budget": f"{free_picks.most_common(1)[0][1]}/{len(runs)}",
        "kendall_tau_mean": round(statistics.mean(taus), 3) if taus else None,
        "kendall_tau_min": round(min(taus), 3) if taus else None,
        "kendall_tau_mean_round_median_p90": round(statistics.mean(taus_med), 3) if taus_med else None,
        "p90_median_ms": {n: round(v, 2) for n, v in med.items()},
        "p90_range_ms": {
            n: [round(min(r["p90"][n] for r in runs), 2), round(max(r["p90"][n] for r in runs), 2)]
            for n in names
        },  # fmt: skip
        "pairs_over_10pct": len(separated),
        "order_flips_of_those_pairs": flips,
        "goal_violations": violations,
        "noisy_records": sum(v for r in runs for v in r["noisy"].values() if v),
        "seconds_per_repeat": round(statistics.mean(r["seconds"] for r in runs), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", type=Path, default=Path("demo"), help="folder written by 'make demo'")
    ap.add_argument("--artifacts", type=Path, nargs="*", help="default: the demo's artifacts/*")
    ap.add_argument("--data", type=Path, help="default: the demo's data/data.yaml")
    ap.add_argument("--profile", default="x86-cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=None, help="default: the profile's")
    ap.add_argument("--threads", type=int, default=None, help="default: the profile's")
    ap.add_argument("--json", type=Path, help="write every repeat and the summary here")
    args = ap.parse_args(argv)

    from edgeyolo.profiles import load_profile

    artifacts = args.artifacts or sorted(
        p for p in (args.demo / "artifacts").iterdir() if (p / "manifest.json").is_file()
    )
    data = args.data or args.demo / "data" / "data.yaml"
    if not artifacts or not data.is_file():
        print(
            f"no artifacts or no {data}: run 'make demo' first or pass --artifacts and --data",
            file=sys.stderr,
        )
        return 2
    profile = load_profile(args.profile)
    print(f"{len(artifacts)} candidates ({', '.join(a.name for a in artifacts)}), {args.repeats} repeats per mode, "
          f"modes alternating; profile {profile.name}, iterations {args.iterations or profile.bench.iterations}",
          flush=True)  # fmt: skip
    runs: dict[int, list[dict]] = {1: [], 3: []}
    with tempfile.TemporaryDirectory(prefix="edgeyolo-stability-") as tmp:
        for k in range(args.repeats):
            for rounds in (1, 3) if k % 2 == 0 else (3, 1):
                r = run_once(artifacts, data, profile, rounds, args.iterations, args.threads, Path(tmp))
                runs[rounds].append(r)
                p90 = ", ".join(f"{n.split('-', 2)[-1]} {v:.2f}" for n, v in sorted(r["p90"].items()))
                print(f"repeat {k + 1} --rounds {rounds}: selected {r['selected']} (no budget: "
                      f"{r['selected_no_budget']}); p90 ms {p90} ({r['seconds']} s)", flush=True)  # fmt: skip
    summary = {f"rounds_{m}": summarize_mode(v) for m, v in runs.items()}
    print()
    keys = ["same_selection", "same_selection_no_budget", "kendall_tau_mean", "kendall_tau_min",
            "kendall_tau_mean_round_median_p90", "pairs_over_10pct", "goal_violations", "noisy_records",
            "seconds_per_repeat", "selections", "selections_no_budget", "order_flips_of_those_pairs"]  # fmt: skip
    print(f"{'':<36}{'--rounds 1':<24}{'--rounds 3'}")
    for key in keys:
        one, three = json.dumps(summary["rounds_1"][key]), json.dumps(summary["rounds_3"][key])
        if len(one) < 24 and len(three) < 40:
            print(f"{key:<36}{one:<24}{three}")
        else:
            print(f"{key}:\n    --rounds 1: {one}\n    --rounds 3: {three}")
    for m in (1, 3):
        print(f"p90 median [range] ms, --rounds {m}: " + ", ".join(
            f"{n}: {summary[f'rounds_{m}']['p90_median_ms'][n]} {summary[f'rounds_{m}']['p90_range_ms'][n]}"
            for n in summary[f"rounds_{m}"]["p90_median_ms"]))  # fmt: skip
    goal = not summary["rounds_3"]["goal_violations"]
    print(f"goal (with rounds, the same selection wherever the candidates' p90 differ by > 10%): "
          f"{'met' if goal else 'NOT met'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
