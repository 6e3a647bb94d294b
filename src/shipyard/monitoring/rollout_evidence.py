"""What the prediction and feedback logs say about a running canary: the judge's :class:`Evidence`.

Rows since the rollout started, from every deployment it applies to: the candidate's live answers (variant
``rollout-<id>``), its shadow answers to the primary's requests (``rollout-<id>-shadow``) and the primary's
live answers (the primary version, not shadows). Errors are the error log's requests routed to the
candidate's variant or to a variant that served the primary. Labels are the latest feedback per ``(request_id, row)``.
The per-request loss is 0/1 (prediction differs from the label) for classifiers, which log probabilities,
and the squared error for regressors. Scores for the distribution test are the last class's probability
(the positive class of a binary classifier) or the predicted value, the most recent :data:`MAX_SCORES` of
each arm.
"""

from __future__ import annotations

from typing import Any

from ..models.rollouts import Rollout
from ..predlog.layout import ERRORS, FEEDBACK, PREDICTIONS, partition_files, serving_root
from ..predlog.scan import read_table
from ..store import Store
from .rollout_judge import ArmEvidence, Evidence
from .stats.sequential import ArmMoments

MAX_SCORES = 20_000
_COLUMNS = ["request_id", "row", "timestamp", "variant", "shadow", "model_name", "model_version", "latency_ms",
            "prediction", "prediction_value", "probabilities"]


def gather_evidence(store: Store | None, rollout: Rollout, *, log_dir: str | None = None) -> Evidence:
    """The evidence of ``rollout`` in the logs now (its look number is the rollout's next check). The log is
    ``log_dir``, else the store's ``serving/`` folder (the current store's when ``store`` is None)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = serving_root(store, log_dir)
    since = ds.field("timestamp") >= pa.scalar(rollout.started_at, type=pa.timestamp("ms", tz="UTC"))
    table = read_table(partition_files(root / PREDICTIONS, None, rollout.started_at, None), columns=_COLUMNS,
                       filter=since)
    frame = pd.DataFrame(columns=_COLUMNS) if table is None else table.to_pandas()
    live = rollout.variant
    candidate = frame[(frame["variant"] == live) & ~frame["shadow"].astype(bool)]
    shadow = frame[frame["variant"] == f"{live}-shadow"]
    primary = frame[~frame["shadow"].astype(bool) & (frame["model_name"] == rollout.name)
                    & (frame["model_version"] == rollout.primary_version) & (frame["variant"] != live)]
    labels = _labels(root, rollout.started_at)
    errors = _errors_by_variant(root, rollout.started_at, since)
    regression = bool(len(frame)) and frame["probabilities"].isna().all()
    pairs = primary[["request_id", "row", "prediction"]].merge(
        shadow[["request_id", "row", "prediction"]], on=["request_id", "row"], suffixes=("", "_candidate"))
    candidate_scores, primary_scores = _scores(candidate), _scores(primary)
    distance = _ks_distance(candidate_scores, primary_scores) if len(candidate_scores) and len(primary_scores) \
        else None
    step_start = pd.Timestamp(rollout.step_started_at, unit="ms", tz="UTC")
    step_rows = int((candidate["timestamp"] >= step_start).sum()) if len(candidate) else 0
    return Evidence(
        candidate=_arm(candidate, labels, regression, errors.get(live, 0)),
        primary=_arm(primary, labels, regression, sum(errors.get(name, 0) for name in set(primary["variant"]))),
        step_requests=step_rows, look=rollout.checks + 1, shadow_pairs=len(pairs),
        disagreements=int((pairs["prediction"] != pairs["prediction_candidate"]).sum()),
        score_distance=distance, score_counts=(len(candidate_scores), len(primary_scores)))


def _arm(rows: Any, labels: Any, regression: bool, errors: int) -> ArmEvidence:
    import numpy as np

    if not len(rows):
        return ArmEvidence(0, errors)
    latency = rows.drop_duplicates("request_id")["latency_ms"].to_numpy(dtype=float)
    joined = rows[["request_id", "row", "prediction", "prediction_value"]].merge(labels, on=["request_id", "row"])
    if regression:
        losses = (joined["prediction_value"].to_numpy(dtype=float) - joined["label_value"].to_numpy(dtype=float)) ** 2
        losses = losses[np.isfinite(losses)]
    else:
        losses = (joined["prediction"].astype(str) != joined["label"].astype(str)).to_numpy(dtype=float)
    return ArmEvidence(len(rows), errors, float(np.percentile(latency, 99)) if len(latency) else None,
                       ArmMoments(len(losses), float(losses.sum()), float((losses * losses).sum())))


def _errors_by_variant(root: Any, since_ms: int, since: Any) -> dict[str, int]:
    """Refused or failed requests per variant (logs written before errors named their variant count for none)."""
    table = read_table(partition_files(root / ERRORS, None, since_ms, None), columns=["timestamp", "variant"],
                       filter=since)
    if table is None or "variant" not in table.column_names:
        return {}
    counts: dict[str, int] = {}
    for name in table.column("variant").to_pylist():
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _labels(root: Any, since_ms: int) -> Any:
    import pandas as pd

    table = read_table(partition_files(root / FEEDBACK, None, since_ms, None),
                       columns=["request_id", "row", "label", "label_value", "timestamp"])
    if table is None:
        return pd.DataFrame(columns=["request_id", "row", "label", "label_value"])
    return (table.to_pandas().sort_values("timestamp", kind="stable")
            .drop_duplicates(["request_id", "row"], keep="last")[["request_id", "row", "label", "label_value"]])


def _scores(rows: Any) -> Any:
    import numpy as np

    rows = rows.tail(MAX_SCORES)
    if not len(rows):
        return np.empty(0)
    if rows["probabilities"].notna().all():
        return np.array([float(item[-1]) for item in rows["probabilities"]])
    values = rows["prediction_value"].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _ks_distance(a: Any, b: Any) -> float:
    """The two-sample Kolmogorov-Smirnov distance (the largest gap between the two empirical CDFs)."""
    import numpy as np

    a, b = np.sort(a), np.sort(b)
    points = np.concatenate([a, b])
    gap = np.searchsorted(a, points, side="right") / len(a) - np.searchsorted(b, points, side="right") / len(b)
    return float(np.abs(gap).max())
