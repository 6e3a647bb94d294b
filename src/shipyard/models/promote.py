"""The promotion gate: a candidate takes an alias only when a paired test shows it beats the holder by a margin.

Both models score the same holdout rows; a one-sided paired test (:mod:`.paired_tests`: DeLong for ROC AUC,
McNemar for accuracy, a paired bootstrap otherwise) must show at ``alpha`` that the candidate's gain exceeds
``min_delta``. A point comparison would let two retrains that differ only by chance promote each other back and
forth. When the test does not pass, the holdout's minimum detectable effect says whether that means "no better"
or "this holdout is too small to tell". The decision, promoted or held back, is recorded in the registry's audit
log with both scores and the test, so "why is version 7 the champion?" always has an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..store import Store
from . import labelled_reference, registry
from .compare import paired_test
from .evaluate import Metric, Outputs, get_metric, metric_value, outputs, read_table
from .package import load_package
from .paired_tests import PairedTest


@dataclass(frozen=True)
class PromotionDecision:
    """What the gate decided and why. Scores are the metric as scikit-learn computes it on the whole holdout;
    the statistics (``test`` to ``rows_needed``) are None when there was no contest (nobody held the alias,
    or the candidate already held it). ``ci_low``/``ci_high`` bound the gain (positive is better) at level
    ``1 - 2 * alpha``, so ``promoted`` is ``ci_low > min_delta`` for DeLong and the bootstrap."""

    name: str
    alias: str
    metric: str
    candidate_version: int
    candidate_score: float
    current_version: int | None
    current_score: float | None
    min_delta: float
    promoted: bool
    reason: str
    alpha: float = 0.05
    test: str | None = None  # delong | mcnemar | mcnemar_exact | paired_bootstrap; None without a contest
    p_value: float | None = None  # one-sided: that the gain exceeds min_delta
    ci_low: float | None = None  # the paired 1 - 2 * alpha interval of the gain (positive is better)
    ci_high: float | None = None
    min_detectable_effect: float | None = None  # the gain this holdout detects with 80% power at alpha
    too_small_to_tell: bool = False  # held back because the holdout could not have shown a gain of min_delta
    rows_needed: int | None = None  # roughly, for the detectable effect to reach min_delta

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def promote(store: Store, name: str, *, candidate: int | str, alias: str = "champion", data: Any,
            target: str, metric: str = "roc_auc", min_delta: float = 0.0, alpha: float = 0.05,
            trust: bool | Iterable[str] = (), encoding: str | None = None, seed: int = 0) -> PromotionDecision:
    """Score ``candidate`` (a version number or an alias) and the holder of ``alias`` on ``data``; move the
    alias to the candidate only if the one-sided paired test that its gain exceeds ``min_delta`` passes at
    ``alpha``. Every decision is audited. ``encoding`` is the text encoding of a CSV ``data`` file (UTF-8 when
    None); ``seed`` seeds the paired bootstrap."""
    chosen = get_metric(metric)
    if min_delta < 0:
        raise ValidationError(f"min_delta must be 0 or more, got {min_delta}.", field="min_delta")
    if not 0 < alpha < 0.5:
        raise ValidationError(f"alpha must be between 0 and 0.5 (e.g. 0.05), got {alpha}.", field="alpha")
    frame = read_table(data, encoding=encoding) if not hasattr(data, "columns") else data
    candidate_version = _version_number(store, name, candidate)
    current_version = _holder(store, name, alias)
    candidate_answers = _answers(store, name, candidate_version, frame, target, metric, trust)
    candidate_score = metric_value(candidate_answers)
    current_score = None
    outcome: PairedTest | None = None
    verdict: dict[str, Any] = {}
    if current_version is None:
        promoted, reason = True, f"no version held '{alias}' yet"
    elif current_version == candidate_version:
        current_score = candidate_score
        promoted, reason = False, f"version {candidate_version} already holds '{alias}'"
    else:
        current_answers = _answers(store, name, current_version, frame, target, metric, trust)
        current_score = metric_value(current_answers)
        outcome = paired_test(candidate_answers, current_answers, min_delta=min_delta, alpha=alpha, seed=seed)
        promoted = outcome.passed
        verdict = _qualify(outcome, min_delta, len(frame), promoted)
        reason = _reason(chosen, candidate_score, current_version, current_score, min_delta, outcome, promoted,
                         verdict, _holdout_words(candidate_answers))
    statistics = _statistics(outcome, verdict)
    details = {"metric": metric, "candidate_version": candidate_version, "candidate_score": candidate_score,
               "current_version": current_version, "current_score": current_score, "min_delta": min_delta,
               "rows": len(frame), "alpha": alpha, **statistics}
    if promoted:
        registry.set_alias(store, name, alias, candidate_version, reason=reason, action="promoted", details=details)
    elif current_version != candidate_version:
        registry.record_decision(store, name, alias, "held_back", current_version, candidate_version, reason, details)
    return PromotionDecision(name, alias, metric, candidate_version, candidate_score, current_version, current_score,
                             min_delta, promoted, reason, alpha, **statistics)


def _qualify(outcome: PairedTest, min_delta: float, rows: int, promoted: bool) -> dict[str, Any]:
    """Power never blocks a significant gain; it only qualifies a hold-back: "too small to tell", not "no better",
    when the holdout could not have detected a gain of ``min_delta`` and its interval still reaches the margin (an
    interval wholly below the margin did tell: the candidate is not better by ``min_delta``, however wide the
    holdout's detectable effect). The standard error shrinks as one over the root of the rows, so about
    ``rows * (mde / min_delta) ** 2`` rows would bring the detectable effect down to the margin (with a margin of
    0 no holdout size settles it: the message says so)."""
    too_small = not promoted and outcome.min_detectable_effect > min_delta and outcome.ci_high >= min_delta
    needed = None
    if too_small and min_delta > 0:
        needed = int(-(-rows * (outcome.min_detectable_effect / min_delta) ** 2 // 1))
    return {"too_small_to_tell": too_small, "rows_needed": needed}


def _statistics(outcome: PairedTest | None, verdict: dict[str, Any]) -> dict[str, Any]:
    if outcome is None:
        return {"test": None, "p_value": None, "ci_low": None, "ci_high": None, "min_detectable_effect": None,
                "too_small_to_tell": False, "rows_needed": None}
    return {"test": outcome.test, "p_value": outcome.p_value, "ci_low": outcome.ci_low, "ci_high": outcome.ci_high,
            "min_detectable_effect": outcome.min_detectable_effect, **verdict}


_TEST_NAMES = {"delong": "DeLong", "mcnemar": "McNemar", "mcnemar_exact": "exact McNemar",
               "paired_bootstrap": "paired bootstrap"}


def _holdout_words(answers: Outputs) -> str:
    rows = len(answers.truth)
    if len(answers.classes) == 2:
        positives = int((answers.truth == answers.classes[1]).sum())
        return f"this holdout of {rows:,} rows with {positives:,} positives"
    return f"this holdout of {rows:,} rows"


def _reason(chosen: Metric, candidate_score: float, current_version: int, current_score: float, min_delta: float,
            outcome: PairedTest, promoted: bool, verdict: dict[str, Any], holdout: str) -> str:
    """E.g. ``roc_auc 0.8440 vs v1's 0.8429 (higher is better): gain 0.0011, 90% interval -0.0040 to 0.0062;
    DeLong one-sided p = 0.37 that it exceeds 0.002 (alpha 0.05): held back, too small to tell: ...``."""
    direction = "higher" if chosen.higher_is_better else "lower"
    level = round(100 * (1 - 2 * outcome.alpha))
    text = (f"{chosen.name} {candidate_score:.4f} vs v{current_version}'s {current_score:.4f} ({direction} is "
            f"better): gain {outcome.gain:+.4f}, {level}% interval {outcome.ci_low:+.4f} to {outcome.ci_high:+.4f}; "
            f"{_TEST_NAMES[outcome.test]} one-sided p = {outcome.p_value:.3g} that it exceeds {min_delta:g} "
            f"(alpha {outcome.alpha:g})")
    detectable = f"{holdout} can detect a gain of {outcome.min_detectable_effect:.4f} or more"
    if promoted:
        return text + f": better by more than the required {min_delta:g}"
    if outcome.gain > 0:
        observed = f"better by only {outcome.gain:.4f}, not shown to exceed the required {min_delta:g}"
    else:
        observed = f"worse by {-outcome.gain:.4f}" if outcome.gain < 0 else "no better"
    if not verdict["too_small_to_tell"]:
        return text + f": {observed}" + (f" ({detectable})" if outcome.gain > 0 else "")
    text += f": {observed}, but too small to tell: {detectable}"
    if verdict["rows_needed"] is not None:
        text += f" (about {verdict['rows_needed']:,} rows would detect {min_delta:g})"
    return text + ", so this does not show that the candidate is no better"


def _answers(store: Store, name: str, version: int, frame: Any, target: str, metric: str,
             trust: bool | Iterable[str]) -> Outputs:
    """The version's answers on the holdout; a classifier's scores on it are also kept as the version's labelled
    reference (:mod:`.labelled_reference`), what a deployment's performance is estimated from before labels."""
    model_version = registry.get_version(store, name, version)
    model = load_package(store, model_version.run_id, model_version.path, trust=trust, uri=model_version.uri)
    answers = outputs(model, frame, target, metric)
    source = f"promotion gate, {len(frame):,} holdout rows"
    if answers.metric.task == "classification" and answers.metric.needs_probabilities:
        labelled_reference.record_reference(store, name, version, answers.output, answers.truth, answers.classes,
                                            source=source)
    else:
        labelled_reference.record_from_model(store, name, version, model, frame, target, source=source)
    return answers


def _version_number(store: Store, name: str, candidate: int | str) -> int:
    text = str(candidate)
    if text.isdigit():
        return registry.get_version(store, name, int(text)).version
    version, _, _ = registry.resolve(store, f"models:/{name}@{text}")
    assert version is not None
    return version.version


def _holder(store: Store, name: str, alias: str) -> int | None:
    registry.require_model(store, name)
    try:
        version, _, _ = registry.resolve(store, f"models:/{name}@{alias}")
    except NotFoundError:
        return None
    return version.version if version is not None else None
