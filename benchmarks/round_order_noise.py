"""False "faster" calls between candidates with no real latency difference: the rule before issue 23 against the
rule after it, on simulated interleaved rounds.

Each trial measures ``--candidates`` candidates of the same true p90 for ``--rounds`` passes. A round's p90 is the
true value plus a pass-level offset shared by every candidate of the pass (the machine's state then; pairing by
pass removes it), independent round noise (sigma, 1% of the p90 by default), and warming within the pass: each
position later in the pass adds ``--drift`` sigmas (the cool-down between passes resets it).

- before: every pass in the order given (A B C, A B C, ...); "faster" when the per-pass paired differences all
  agree in sign (select.paired.latency_separation before issue 23);
- after: the order reversed every other pass (:func:`edgeyolo.bench.rounds.pass_order`), and "faster" when the 95%
  t-interval of the mean per-pass paired difference excludes 0 (:func:`edgeyolo.select.paired.latency_separation`,
  called on records shaped as bench writes them).

Printed: for each number of rounds and drift, the share of candidate pairs called "faster" or "slower" (either
way; a given candidate's false "faster" is half of it); and, to show what the order does, the new rule on passes
that all ran in the order given (records from before issue 23, which select flags with a note).

    .venv/bin/python benchmarks/round_order_noise.py [--trials 20000] [--candidates 2] [--sigma 0.01]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeyolo.bench.rounds import pass_order  # noqa: E402
from edgeyolo.select.paired import latency_separation  # noqa: E402
from edgeyolo.select.types import Candidate  # noqa: E402

P90 = 20.0  # ms, every candidate's true p90


def positions(n: int, rounds: int, counterbalanced: bool) -> np.ndarray:
    """[rounds, n] the 0-based position of each candidate in each pass."""
    out = np.zeros((rounds, n), int)
    for r in range(rounds):
        order = list(range(n))
        if counterbalanced and pass_order(r) == "reversed":
            order.reverse()
        for pos, c in enumerate(order):
            out[r, c] = pos
    return out


def simulate(rng: np.random.Generator, trials: int, n: int, rounds: int, sigma: float, drift: float,
             counterbalanced: bool) -> np.ndarray:  # fmt: skip
    """[trials, rounds, n] each round's p90 (ms)."""
    pos = positions(n, rounds, counterbalanced)
    s = sigma * P90
    shared = rng.normal(0, 5 * s, (trials, rounds, 1))  # the pass's machine state, common to its candidates
    return P90 + shared + drift * s * pos[None] + rng.normal(0, s, (trials, rounds, n))


def old_rule(da: np.ndarray) -> bool:
    """Before: 'faster'/'slower' when every per-pass difference has the same sign."""
    return bool(np.all(da < 0) or np.all(da > 0))


def _record(p90s: np.ndarray, order: bool) -> dict:
    return {"rounds": [{"round": r + 1, "pass": f"p{r}", "end_to_end": {"p90": float(v)},
                        **({"order": pass_order(r)} if order else {})} for r, v in enumerate(p90s)]}  # fmt: skip


def new_rule(pa: np.ndarray, pb: np.ndarray) -> bool:
    """After: the select's own latency_separation on the two records."""
    c = Candidate(name="x", model="m", imgsz=320, format="onnx", precision="fp32", latency_ms=P90, map50_95=None,
                  map50=None, size_bytes=0, artifact="x")  # fmt: skip
    return latency_separation(c, c, _record(pa, True), _record(pb, True), "p90") in ("faster", "slower")


def false_rates(trials: int, n: int, rounds: int, sigma: float, drift: float, seed: int = 0
                ) -> tuple[float, float, float]:  # fmt: skip
    """(before, after, the new rule on one order): the share of candidate pairs called faster or slower with no
    real difference."""
    rng = np.random.default_rng(seed)
    before = simulate(rng, trials, n, rounds, sigma, drift, counterbalanced=False)
    after = simulate(rng, trials, n, rounds, sigma, drift, counterbalanced=True)
    pairs = list(itertools.combinations(range(n), 2))
    old = sum(old_rule(before[t, :, i] - before[t, :, j]) for t in range(trials) for i, j in pairs)
    new = sum(new_rule(after[t, :, i], after[t, :, j]) for t in range(trials) for i, j in pairs)
    one = sum(new_rule(before[t, :, i], before[t, :, j]) for t in range(trials) for i, j in pairs)
    total = trials * len(pairs)
    return old / total, new / total, one / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20000)
    ap.add_argument("--candidates", type=int, default=2)
    ap.add_argument("--sigma", type=float, default=0.01, help="round noise, a share of the p90")
    args = ap.parse_args()
    print(f"{args.trials} trials, {args.candidates} candidates of the same p90, round noise {args.sigma:.0%}")
    print(f"{'rounds':>6} {'drift':>12} {'before':>8} {'after':>8} {'new rule, one order':>20}")
    for rounds in (2, 3, 5):
        for drift in (0.0, 1.0, 5.0):
            old, new, one = false_rates(args.trials, args.candidates, rounds, args.sigma, drift)
            print(f"{rounds:>6} {f'{drift:g} sigma/pos':>12} {old:>8.1%} {new:>8.1%} {one:>20.1%}")


if __name__ == "__main__":
    main()
