"""The demo's registry half: what happens to the pipeline's models after ``repro``.

Both candidates the train stage logged are registered as versions of ``churn``. The promotion gate
then scores them on the holdout the pipeline kept aside, one after the other, against whoever holds
``champion``: the first takes the alias if nobody holds it (or beats the holder), the second must beat
the new holder by ``MIN_DELTA``. On a store where an earlier demo already crowned a champion, the new
versions face that champion like any retrained model would, so a rerun on the same data is honestly
held back. The best new version that is not champion becomes ``challenger``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ShipyardError, ValidationError, VerificationError
from ..models import registry
from ..models.batch import BatchResult, predict_file
from ..models.onnx_export import OnnxReport, export_onnx
from ..models.package import load_package
from ..models.promote import PromotionDecision, promote
from ..store import Store

MODEL_NAME = "churn"
TARGET = "churn"
MIN_DELTA = 0.002
CHAMPION_URI = f"models:/{MODEL_NAME}@champion"


@dataclass(frozen=True)
class Release:
    versions: dict[str, int]  # candidate name -> registered version
    decisions: list[PromotionDecision]
    champion: int
    challenger: int | None


def register_and_gate(store: Store, candidates: dict[str, dict[str, str]], holdout: Path,
                      pipeline: str) -> Release:
    """Register every candidate, run the gate for each in turn, set ``challenger``; returns the outcome."""
    versions = {}
    for name, entry in candidates.items():
        version = registry.register_model(store, entry["uri"], MODEL_NAME,
                                          description=f"{entry['estimator']} from the train stage of {pipeline}")
        versions[name] = version.version
    decisions = [promote(store, MODEL_NAME, candidate=version, data=holdout, target=TARGET, min_delta=MIN_DELTA)
                 for version in versions.values()]
    champion = registry.resolve(store, CHAMPION_URI)[0]
    assert champion is not None  # the first decision promotes when nobody held the alias
    contenders = [decision for decision in decisions if decision.candidate_version != champion.version]
    challenger = None
    if contenders:
        challenger = max(contenders, key=lambda decision: decision.candidate_score).candidate_version
        registry.set_alias(store, MODEL_NAME, "challenger", challenger,
                           reason="demo: the best new version that is not champion")
    return Release(versions, decisions, champion.version, challenger)


def export_served(store: Store, folder: Path, has_challenger: bool) -> dict[str, OnnxReport | ShipyardError]:
    """Champion and challenger, preprocessing included, as ONNX checked against the Python model: alias ->
    the report, or the refusal when equality could not be proven.

    Each export is attached to its version, so serving (``runtime: auto``) answers with the verified graph;
    a refused version is served by its Python model, and the refusal says why.
    """
    exported: dict[str, OnnxReport | ShipyardError] = {}
    for alias in ("champion", "challenger") if has_challenger else ("champion",):
        name = "churn.onnx" if alias == "champion" else f"churn-{alias}.onnx"
        try:
            exported[alias] = export_onnx(store, f"models:/{MODEL_NAME}@{alias}", folder / name)
        except (VerificationError, ValidationError) as refused:
            exported[alias] = refused
    return exported


def score_holdout(store: Store, champion: int, holdout: Path, folder: Path) -> tuple[BatchResult, float]:
    """Batch-score the holdout with the champion; returns the result and the rows per second."""
    version = registry.get_version(store, MODEL_NAME, champion)
    model = load_package(store, version.run_id, version.path, uri=CHAMPION_URI)
    model.name, model.version = MODEL_NAME, champion
    started = time.perf_counter()
    scored = predict_file(model, holdout, folder / "holdout-scored.parquet", id_columns=["customer_id", TARGET])
    return scored, scored.rows_out / max(time.perf_counter() - started, 1e-9)


def describe(decision: PromotionDecision) -> str:
    """One decision in plain words, e.g. ``v2 held back: roc_auc 0.8440 vs v1's 0.8429 (higher is better):
    better by only 0.0011, less than the required 0.002``: a higher score that is not higher by enough is not
    promoted, and the line says why."""
    candidate = f"v{decision.candidate_version}"
    if decision.current_version is None:
        return f"{candidate} promoted ({decision.candidate_score:.4f}), no champion yet"
    if decision.current_version == decision.candidate_version:
        return f"{candidate} already champion"
    return f"{candidate} {'promoted' if decision.promoted else 'held back'}: {decision.reason}"
