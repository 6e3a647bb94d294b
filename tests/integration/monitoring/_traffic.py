"""Known-truth traffic for the monitoring tests: a seeded churn-like world, a model trained on it, and live
answers written straight into a store's prediction and feedback logs.

The world has independent features, so shifting one column leaves every other column's distribution exactly
as in training: a flag on an unshifted column is a false alarm, never a side effect. Answers are the real
model's (``shipyard.load_model`` scoring the generated rows); they go through the serving log's own writer
(``PartitionedLog`` with ``predictions_table`` / ``feedback_table``), with timestamps spread over a window.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pandas as pd

import shipyard

NUMERIC = ["tenure", "monthly_charges", "total_charges", "age"]
CATEGORICAL = ["contract", "payment", "region"]
FEATURES = NUMERIC + CATEGORICAL
TARGET = "churn"
CONTRACTS = ["Month-to-month", "One year", "Two year"]
CONTRACT_SHARES = [0.55, 0.25, 0.20]
PAYMENTS = ["card", "check", "transfer", "cash"]
PAYMENT_SHARES = [0.35, 0.25, 0.25, 0.15]
REGIONS = ["north", "south", "east", "west", "centre", "islands"]
TRAINING_ROWS = 20_000
TRAINING_MISSING = 40  # total_charges missing in exactly 0.2% of the training rows
DEPLOYMENT = "churn"
KINDS = {name: "integer" if name in ("tenure", "age") else "float" if name in NUMERIC else "string"
         for name in FEATURES}
HOUR_MS = 3_600_000


def world(size: int, seed: int, shift: dict[str, Any] | None = None) -> pd.DataFrame:
    """``size`` rows of the world with a 0/1 ``churn`` target; ``shift`` changes named columns only.

    Shifts: ``monthly_charges``/``tenure``/``age``: added to the values (a mean shift);
    ``contract``/``payment``: replacement level shares; ``total_charges_missing``: share of missing values.
    """
    shift = shift or {}
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 73, size) + int(shift.get("tenure", 0)),
        "monthly_charges": (rng.normal(65, 20, size).clip(18, 120) + shift.get("monthly_charges", 0.0)).round(2),
        "total_charges": rng.lognormal(7.0, 0.8, size).round(2),
        "age": rng.integers(18, 81, size) + int(shift.get("age", 0)),
        "contract": rng.choice(CONTRACTS, size, p=shift.get("contract", CONTRACT_SHARES)),
        "payment": rng.choice(PAYMENTS, size, p=shift.get("payment", PAYMENT_SHARES)),
        "region": rng.choice(REGIONS, size),
    })
    missing = rng.random(size) < shift.get("total_charges_missing", TRAINING_MISSING / TRAINING_ROWS)
    frame.loc[missing, "total_charges"] = np.nan
    logit = (1.6 * (frame["contract"] == "Month-to-month") - 0.045 * (frame["tenure"] - 36)
             + 0.03 * (frame["monthly_charges"] - 65) + 0.5 * (frame["payment"] == "check") - 0.9)
    frame[TARGET] = (rng.random(size) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def training_frame() -> pd.DataFrame:
    """The training set: exactly ``TRAINING_MISSING`` missing ``total_charges`` (0.2%)."""
    frame = world(TRAINING_ROWS, seed=2024, shift={"total_charges_missing": 0.0})
    frame.loc[np.arange(TRAINING_MISSING) * (TRAINING_ROWS // TRAINING_MISSING), "total_charges"] = np.nan
    return frame


def pipeline(estimator: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prepare = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
    ])
    return Pipeline([("prepare", prepare), ("model", estimator)])


@dataclass
class Template:
    """A trained store: ``churn`` v1 (logistic regression), v2 (a one-split tree, clearly less accurate)."""

    root: Path
    models: dict[int, Any] = field(default_factory=dict)  # version -> loaded model (scores traffic)
    training_accuracy: float = 0.0  # v1 on its training rows, logged as the run's ``accuracy`` metric

    def copy_to(self, root: Path) -> Path:
        shutil.copytree(self.root, root, dirs_exist_ok=True)
        return root


def build_template(root: Path) -> Template:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    frame = training_frame()
    inputs, target = frame[FEATURES], frame[TARGET]
    template = Template(root)
    shipyard.set_store(root)
    try:
        for version, estimator in ((1, LogisticRegression(max_iter=1000)),
                                   (2, DecisionTreeClassifier(max_depth=1, random_state=0))):
            pipe = pipeline(estimator).fit(inputs, target)
            with shipyard.start_run(experiment="monitoring-tests"):
                info = shipyard.log_model(pipe, input_example=inputs, y_example=target)
                accuracy = float((pipe.predict(inputs) == target).mean())
                shipyard.log_metric("accuracy", accuracy)
            if version == 1:
                template.training_accuracy = accuracy
            shipyard.register_model(info.uri, "churn")
        template.models = {version: shipyard.load_model(f"models:/churn/{version}") for version in (1, 2)}
    finally:
        shipyard.set_store(None)
    return template


@dataclass
class Batch:
    """Rows answered by one variant and logged: the model's labels and probabilities, the log keys."""

    frame: pd.DataFrame
    variant: str
    version: int
    predictions: list[str]
    probabilities: np.ndarray  # rows x classes ("0", "1")
    keys: list[tuple[str, int]]  # (request_id, row) of each row, in row order

    @property
    def rows(self) -> int:
        return len(self.frame)


