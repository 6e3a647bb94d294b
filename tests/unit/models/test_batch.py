"""Batch scoring of real files: chunks, id columns, metadata, bad rows, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard


@pytest.fixture
def model_and_data(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(2)
    size = 1000
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 72, size).astype("float64"),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], size),
    })
    target = ((frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)).astype(int)
    prepare = ColumnTransformer([("num", SimpleImputer(), ["tenure"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract"])])
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression())]).fit(frame, target)
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=frame)
    shipyard.register_model(info, "churn")
    live = frame.copy()
    live.insert(0, "customer_id", [f"c{index:04d}" for index in range(size)])
    return frame, live


def test_parquet_in_several_chunks_matches_direct_scoring(model_and_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame, live = model_and_data
    live.to_parquet(tmp_path / "in.parquet")
    result = shipyard.predict_batch("models:/churn/1", tmp_path / "in.parquet", tmp_path / "out.parquet",
                                    batch_size=300, id_columns=["customer_id"])
    assert (result.rows_in, result.rows_out, result.skipped) == (1000, 1000, [])
    assert result.ignored_columns == []  # the id column is not "ignored": it is copied
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["customer_id", "prediction", "proba_0", "proba_1"]
    metadata = table.schema.metadata
    assert metadata[b"shipyard.model_name"] == b"churn" and metadata[b"shipyard.model_version"] == b"1"
    output = table.to_pandas()
    assert output["customer_id"].tolist() == live["customer_id"].tolist()
    direct = shipyard.load_model("models:/churn/1")
    np.testing.assert_allclose(output[["proba_0", "proba_1"]].to_numpy(), direct.predict_proba(frame).to_numpy())
    assert output["prediction"].tolist() == direct.predict(frame).tolist()


def test_a_bad_row_fails_with_its_number_and_column(model_and_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, live = model_and_data
    live["tenure"] = live["tenure"].astype(object)  # a CSV cell is text: one of them does not spell a number
    live.loc[737, "tenure"] = "unknown"
    live.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(shipyard.ValidationError, match=r"row 737 .*column 'tenure'") as caught:
        shipyard.predict_batch("models:/churn/1", tmp_path / "in.csv", tmp_path / "out.parquet", batch_size=250)
    assert caught.value.field == "tenure" and "on-error skip" in (caught.value.hint or "")
    shipyard.predict_batch("models:/churn/1", tmp_path / "in.csv", tmp_path / "fine.parquet", on_error="skip")
    assert not (tmp_path / "out.parquet").exists()  # nothing half-written
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".tmp")] == []  # no temp file left


def test_skip_leaves_bad_rows_out_and_lists_them(model_and_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, live = model_and_data
    live = live.astype({"tenure": object})
    live.loc[[5, 640], "tenure"] = "twelve"
    live.loc[10, "contract"] = "Weekly"  # unseen level: accepted and counted, not an error
    live.to_csv(tmp_path / "in.csv", index=False)
    result = shipyard.predict_batch("models:/churn/1", tmp_path / "in.csv", tmp_path / "out.csv", batch_size=300,
                                    id_columns=["customer_id"], on_error="skip")
    assert (result.rows_in, result.rows_out) == (1000, 998)
    assert [item["row"] for item in result.skipped] == [5, 640]
    assert result.unseen_levels == {"contract": 1}
    errors = pd.read_csv(result.errors_file)
    assert errors["column"].tolist() == ["tenure", "tenure"]
    output = pd.read_csv(tmp_path / "out.csv")
    assert "c0005" not in set(output["customer_id"]) and len(output) == 998
    sidecar = json.loads((tmp_path / "out.csv.meta.json").read_text())
    assert sidecar["shipyard.model_uri"] == "models:/churn/1"


def test_bad_arguments(model_and_data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, live = model_and_data
    live.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(shipyard.NotFoundError, match="does not exist"):
        shipyard.predict_batch("models:/churn/1", tmp_path / "missing.csv", tmp_path / "out.csv")
    with pytest.raises(shipyard.ValidationError, match=r"must be a \.csv or \.parquet"):
        shipyard.predict_batch("models:/churn/1", tmp_path / "in.parquet", tmp_path / "out.json")
    with pytest.raises(shipyard.ValidationError, match="on_error"):
        shipyard.predict_batch("models:/churn/1", tmp_path / "in.parquet", tmp_path / "o.csv", on_error="ignore")
    with pytest.raises(shipyard.ValidationError, match="Id column 'id'"):
        shipyard.predict_batch("models:/churn/1", tmp_path / "in.parquet", tmp_path / "o.csv", id_columns=["id"])
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(shipyard.ValidationError, match="Cannot read broken.parquet"):
        shipyard.predict_batch("models:/churn/1", tmp_path / "broken.parquet", tmp_path / "o.csv")
