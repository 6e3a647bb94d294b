"""Thompson routing with labels 24 hours late against a label-only sampler seeing each label at once, known truth.

Each run serves ``days`` of traffic to two variants whose true accuracies are known (0.90 and 0.86 by default):
requests arrive as a Poisson process of ``rate`` per hour, each is routed by the floored Thompson
probabilities that ``routing: thompson`` uses (``shipyard.serving.thompson``), and the propensity of its
routing decision is kept. Each request has a true P(correct) ``s`` drawn from ``Beta(c a, c (1 - a))`` for its
variant's accuracy ``a`` (so E[correct | s] = s and P(correct) = a) and its reward is a Bernoulli draw of ``s``.
Three samplers, on the same seeds:

- at once (the goal's yardstick): label-only, every label the moment its request is answered;
- label-only, 24 h late: a label joins ``delay_h`` hours after its request (pending labels count for nothing);
- with scores, 24 h late: every prediction's *stated* P(correct) counts while its label is pending and is
  replaced by the label when it joins (``scored_counts``: prediction-powered inference's rectifier with a
  prior on the calibration error). Its scores are either calibrated (stated = ``s``) or miscalibrated: the
  worse variant states its error probability smaller by a fixed factor, so its mean stated accuracy is
  :data:`MISCALIBRATION` above the better variant's (a flipped ranking, as after a concept drift the
  calibration did not see). Either may also go through the confidence map serving learns from the version's
  labelled reference (``reference_rows`` predictions drawn like the live traffic), as live scores now do.

All recompute their routing probabilities every ``refresh`` requests (a server re-reads the store every second).

- Regret: the expected cumulative regret, ``sum_t sum_k p_t,k (best accuracy - accuracy_k)``, over the whole
  horizon, averaged over runs. Goal: the delayed sampler's mean regret within 10% of the immediate one's. Over
  the first ``delay_h`` hours a label-only delayed sampler has no label at all and splits traffic evenly, which
  costs ``rate * delay_h * gap / 2`` whatever the horizon; the scores are what can move it that day.
- Coverage: at the end of the horizon, each variant's 95% interval from the real labels that have arrived
  (self-normalized IPW, ``shipyard.monitoring.stats.bandit``; never from scores) is checked against its true
  accuracy. Goal: at least 93% of (run, variant) intervals cover.

    python -m benchmarks.bench_bandit [--runs 400] [--seed 7] [--doubt 0.02]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from shipyard.calibration import calibrated_confidence
from shipyard.monitoring.stats.bandit import ArmSums, horvitz_thompson, self_normalized_ipw
from shipyard.serving.thompson import DEFAULT_CALIBRATION_DOUBT, DEFAULT_FLOOR, routing_probabilities, scored_counts

ACCURACIES = (0.90, 0.86)
SCORE_CONCENTRATION = 10.0  # per-request P(correct) ~ Beta(10 a, 10 (1 - a)): sd 0.09 at a = 0.9


@dataclass(frozen=True)
class Outcome:
    """One sampler over many runs."""

    regret: np.ndarray  # (runs,) expected cumulative regret over the horizon
    coverage: dict[str, float]  # estimator -> share of (run, variant) 95% intervals that cover the truth
    labelled: float  # mean labels arrived by the end of the horizon per run
    best_share: float  # mean share of requests routed to the best variant


def simulate(*, runs: int, days: float, rate: float, delay_h: float, refresh: int, seed: int,
             accuracies: tuple[float, ...] = ACCURACIES, floor: float = DEFAULT_FLOOR, doubt: float = 0.0,
             stated: tuple[float, ...] | None = None, reference_rows: int = 0) -> Outcome:
    """``runs`` independent runs of one sampler, vectorized over runs (see the module docstring).

    ``doubt`` > 0 routes by every prediction's stated P(correct) and the labels arrived
    (:func:`~shipyard.serving.thompson.scored_counts`); ``stated`` is each variant's mean stated P(correct)
    (its accuracy when None: calibrated scores). ``reference_rows`` > 0 maps each stated score through the
    confidence map serving learns from a version's labelled reference (:mod:`shipyard.calibration`), here one
    reference of that many labelled predictions per run and variant, drawn like the live traffic.
    """
    rng = np.random.default_rng(seed)
    truth = np.asarray(accuracies)
    # a stated P(correct) q = 1 - shrink * (1 - s): the model states its error probability ``shrink`` times the
    # true one (shrink 1: calibrated), so the mean it states is exactly 1 - shrink * (1 - accuracy)
    shrink = (1 - np.asarray(stated if stated is not None else accuracies)) / (1 - truth)
    arms = len(truth)
    maps = _confidence_maps(runs, truth, shrink, reference_rows, seed) if reference_rows and doubt > 0 else None
    gaps = truth.max() - truth
    steps = int(days * 24 * rate)
    hours = np.cumsum(rng.exponential(1.0 / rate, (runs, steps)), axis=1)  # arrival time of each request
    # how many of the earliest requests have their label by the time request t arrives
    # (at most t: request t's own label comes after its routing, even with no delay)
    arrived = np.stack([np.searchsorted(hours[run] + delay_h, hours[run], side="right") for run in range(runs)])
    arrived = np.minimum(arrived, np.arange(steps))
    successes = np.zeros((runs, steps + 1, arms))  # cumulative rewards per variant before request t
    failures = np.zeros((runs, steps + 1, arms))
    expected = np.zeros((runs, steps + 1, arms)) if doubt > 0 else None  # cumulative stated P(correct)
    squares = np.zeros((runs, steps + 1, arms)) if doubt > 0 else None  # and of its squares
    chosen = np.zeros((runs, steps), dtype=np.int64)
    propensity = np.zeros((runs, steps))
    rewards = np.zeros((runs, steps))
    regret = np.zeros(runs)
    index = np.arange(runs)
    draws = rng.random((runs, steps))
    outcomes = rng.random((runs, steps))
    # each request's true P(correct) s from Beta(c a, c (1 - a)): E[correct | s] = s, P(correct) = a
    concentration = SCORE_CONCENTRATION
    probabilities = np.full((runs, arms), 1.0 / arms)
    for t in range(steps):
        if t % refresh == 0:
            known = arrived[:, t]
            good, bad = successes[index, known], failures[index, known]
            if expected is not None and squares is not None:
                good, bad = scored_counts(good, bad, successes[:, t] + failures[:, t], expected[:, t], squares[:, t],
                                          good + bad, expected[index, known], good, doubt)
            probabilities = routing_probabilities(good, bad, floor)
        arm = (draws[:, t, None] > np.cumsum(probabilities, axis=1)[:, :-1]).sum(axis=1)
        score = rng.beta(concentration * truth[arm], concentration * (1 - truth[arm]))
        reward = (outcomes[:, t] < score).astype(float)
        chosen[:, t], rewards[:, t] = arm, reward
        propensity[:, t] = probabilities[index, arm]
        regret += probabilities @ gaps
        successes[:, t + 1] = successes[:, t]
        failures[:, t + 1] = failures[:, t]
        successes[index, t + 1, arm] += reward
        failures[index, t + 1, arm] += 1 - reward
        if expected is not None and squares is not None:
            stated_score = 1 - shrink[arm] * (1 - score)
            if maps is not None:  # the version's map, as serving applies it (on a fine grid of stated scores)
                stated_score = maps[index, arm, np.rint(stated_score * (_MAP_GRID - 1)).astype(np.int64)]
            expected[:, t + 1], squares[:, t + 1] = expected[:, t], squares[:, t]
            expected[index, t + 1, arm] += stated_score
            squares[index, t + 1, arm] += stated_score * stated_score
    end = hours[:, -1]
    labelled_at_end = hours + delay_h <= end[:, None]
    return Outcome(regret, _coverage(chosen, rewards, propensity, labelled_at_end, truth),
                   float(labelled_at_end.sum(1).mean()), float((chosen == truth.argmax()).mean()))


_MAP_GRID = 4_001


def _confidence_maps(runs: int, truth: np.ndarray, shrink: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Per run and variant, the confidence map learnt from ``rows`` labelled predictions drawn like the live ones
    (true P(correct) s, stated q, label ~ Bernoulli(s)), tabulated on a grid of q: shape (runs, arms, grid)."""
    from shipyard.calibration import choose_calibration

    rng = np.random.default_rng(seed + 1_000_003)  # its own stream: the traffic's draws stay those of other rows
    grid = np.linspace(0.0, 1.0, _MAP_GRID)
    maps = np.empty((runs, len(truth), _MAP_GRID))
    for run in range(runs):
        for arm, accuracy in enumerate(truth):
            true_p = rng.beta(SCORE_CONCENTRATION * accuracy, SCORE_CONCENTRATION * (1 - accuracy), rows)
            stated = 1 - shrink[arm] * (1 - true_p)
            right = rng.random(rows) < true_p
            # the rule of confidence_calibration on (stated P(correct), was it right) pairs, seeded as serving seeds it
            found = choose_calibration(np.column_stack([1 - stated, stated]), right.astype(np.int64),
                                       np.random.default_rng(0))
            maps[run, arm] = np.asarray(calibrated_confidence(found, grid.tolist()))
    return maps


