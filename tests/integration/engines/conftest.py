"""A registered churn model and Parquet inputs to score, shared by the Spark and Dask engine tests.

The reference every engine must match is the local engine (:func:`shipyard.predict_batch`) on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard
from shipyard.engines.pieces import Job, Summary
from shipyard.engines.plan import Piece
from shipyard.engines.run import Engine
from shipyard.engines.shipment import Shipment

ROWS = 3_000


@dataclass(frozen=True)
class Churn:
    uri: str
    live: pd.DataFrame  # customer_id, tenure (integer), monthly_charges, contract, note (a column the model ignores)


def churn_model(rows: int = ROWS) -> Churn:
    """``models:/churn/1``: a scikit-learn pipeline with imputers and one-hot, logged and registered; fresh rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(19)
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, rows), "monthly_charges": rng.uniform(18, 120, rows).round(2),
                          "contract": rng.choice(["Month-to-month", "One year", "Two year"], rows)})
    target = ((frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)) | (frame["monthly_charges"] > 110)
    prepare = ColumnTransformer([("num", SimpleImputer(), ["tenure", "monthly_charges"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract"])])
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=500))]).fit(frame, target.astype(int))
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=frame)
    shipyard.register_model(info, "churn")
    live = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    live.insert(0, "customer_id", [f"c{index:05d}" for index in range(rows)])
    live["note"] = "n"
    return Churn("models:/churn/1", live)


def write_parts(frame: pd.DataFrame, folder: Path, *, files: int = 3, row_group_size: int = 400) -> Path:
    """``frame`` as ``files`` Parquet files in ``folder`` (name order = row order), several row groups each."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, chunk in enumerate(np.array_split(np.arange(len(frame)), files)):
        table = pa.Table.from_pandas(frame.iloc[chunk], preserve_index=False)
        pq.write_table(table, folder / f"part-{index:03d}.parquet", row_group_size=row_group_size)
    return folder


@pytest.fixture
def churn() -> Churn:
    return churn_model()


def assert_same_output(engine_output: Path | str, local_output: Path) -> None:
    """Same columns, same ids in the same order, same labels, probabilities equal to 1e-12, same model metadata."""
    ours, reference = pq.read_table(engine_output), pq.read_table(local_output)
    assert ours.column_names == reference.column_names
    metadata = {key: value for key, value in (ours.schema.metadata or {}).items() if key.startswith(b"shipyard.")}
    assert metadata == {key: value for key, value in (reference.schema.metadata or {}).items()
                        if key.startswith(b"shipyard.")}
    ours_frame, reference_frame = ours.to_pandas(), reference.to_pandas()
    assert len(ours_frame) == len(reference_frame)
    assert ours_frame["customer_id"].tolist() == reference_frame["customer_id"].tolist()
    assert ours_frame["prediction"].tolist() == reference_frame["prediction"].tolist()
    probabilities = [name for name in reference.column_names if name.startswith("proba_")]
    np.testing.assert_allclose(ours_frame[probabilities].to_numpy(), reference_frame[probabilities].to_numpy(),
                               rtol=0, atol=1e-12)


class RecordingEngine:
    """An engine that keeps the pieces' summaries for the test to read (an Engine, as the protocol says)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.summaries: list[Summary] = []

    @property
    def parallelism(self) -> int:
        return self.engine.parallelism

    def score(self, shipment: Shipment, pieces: list[Piece], job: Job) -> list[Summary]:
        self.summaries = self.engine.score(shipment, pieces, job)
        return self.summaries