def log_traffic(template: Template, frame: pd.DataFrame, *, start_ms: int, end_ms: int, version: int = 1,
                variant: str = "champion", deployment: str = DEPLOYMENT, rows_per_request: int = 10,
                latency_ms: Any = 4.0) -> Batch:
    """Score ``frame`` with model ``version`` and log the answers as live traffic of ``deployment``.

    Requests of ``rows_per_request`` rows are spread evenly over ``[start_ms, end_ms)``; ``latency_ms`` is
    one number or one per request. Written through the serving log's own writer into the current store.
    """
    from shipyard.predlog.layout import serving_root
    from shipyard.predlog.schema import PredictionEntry, predictions_table
    from shipyard.predlog.writer import PartitionedLog

    frame = frame.reset_index(drop=True)
    model = template.models[version]
    probabilities = np.asarray(model.predict_proba(frame[FEATURES]), dtype="float64")
    predictions = [str(label) for label in np.asarray(model.predict(frame[FEATURES]))]
    requests = -(-len(frame) // rows_per_request)
    stamps = np.linspace(start_ms, end_ms - 1, requests).astype("int64")
    latencies = np.broadcast_to(np.asarray(latency_ms, dtype="float64"), (requests,))
    present = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    columns = {name: present[name].tolist() for name in FEATURES}  # None for missing, as JSON requests give
    log = PartitionedLog(serving_root() / "predictions", predictions_table, name="test-predictions")
    keys: list[tuple[str, int]] = []
    for index in range(requests):
        request_id = f"{deployment}-{variant}-{uuid.uuid4().hex[:12]}"
        low, high = index * rows_per_request, min((index + 1) * rows_per_request, len(frame))
        entry = PredictionEntry(
            request_id=request_id, timestamp_ms=int(stamps[index]), deployment=deployment, variant=variant,
            shadow=False, model_name="churn", model_version=version, model_uri=f"models:/churn/{version}",
            runtime="python", latency_ms=float(latencies[index]), sticky_key=None,
            inputs={name: values[low:high] for name, values in columns.items()}, kinds=KINDS,
            labels=predictions[low:high], probabilities=probabilities[low:high].tolist())
        log.append(deployment, entry.timestamp_ms, entry)
        keys.extend((request_id, row) for row in range(high - low))
    log.close()
    return Batch(frame, variant, version, predictions, probabilities, keys)


def write_feedback(keys: Sequence[tuple[str, int]], labels: Sequence[Any], *, timestamp_ms: int,
                   deployment: str = DEPLOYMENT) -> None:
    """Log one label per ``(request_id, row)`` key, as ``POST /feedback`` would."""
    from shipyard.predlog.layout import serving_root
    from shipyard.predlog.schema import FeedbackEntry, feedback_table
    from shipyard.predlog.writer import PartitionedLog

    log = PartitionedLog(serving_root() / "feedback", feedback_table, name="test-feedback")
    for (request_id, row), label in zip(keys, labels, strict=True):
        log.append(deployment, timestamp_ms, FeedbackEntry(request_id, row, label, timestamp_ms))
    log.close()



class Span(TypedDict):
    start: str
    end: str


@dataclass(frozen=True)
class Hours:
    """Two adjacent whole hours well in the past: ``previous`` then ``current`` (epoch ms bounds)."""

    previous_start: int
    current_start: int
    current_end: int

    @classmethod
    def recent(cls) -> Hours:
        start = (int(time.time() * 1000) // HOUR_MS - 6) * HOUR_MS
        return cls(start, start + HOUR_MS, start + 2 * HOUR_MS)

    @property
    def current(self) -> Span:
        """``start``/``end`` keyword arguments of ``monitor`` for the current hour."""
        return {"start": iso(self.current_start), "end": iso(self.current_end)}


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def monitor_window(hours: Hours) -> list[str]:
    """The ``--from``/``--to`` options of ``shipyard monitor`` for the current hour."""
    return ["--from", iso(hours.current_start), "--to", iso(hours.current_end)]