def _coverage(chosen: np.ndarray, rewards: np.ndarray, propensity: np.ndarray, labelled: np.ndarray,
              truth: np.ndarray) -> dict[str, float]:
    covered = {"snipw": 0, "ipw": 0}
    total = 0
    for run in range(chosen.shape[0]):
        mask = labelled[run]
        count = int(mask.sum())
        for arm, accuracy in enumerate(truth):
            picked = mask & (chosen[run] == arm)
            w, r = 1.0 / propensity[run, picked], rewards[run, picked]
            sums = ArmSums(int(picked.sum()), float(r.sum()), float(w.sum()), float((w * r).sum()),
                           float((w * w).sum()), float((w * w * r).sum()), float((w * w * r * r).sum()))
            for name, estimate in (("snipw", self_normalized_ipw(sums)), ("ipw", horvitz_thompson(sums, count))):
                if estimate.low is not None and estimate.high is not None:
                    covered[name] += estimate.low <= accuracy <= estimate.high
            total += 1
    return {name: hits / total for name, hits in covered.items()}


@dataclass(frozen=True)
class Comparison:
    delayed: Outcome
    immediate: Outcome

    @property
    def regret_ratio(self) -> float:
        return float(self.delayed.regret.mean() / self.immediate.regret.mean())


def compare(*, runs: int, days: float, rate: float, delay_h: float = 24.0, refresh: int = 1, seed: int = 7,
            accuracies: tuple[float, ...] = ACCURACIES, floor: float = DEFAULT_FLOOR, doubt: float = 0.0,
            stated: tuple[float, ...] | None = None) -> Comparison:
    """The delayed sampler (label-only, or with scores when ``doubt`` > 0) and the immediate label-only one on
    the same seeds."""
    common = {"runs": runs, "days": days, "rate": rate, "refresh": refresh, "seed": seed, "accuracies": accuracies,
              "floor": floor}
    return Comparison(simulate(delay_h=delay_h, doubt=doubt, stated=stated, **common),
                      simulate(delay_h=0.0, **common))


