"""The canary judge: from what a check saw of the candidate and its primary, advance, hold or roll back.

Pure: summaries in, a :class:`Verdict` out; no files, clock or store (the runner in :mod:`.rollout_runner`
gathers the evidence from the prediction log and applies the verdict). Checks, in order:

1. What Flagger judges: the candidate's error rate against the primary's (a one-sided always-valid test that
   it exceeds the primary's by more than ``error_margin``) and its p99 latency (more than
   ``max_latency_ratio`` times the primary's, plus ``latency_slack_ms``, is a rollback).
2. Before labels: the candidate's score distribution against the primary's on the same randomized traffic
   (the Kolmogorov-Smirnov distance, rolled back only when even its lower bound at this look exceeds
   ``max_score_distance``), and the share of shadow pairs on which the candidate disagrees with the primary
   (an always-valid test against ``max_disagreement``).
3. Once labels join: the one-sided mSPRT that the candidate's mean per-request loss exceeds the primary's,
   at ``alpha``: looking at every check does not raise the false-rollback rate above ``alpha``.

Each guardrail has its own ``guard_alpha``, so the chance that an equivalent candidate is ever rolled back is
at most ``alpha + 3 * guard_alpha`` (Bonferroni over the always-valid tests; the latency rule is a
threshold, as in Flagger). Each guardrail judges once both arms have ``guard_requests`` requests (or
shadow pairs), the loss test once both have ``min_labels`` labels. A check that finds nothing wrong
advances once the step has served ``min_requests`` canary requests, and the last step waits for
``max_labels`` labelled canary requests when that budget is set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .stats.sequential import ArmMoments, ks_critical_distance, msprt_exceeds, msprt_greater, spent_alpha

ADVANCE, HOLD, ROLLBACK = "advance", "hold", "rollback"


@dataclass(frozen=True)
class ArmEvidence:
    """One arm (the canary, or the primary it is compared with) since the rollout started."""

    requests: int  # answered rows
    errors: int = 0  # refused or failed requests routed to this arm
    p99_latency_ms: float | None = None
    losses: ArmMoments = field(default_factory=lambda: ArmMoments(0, 0.0, 0.0))  # per labelled row

    @property
    def labels(self) -> int:
        return self.losses.count

    def error_moments(self) -> ArmMoments:
        attempts = self.requests + self.errors
        return ArmMoments(attempts, float(self.errors), float(self.errors))


@dataclass(frozen=True)
class Evidence:
    candidate: ArmEvidence
    primary: ArmEvidence
    step_requests: int  # canary rows answered since the current step began
    look: int = 1  # which check this is (from 1): the score test spends its alpha over looks
    shadow_pairs: int = 0  # primary answers the candidate also answered in shadow
    disagreements: int = 0  # of those, how many got a different label
    score_distance: float | None = None  # Kolmogorov-Smirnov distance, candidate vs primary scores
    score_counts: tuple[int, int] = (0, 0)  # scores behind that distance (candidate, primary)


@dataclass(frozen=True)
class JudgePolicy:
    """How strict the judge is; the defaults suit a classifier judged with 0/1 loss."""

    alpha: float = 0.01  # bound on false rollbacks from the loss test, over all looks
    guard_alpha: float = 0.001  # the same for each of the error, disagreement and score guardrails
    loss_tau: float = 0.02  # the loss difference the test is tuned to find quickest (in loss units)
    error_margin: float = 0.01  # extra error rate tolerated (1 point)
    max_latency_ratio: float = 1.5
    latency_slack_ms: float = 5.0
    max_disagreement: float = 0.25
    max_score_distance: float = 0.2
    min_requests: int = 100  # canary requests per step before advancing
    guard_requests: int = 100  # requests (or shadow pairs) per arm before a guardrail judges
    min_labels: int = 100  # labelled requests per arm before the loss test
    max_labels: int | None = None  # labelled canary requests required before the rollout completes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    action: str  # advance | hold | rollback
    reason: str
    statistics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "statistics": self.statistics}


def judge(evidence: Evidence, policy: JudgePolicy, *, completing: bool = False) -> Verdict:
    """Decide one check. ``completing``: advancing now would finish the rollout (and move the alias)."""
    candidate, primary = evidence.candidate, evidence.primary
    statistics: dict[str, Any] = {
        "look": evidence.look, "candidate_requests": candidate.requests, "primary_requests": primary.requests,
        "candidate_labels": candidate.labels, "primary_labels": primary.labels,
        "step_requests": evidence.step_requests,
    }
    reasons = [reason for check in (_errors, _latency, _scores, _disagreement, _loss)
               if (reason := check(evidence, policy, statistics)) is not None]
    if reasons:
        return Verdict(ROLLBACK, "; ".join(reasons), statistics)
    if evidence.step_requests < policy.min_requests:
        return Verdict(HOLD, f"the canary answered {evidence.step_requests} of the {policy.min_requests} requests "
                             "this step needs", statistics)
    if completing and policy.max_labels and candidate.labels < policy.max_labels:
        return Verdict(HOLD, f"{candidate.labels} of the {policy.max_labels} labelled canary requests the last "
                             "step waits for", statistics)
    return Verdict(ADVANCE, "no check found the candidate worse", statistics)


def _errors(evidence: Evidence, policy: JudgePolicy, statistics: dict[str, Any]) -> str | None:
    candidate, primary = evidence.candidate.error_moments(), evidence.primary.error_moments()
    if min(candidate.count, primary.count) < policy.guard_requests:
        return None
    result = msprt_greater(candidate, primary, tau=max(policy.error_margin, 0.005), alpha=policy.guard_alpha,
                           margin=policy.error_margin)
    statistics["error_rate"] = {"candidate": candidate.mean, "primary": primary.mean, **result.to_dict()}
    if result.rejected:
        return (f"error rate {candidate.mean:.2%} against the primary's {primary.mean:.2%} (more than "
                f"{policy.error_margin:.1%} higher, always-valid p = {result.pvalue:.2g})")
    return None


def _latency(evidence: Evidence, policy: JudgePolicy, statistics: dict[str, Any]) -> str | None:
    candidate, primary = evidence.candidate.p99_latency_ms, evidence.primary.p99_latency_ms
    if candidate is None or primary is None or min(evidence.candidate.requests, evidence.primary.requests) \
            < policy.guard_requests:
        return None
    limit = primary * policy.max_latency_ratio + policy.latency_slack_ms
    statistics["p99_latency_ms"] = {"candidate": candidate, "primary": primary, "limit": limit}
    if candidate > limit:
        return f"p99 latency {candidate:.1f} ms against the primary's {primary:.1f} ms (limit {limit:.1f} ms)"
    return None


def _scores(evidence: Evidence, policy: JudgePolicy, statistics: dict[str, Any]) -> str | None:
    n_candidate, n_primary = evidence.score_counts
    if evidence.score_distance is None or min(n_candidate, n_primary) < policy.guard_requests:
        return None
    alpha = spent_alpha(policy.guard_alpha, evidence.look)
    critical = ks_critical_distance(n_candidate, n_primary, alpha)
    low = evidence.score_distance - critical
    statistics["score_distance"] = {"ks": evidence.score_distance, "lower_bound": low, "alpha_spent": alpha,
                                    "limit": policy.max_score_distance}
    if low > policy.max_score_distance:
        return (f"score distribution differs from the primary's (Kolmogorov-Smirnov distance "
                f"{evidence.score_distance:.3f}, at least {low:.3f} > {policy.max_score_distance})")
    return None


def _disagreement(evidence: Evidence, policy: JudgePolicy, statistics: dict[str, Any]) -> str | None:
    if evidence.shadow_pairs < policy.guard_requests:
        return None
    moments = ArmMoments(evidence.shadow_pairs, float(evidence.disagreements), float(evidence.disagreements))
    result = msprt_exceeds(moments, limit=policy.max_disagreement, tau=0.05, alpha=policy.guard_alpha)
    statistics["disagreement"] = {"pairs": evidence.shadow_pairs, "rate": moments.mean, **result.to_dict()}
    if result.rejected:
        return (f"disagrees with the primary on {moments.mean:.1%} of {evidence.shadow_pairs} shadow pairs "
                f"(more than {policy.max_disagreement:.0%}, always-valid p = {result.pvalue:.2g})")
    return None


def _loss(evidence: Evidence, policy: JudgePolicy, statistics: dict[str, Any]) -> str | None:
    candidate, primary = evidence.candidate.losses, evidence.primary.losses
    if min(candidate.count, primary.count) < policy.min_labels:
        return None
    result = msprt_greater(candidate, primary, tau=policy.loss_tau, alpha=policy.alpha)
    statistics["loss"] = {"candidate": candidate.mean, "primary": primary.mean, **result.to_dict()}
    if result.rejected:
        return (f"mean loss {candidate.mean:.4f} against the primary's {primary.mean:.4f} on {candidate.count} "
                f"labelled canary requests (worse, always-valid p = {result.pvalue:.2g} < {policy.alpha})")
    return None
