"""Thompson routing with labels 24 hours late, against the same sampler seeing every label at once, with known truth.

Each run serves ``days`` of traffic to two variants whose true accuracies are known (0.90 and 0.86 by default):
requests arrive as a Poisson process of ``rate`` per hour, each is routed by the floored Thompson
probabilities that ``routing: thompson`` uses (``shipyard.serving.thompson``), its reward is 1 when the
variant's prediction is right (a Bernoulli draw of its accuracy), and the propensity of its routing decision
is kept. The delayed sampler's posteriors take a label only once ``delay_h`` hours have passed since its
request (pending labels count for nothing); the immediate sampler's take it at once. Both recompute their
routing probabilities every ``refresh`` requests (a server re-reads the posteriors every second).

- Regret: the expected cumulative regret, ``sum_t sum_k p_t,k (best accuracy - accuracy_k)``, over the whole
  horizon, averaged over runs. Goal: the delayed sampler's mean regret within 10% of the immediate one's. The
  goal only means something for a horizon long next to the delay: over the first ``delay_h`` hours the
  delayed sampler has no label at all and splits traffic evenly, which costs ``rate * delay_h * gap / 2``
  whatever the horizon.
- Coverage: at the end of the horizon, each variant's 95% interval from the labels that have arrived
  (self-normalized IPW, ``shipyard.monitoring.stats.bandit``) is checked against its true accuracy. Goal: at
  least 93% of (run, variant) intervals cover.

    python -m benchmarks.bench_bandit [--runs 400] [--seed 7]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from shipyard.monitoring.stats.bandit import ArmSums, horvitz_thompson, self_normalized_ipw
from shipyard.serving.thompson import DEFAULT_FLOOR, routing_probabilities

ACCURACIES = (0.90, 0.86)


@dataclass(frozen=True)
class Outcome:
    """One sampler over many runs."""

    regret: np.ndarray  # (runs,) expected cumulative regret over the horizon
    coverage: dict[str, float]  # estimator -> share of (run, variant) 95% intervals that cover the truth
    labelled: float  # mean labels arrived by the end of the horizon per run
    best_share: float  # mean share of requests routed to the best variant


def simulate(*, runs: int, days: float, rate: float, delay_h: float, refresh: int, seed: int,
             accuracies: tuple[float, ...] = ACCURACIES, floor: float = DEFAULT_FLOOR) -> Outcome:
    """``runs`` independent runs of one sampler, vectorized over runs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    truth = np.asarray(accuracies)
    arms = len(truth)
    gaps = truth.max() - truth
    steps = int(days * 24 * rate)
    hours = np.cumsum(rng.exponential(1.0 / rate, (runs, steps)), axis=1)  # arrival time of each request
    # how many of the earliest requests have their label by the time request t arrives
    # (at most t: request t's own label comes after its routing, even with no delay)
    arrived = np.stack([np.searchsorted(hours[run] + delay_h, hours[run], side="right") for run in range(runs)])
    arrived = np.minimum(arrived, np.arange(steps))
    successes = np.zeros((runs, steps + 1, arms))  # cumulative rewards per variant before request t
    failures = np.zeros((runs, steps + 1, arms))
    chosen = np.zeros((runs, steps), dtype=np.int64)
    propensity = np.zeros((runs, steps))
    rewards = np.zeros((runs, steps))
    regret = np.zeros(runs)
    index = np.arange(runs)
    draws = rng.random((runs, steps))
    outcomes = rng.random((runs, steps))
    probabilities = np.full((runs, arms), 1.0 / arms)
    for t in range(steps):
        if t % refresh == 0:
            known = arrived[:, t]
            probabilities = routing_probabilities(successes[index, known], failures[index, known], floor)
        arm = (draws[:, t, None] > np.cumsum(probabilities, axis=1)[:, :-1]).sum(axis=1)
        reward = (outcomes[:, t] < truth[arm]).astype(float)
        chosen[:, t], rewards[:, t] = arm, reward
        propensity[:, t] = probabilities[index, arm]
        regret += probabilities @ gaps
        successes[:, t + 1] = successes[:, t]
        failures[:, t + 1] = failures[:, t]
        successes[index, t + 1, arm] += reward
        failures[index, t + 1, arm] += 1 - reward
    end = hours[:, -1]
    labelled = hours + delay_h <= end[:, None]
    return Outcome(regret, _coverage(chosen, rewards, propensity, labelled, truth), float(labelled.sum(1).mean()),
                   float((chosen == truth.argmax()).mean()))


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
            accuracies: tuple[float, ...] = ACCURACIES, floor: float = DEFAULT_FLOOR) -> Comparison:
    """The delayed sampler and the immediate one on the same seeds."""
    common = {"runs": runs, "days": days, "rate": rate, "refresh": refresh, "seed": seed, "accuracies": accuracies,
              "floor": floor}
    return Comparison(simulate(delay_h=delay_h, **common), simulate(delay_h=0.0, **common))


