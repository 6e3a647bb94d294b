"""Canary rollouts judged with known truth: how often a worse candidate is rolled back, and how fast; how often
an equivalent one is rolled back by mistake, however often the judge looks.

Each run simulates a canary at 5% of randomized traffic with every request labelled: the primary's 0/1 loss is
Bernoulli(0.10) (accuracy 0.90), the candidate's Bernoulli(0.12) (0.88) or, in A/A runs, Bernoulli(0.10).
Both arms also fail 0.5% of requests and the candidate disagrees with the primary on 5% of shadow pairs, so
the error and disagreement guardrails are judged too. The judge (shipyard.monitoring.rollout_judge, the one
the server's rollouts use) looks every ``look_every`` labelled canary requests. Counts per look are drawn
from the binomial distribution, which is exactly what per-request Bernoulli draws sum to.

Goals (issue 21): the worse candidate rolled back within 6,000 labelled canary requests in at least 90% of
runs; A/A false rollbacks at most 1%, at any number of looks.

    python -m benchmarks.bench_rollout [--runs 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from shipyard.monitoring.rollout_judge import ROLLBACK, ArmEvidence, Evidence, JudgePolicy, judge
from shipyard.monitoring.stats.sequential import ArmMoments

CANARY_SHARE = 0.05
PRIMARY_ACCURACY = 0.90
ERROR_RATE = 0.005
DISAGREEMENT = 0.05


@dataclass(frozen=True)
class Outcome:
    rolled_back: bool
    labels: int  # labelled canary requests when the run stopped (at the rollback, or at the horizon)


def simulate(candidate_accuracy: float, *, horizon: int, look_every: int, rng: np.random.Generator,
             policy: JudgePolicy | None = None) -> Outcome:
    """One canary held at 5% until it is rolled back or has ``horizon`` labelled canary requests."""
    policy = policy or JudgePolicy()
    looks = horizon // look_every
    per_look_primary = round(look_every * (1 - CANARY_SHARE) / CANARY_SHARE)
    candidate_wrong = rng.binomial(look_every, 1 - candidate_accuracy, looks).cumsum()
    primary_wrong = rng.binomial(per_look_primary, 1 - PRIMARY_ACCURACY, looks).cumsum()
    candidate_errors = rng.binomial(look_every, ERROR_RATE, looks).cumsum()
    primary_errors = rng.binomial(per_look_primary, ERROR_RATE, looks).cumsum()
    disagreements = rng.binomial(per_look_primary, DISAGREEMENT, looks).cumsum()
    for look in range(looks):
        n_candidate, n_primary = (look + 1) * look_every, (look + 1) * per_look_primary
        wrong_c, wrong_p = float(candidate_wrong[look]), float(primary_wrong[look])
        evidence = Evidence(
            candidate=ArmEvidence(n_candidate, int(candidate_errors[look]), losses=ArmMoments(n_candidate, wrong_c,
                                                                                              wrong_c)),
            primary=ArmEvidence(n_primary, int(primary_errors[look]), losses=ArmMoments(n_primary, wrong_p, wrong_p)),
            step_requests=0, look=look + 1, shadow_pairs=n_primary, disagreements=int(disagreements[look]))
        if judge(evidence, policy).action == ROLLBACK:
            return Outcome(True, n_candidate)
    return Outcome(False, looks * look_every)


def rollback_rate(candidate_accuracy: float, runs: int, *, horizon: int, look_every: int,
                  seed: int) -> tuple[float, list[int]]:
    """The share of runs rolled back, and the labelled canary requests each rollback took."""
    rng = np.random.default_rng(seed)
    outcomes = [simulate(candidate_accuracy, horizon=horizon, look_every=look_every, rng=rng) for _ in range(runs)]
    return sum(item.rolled_back for item in outcomes) / runs, [item.labels for item in outcomes if item.rolled_back]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    worse, labels = rollback_rate(0.88, args.runs, horizon=6000, look_every=100, seed=args.seed)
    rows = [("0.88 vs 0.90, looks every 100 labels, within 6,000", worse, ">= 90%", worse >= 0.90)]
    median = float(np.median(labels)) if labels else float("nan")
    p90 = float(np.percentile(labels, 90)) if labels else float("nan")
    for look_every, horizon in ((10, 6000), (100, 20000), (1000, 50000)):
        false, _ = rollback_rate(0.90, args.runs, horizon=horizon, look_every=look_every, seed=args.seed + look_every)
        rows.append((f"A/A, looks every {look_every} labels up to {horizon:,}", false, "<= 1%", false <= 0.01))
    seconds = time.perf_counter() - started
    lines = ["## Canary rollouts (simulation with known truth)", "",
             f"{args.runs} runs per row, canary at 5% of traffic, every request labelled; {seconds:.0f} s.", "",
             "| case | rollbacks | target | result |", "|---|---|---|---|"]
    lines += [f"| {case} | {rate:.1%} | {target} | {'pass' if ok else 'FAIL'} |" for case, rate, target, ok in rows]
    lines += ["", f"- Labelled canary requests to a rollback of the worse candidate: median {median:.0f}, "
              f"90th percentile {p90:.0f}."]
    from benchmarks._results import machine, write_section

    lines.append(f"- Machine: {machine()}.")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("Canary rollouts (simulation with known truth)", text)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
