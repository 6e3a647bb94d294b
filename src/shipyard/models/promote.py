"""The promotion gate: a candidate takes an alias only when it beats the current holder by a margin.

Both models are scored on the same data. The decision, promoted or held back, is recorded in the
registry's audit log with both scores, so "why is version 7 the champion?" always has an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import NotFoundError, ValidationError
from ..store import Store
from . import registry
from .evaluate import get_metric, read_table, score
from .package import load_package


@dataclass(frozen=True)
class PromotionDecision:
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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def promote(store: Store, name: str, *, candidate: int | str, alias: str = "champion", data: Any,
            target: str, metric: str = "roc_auc", min_delta: float = 0.0,
            trust: bool | Iterable[str] = (), encoding: str | None = None) -> PromotionDecision:
    """Score ``candidate`` (a version number or an alias) and the holder of ``alias`` on ``data``; move the
    alias to the candidate only if it wins by at least ``min_delta``. Every decision is audited. ``encoding`` is
    the text encoding of a CSV ``data`` file (UTF-8 when None)."""
    chosen = get_metric(metric)
    if min_delta < 0:
        raise ValidationError(f"min_delta must be 0 or more, got {min_delta}.", field="min_delta")
    frame = read_table(data, encoding=encoding) if not hasattr(data, "columns") else data
    candidate_version = _version_number(store, name, candidate)
    current_version = _holder(store, name, alias)
    candidate_score = _score(store, name, candidate_version, frame, target, metric, trust)
    current_score = None
    if current_version is None:
        promoted, reason = True, f"no version held '{alias}' yet"
    elif current_version == candidate_version:
        current_score = candidate_score
        promoted, reason = False, f"version {candidate_version} already holds '{alias}'"
    else:
        current_score = _score(store, name, current_version, frame, target, metric, trust)
        gain = candidate_score - current_score if chosen.higher_is_better else current_score - candidate_score
        promoted = gain >= min_delta
        direction = "higher" if chosen.higher_is_better else "lower"
        reason = f"{metric} {candidate_score:.4f} vs v{current_version}'s {current_score:.4f} ({direction} is better): "
        if promoted:
            reason += f"better by {gain:.4f}, at least the required {min_delta:g}"
        elif gain > 0:
            reason += f"better by only {gain:.4f}, less than the required {min_delta:g}"
        else:
            reason += f"worse by {-gain:.4f}" if gain < 0 else "no better"
    details = {"metric": metric, "candidate_version": candidate_version, "candidate_score": candidate_score,
               "current_version": current_version, "current_score": current_score, "min_delta": min_delta,
               "rows": len(frame)}
    if promoted:
        registry.set_alias(store, name, alias, candidate_version, reason=reason, action="promoted", details=details)
    elif current_version != candidate_version:
        registry.record_decision(store, name, alias, "held_back", current_version, candidate_version, reason, details)
    return PromotionDecision(name, alias, metric, candidate_version, candidate_score, current_version, current_score,
                             min_delta, promoted, reason)


def _score(store: Store, name: str, version: int, frame: Any, target: str, metric: str,
           trust: bool | Iterable[str]) -> float:
    model_version = registry.get_version(store, name, version)
    model = load_package(store, model_version.run_id, model_version.path, trust=trust, uri=model_version.uri)
    return score(model, frame, target, metric)


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