# (accuracies, days, requests per hour, refresh every n requests): the first two keep the traffic of one delay
# (48 and 120 requests) small next to the labels needed to tell the variants apart (~450 for 0.90 vs 0.88); the
# last two send 480 requests per delay, which costs the delayed sampler a day of even split it cannot avoid.
SETTINGS = [((0.90, 0.88), 28.0, 2.0, 1), ((0.90, 0.88), 14.0, 5.0, 1), ((0.90, 0.86), 14.0, 20.0, 2),
            ((0.90, 0.86), 56.0, 20.0, 8)]


def main() -> None:
    from ._results import machine, write_section

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lines, bullets, coverages = [], [], []
    for accuracies, days, rate, refresh in SETTINGS:
        started = time.perf_counter()
        result = compare(runs=args.runs, days=days, rate=rate, refresh=refresh, seed=args.seed, accuracies=accuracies)
        delayed, immediate = result.delayed, result.immediate
        took = time.perf_counter() - started
        print(f"{accuracies} {days:g} days at {rate:g}/h: regret {delayed.regret.mean():.1f} (24 h late) vs "
              f"{immediate.regret.mean():.1f} (at once), ratio {result.regret_ratio:.3f}; coverage snipw "
              f"{delayed.coverage['snipw']:.3f}, ipw {delayed.coverage['ipw']:.3f} ({took:.0f} s)", flush=True)
        goal = "pass" if result.regret_ratio <= 1.10 and delayed.coverage["snipw"] >= 0.93 else "FAIL"
        requests = int(days * 24 * rate)
        coverages.append(delayed.coverage["snipw"])
        bullets.append(f"- Regret with labels 24 h late vs at once, {accuracies[0]:g} vs {accuracies[1]:g}, "
                       f"{requests:,} requests ({int(24 * rate)} per delay): {(result.regret_ratio - 1) * 100:+.1f}% "
                       f"(target <= +10%: {'pass' if result.regret_ratio <= 1.10 else 'FAIL'})")
        lines.append(f"| {accuracies[0]:g} vs {accuracies[1]:g} | {days:g} d x {rate:g}/h = {requests:,} "
                     f"({int(24 * rate)} per delay) | {delayed.regret.mean():.1f} | {immediate.regret.mean():.1f} | "
                     f"{(result.regret_ratio - 1) * 100:+.1f}% | {delayed.coverage['snipw'] * 100:.1f}% | "
                     f"{delayed.coverage['ipw'] * 100:.1f}% | {immediate.coverage['snipw'] * 100:.1f}% | "
                     f"{delayed.best_share * 100:.1f}% | {goal} |")
    section = (
        "## Bandit routing on delayed feedback\n\n"
        f"Thompson routing (Beta posteriors, propensity floor {DEFAULT_FLOOR:g}) of two variants, labels 24 h late vs "
        f"at once, {args.runs} seeded runs per row (`python -m benchmarks.bench_bandit`). Regret: expected "
        "cumulative regret over the horizon (mean over runs). Coverage: (run, variant) 95% intervals from the "
        "labels arrived by the end that hold the true accuracy. Goals: regret within 10% of the immediate "
        "sampler's; coverage >= 93%. The regret goal holds only while the requests of one delay are few next to "
        "the labels it takes to tell the variants apart: over the first 24 h the delayed sampler has no label and "
        f"splits evenly whatever it does. {machine()}.\n\n"
        "| accuracies | horizon | regret, 24 h late | regret, at once | difference | coverage SNIPW (late) "
        "| coverage IPW (late) | coverage SNIPW (at once) | share to the better (late) | goal |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n" + "\n".join(bullets) + "\n"
        f"- Coverage of the 95% intervals (SNIPW, labels 24 h late), lowest row: {min(coverages) * 100:.1f}% "
        f"(target >= 93%: {'pass' if min(coverages) >= 0.93 else 'FAIL'})\n")
    write_section("Bandit routing on delayed feedback", section)


if __name__ == "__main__":
    main()
