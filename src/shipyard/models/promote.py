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
from typing import Any, Protocol

from ..errors import NotFoundError, ValidationError
from ..store import Store
from ..tracking.remote import RemoteTracker
from . import labelled_reference, registry, remote
from .compare import paired_test
from .evaluate import Metric, Outputs, get_metric, metric_value, outputs, read_table
from .package import LoadedModel, build_model, load_package, read_model
from .paired_tests import PairedTest
from .registry import ModelVersion


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


class GateRegistry(Protocol):
    """What the gate reads and writes: the registry of a local store (:class:`StoreGate`) or of a team server
    (:class:`ServerGate`)."""

    def version(self, name: str, number: int) -> ModelVersion:
        """One version (NotFoundError when there is none)."""

    def holder(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, ``None`` when it points nowhere (NotFoundError for an unknown model)."""

    def model(self, version: ModelVersion, trust: bool | Iterable[str]) -> LoadedModel:
        """The version's model, verified against the registry's record of its package."""

    def decide(self, name: str, alias: str, *, promoted: bool, holder: int | None, candidate: int, reason: str,
               details: dict[str, Any]) -> None:
        """Record the decision, moving the alias when promoted, if ``holder`` still holds it (ConflictError if not)."""

    def keep_reference(self, name: str, version: int, model: LoadedModel, answers: Outputs, frame: Any,
                       target: str) -> None:
        """Keep the version's scores on the holdout as its labelled reference (:mod:`.labelled_reference`): what a
        deployment's performance is estimated from before labels arrive."""


class StoreGate:
    """The registry of a store this process opened."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def version(self, name: str, number: int) -> ModelVersion:
        return registry.get_version(self.store, name, number)

    def holder(self, name: str, alias: str) -> int | None:
        registry.require_model(self.store, name)
        try:
            version, _, _ = registry.resolve(self.store, f"models:/{name}@{alias}")
        except NotFoundError:
            return None
        return version.version if version is not None else None

    def model(self, version: ModelVersion, trust: bool | Iterable[str]) -> LoadedModel:
        return load_package(self.store, version.run_id, version.path, trust=trust, uri=version.uri,
                            registered=(version.manifest_hash, version.version))

    def decide(self, name: str, alias: str, *, promoted: bool, holder: int | None, candidate: int, reason: str,
               details: dict[str, Any]) -> None:
        self.store.db.write(registry.gate_decision(name, alias, promoted=promoted, holder=holder, candidate=candidate,
                                                   reason=reason, details=details))

    def keep_reference(self, name: str, version: int, model: LoadedModel, answers: Outputs, frame: Any,
                       target: str) -> None:
        scores = labelled_reference.holdout_scores(model, answers, frame, target)
        if scores is not None:
            labelled_reference.record_reference(self.store, name, version, *scores, source=_gate_source(frame))


class ServerGate:
    """The registry of a team server: the models are downloaded and scored here, the decision is sent there (with
    the holder both were scored against, so a move in between is a conflict rather than a stale promotion)."""

    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    def version(self, name: str, number: int) -> ModelVersion:
        return remote.get_version(self.tracker, name, number)

    def holder(self, name: str, alias: str) -> int | None:
        return remote.alias_holder(self.tracker, name, alias)

    def model(self, version: ModelVersion, trust: bool | Iterable[str]) -> LoadedModel:
        return build_model(read_model(version.uri), trust=trust)

    def decide(self, name: str, alias: str, *, promoted: bool, holder: int | None, candidate: int, reason: str,
               details: dict[str, Any]) -> None:
        remote.decide(self.tracker, name, alias, promoted=promoted, holder=holder, candidate=candidate, reason=reason,
                      details=details)

    def keep_reference(self, name: str, version: int, model: LoadedModel, answers: Outputs, frame: Any,
                       target: str) -> None:
        scores = labelled_reference.holdout_scores(model, answers, frame, target)
        if scores is not None:
            labelled_reference.record_reference(self.tracker, name, version, *scores, source=_gate_source(frame))


def _gate_source(frame: Any) -> str:
    return f"promotion gate, {len(frame):,} holdout rows"


def promote(store: Store | GateRegistry, name: str, *, candidate: int | str, alias: str = "champion", data: Any,
            target: str, metric: str = "roc_auc", min_delta: float = 0.0, alpha: float = 0.05,
            trust: bool | Iterable[str] = (), encoding: str | None = None, seed: int = 0) -> PromotionDecision:
    """Score ``candidate`` (a version number or an alias) and the holder of ``alias`` on ``data``; move the
    alias to the candidate only if the one-sided paired test that its gain exceeds ``min_delta`` passes at
    ``alpha``. Every decision is audited. ``store`` is a store, or the registry of a team server
    (:class:`ServerGate`). ``encoding`` is the text encoding of a CSV ``data`` file (UTF-8 when None); ``seed``
    seeds the paired bootstrap."""
    gate = StoreGate(store) if isinstance(store, Store) else store
    chosen = get_metric(metric)
    if min_delta < 0:
        raise ValidationError(f"min_delta must be 0 or more, got {min_delta}.", field="min_delta")
    if not 0 < alpha < 0.5:
        raise ValidationError(f"alpha must be between 0 and 0.5 (e.g. 0.05), got {alpha}.", field="alpha")
    frame = read_table(data, encoding=encoding) if not hasattr(data, "columns") else data
    candidate_version = _version_number(gate, name, candidate)
    current_version = gate.holder(name, alias)
    candidate_answers = _answers(gate, name, candidate_version, frame, target, metric, trust)
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
        current_answers = _answers(gate, name, current_version, frame, target, metric, trust)
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
    gate.decide(name, alias, promoted=promoted, holder=current_version, candidate=candidate_version, reason=reason,
                details=details)
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


def _answers(gate: GateRegistry, name: str, version: int, frame: Any, target: str, metric: str,
             trust: bool | Iterable[str]) -> Outputs:
    """The version's answers on the holdout, also kept as its labelled reference where the registry can keep one."""
    model = gate.model(gate.version(name, version), trust)
    answers = outputs(model, frame, target, metric)
    gate.keep_reference(name, version, model, answers, frame, target)
    return answers


def _version_number(gate: GateRegistry, name: str, candidate: int | str) -> int:
    text = str(candidate)
    if text.isdigit():
        return gate.version(name, int(text)).version
    holder = gate.holder(name, text)
    if holder is None:
        raise NotFoundError(f"Model {name!r} has no alias {text!r} to promote; give a version number or set it with "
                            f"`shipyard models alias {name} {text} VERSION`.")
    return holder