# (accuracies, days, requests per hour, refresh every n requests): the first two keep the traffic of one delay
# (48 and 120 requests) small next to the labels needed to tell the variants apart (~450 for 0.90 vs 0.88); the
# last two send 480 requests per delay, which costs a label-only delayed sampler a day of even split.
SETTINGS = [((0.90, 0.88), 28.0, 2.0, 1), ((0.90, 0.88), 14.0, 5.0, 1), ((0.90, 0.86), 14.0, 20.0, 2),
            ((0.90, 0.86), 56.0, 20.0, 8)]
MISCALIBRATION = 0.02  # the worse variant states an accuracy this far ABOVE the better one's: the ranking flips
REFERENCE_ROWS = 1_400  # the labelled reference a version's confidence map is learnt from (the Telco holdout's size)


def _percent(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def main() -> None:
    from ._results import machine, write_section

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--doubt", type=float, default=DEFAULT_CALIBRATION_DOUBT)
    parser.add_argument("--reference-rows", type=int, default=REFERENCE_ROWS)
    args = parser.parse_args()
    lines, bullets, coverages, label_only_coverages = [], [], [], []
    for accuracies, days, rate, refresh in SETTINGS:
        started = time.perf_counter()
        common = {"runs": args.runs, "days": days, "rate": rate, "refresh": refresh, "seed": args.seed,
                  "accuracies": accuracies}
        immediate = simulate(delay_h=0.0, **common)
        label_only = simulate(delay_h=24.0, **common)
        flipped = (accuracies[0], accuracies[0] + MISCALIBRATION)
        mapped = f"mapped on a {args.reference_rows:,}-row reference"
        scenarios = [("calibrated", simulate(delay_h=24.0, doubt=args.doubt, **common)),
                     (f"worse variant states {flipped[1]:g} (truth {accuracies[1]:g})",
                      simulate(delay_h=24.0, doubt=args.doubt, stated=flipped, **common)),
                     (f"calibrated, {mapped}",
                      simulate(delay_h=24.0, doubt=args.doubt, reference_rows=args.reference_rows, **common)),
                     (f"worse variant states {flipped[1]:g}, {mapped}",
                      simulate(delay_h=24.0, doubt=args.doubt, stated=flipped, reference_rows=args.reference_rows,
                               **common))]
        took = time.perf_counter() - started
        base = immediate.regret.mean()
        requests = int(days * 24 * rate)
        horizon = f"{days:g} d x {rate:g}/h = {requests:,} ({int(24 * rate)} per delay)"
        for name, outcome in scenarios:
            ratio = outcome.regret.mean() / base
            print(f"{accuracies} {horizon}, {name}: label-only {_percent(label_only.regret.mean() / base)}, "
                  f"with scores {_percent(ratio)}; coverage {outcome.coverage['snipw']:.3f} "
                  f"(label-only {label_only.coverage['snipw']:.3f}) ({took:.0f} s)", flush=True)
            coverages.append(outcome.coverage["snipw"])
            label_only_coverages.append(label_only.coverage["snipw"])
            lines.append(f"| {accuracies[0]:g} vs {accuracies[1]:g} | {horizon} | {name} | {base:.1f} | "
                         f"{_percent(label_only.regret.mean() / base)} | {_percent(ratio)} | "
                         f"{outcome.coverage['snipw'] * 100:.1f}% | {label_only.coverage['snipw'] * 100:.1f}% | "
                         f"{outcome.best_share * 100:.1f}% | {label_only.best_share * 100:.1f}% |")
            if name == "calibrated":
                bullets.append(f"- Regret with labels 24 h late vs a label-only sampler seeing them at once, "
                               f"{accuracies[0]:g} vs {accuracies[1]:g}, {requests:,} requests, calibrated scores: "
                               f"{_percent(ratio)} (target <= +10%: {'pass' if ratio <= 1.10 else 'FAIL'}; "
                               f"label-only {_percent(label_only.regret.mean() / base)})")
    section = (
        "## Bandit routing on delayed feedback\n\n"
        f"Thompson routing (propensity floor {DEFAULT_FLOOR:g}) of two variants with labels 24 h late, against a "
        f"label-only sampler seeing every label at once, {args.runs} seeded runs per row "
        "(`python -m benchmarks.bench_bandit`). Each request's true P(correct) is drawn from "
        f"Beta({SCORE_CONCENTRATION:g} a, {SCORE_CONCENTRATION:g} (1 - a)) and its reward from it, so a variant's "
        "accuracy is a. *Label-only*: Beta posteriors of the labels arrived (today's sampler). *With scores*: "
        "every prediction's stated P(correct) with the labels arrived, PPI's rectifier with a prior on the "
        f"calibration error (doubt {args.doubt:g}, `serving/thompson.py` `scored_counts`). Scenarios: *calibrated* "
        "(stated = true P(correct)); *miscalibrated*: the worse variant states its error probability smaller so its "
        f"stated accuracy is {MISCALIBRATION:g} above the better variant's (a flipped ranking, e.g. calibration "
        "learnt before a concept drift); *mapped*: the same scores through the confidence map serving now learns "
        f"from each version's labelled reference (`shipyard.calibration`), here {args.reference_rows:,} labelled "
        "predictions per run and variant drawn like the live traffic (what the gate's holdout is when the traffic "
        "has not drifted). Regret: expected cumulative regret over the horizon, mean over runs. "
        "Coverage: (run, variant) 95% SNIPW intervals from the real labels arrived by the end (never from scores) "
        f"that hold the true accuracy. Goals: regret within 10% of the immediate sampler's; coverage >= 93%. "
        "Ratios of mean regret over a few hundred runs carry sampling noise of several points: the label-only "
        "rows moved by up to 10 points between two sessions that drew rewards differently. "
        f"{machine()}.\n\n"
        "| accuracies | horizon | scores | regret at once | label-only, 24 h late | with scores, 24 h late "
        "| coverage (with scores) | coverage (label-only) | share to the better (with scores) "
        "| share to the better (label-only) |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n" + "\n".join(bullets) + "\n"
        f"- Coverage of the 95% intervals (SNIPW from the real labels, 24 h late, routed with scores), lowest row: "
        f"{min(coverages) * 100:.1f}% (target >= 93%: {'pass' if min(coverages) >= 0.93 else 'FAIL'}; routed by "
        f"labels only: lowest {min(label_only_coverages) * 100:.1f}%)\n")
    write_section("Bandit routing on delayed feedback", section)


if __name__ == "__main__":
    main()
