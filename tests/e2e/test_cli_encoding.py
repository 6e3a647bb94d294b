"""Data files that are not UTF-8, through every command that reads a data file's content, in real processes.

The probe of issue 16: a CSV saved as latin-1 (one ``Chèque`` in 200 rows) was scored with exit 0 and wrong
answers, because Arrow reads a column that is not valid UTF-8 as ``binary``. Text is now decoded strictly: the
command exits 2 with one line naming the file, the row and the byte offset, and ``--encoding`` reads the file as
what it is.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import shipyard
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow  # each test runs the console script in child processes
ROWS = 200
BAD_ROW = 135
LEVELS = ["card", "Chèque", "transfer"]


@pytest.fixture
def live() -> pd.DataFrame:
    """``models:/churn/1`` trained on text with a non-ASCII level, and 200 fresh rows with one ``Chèque``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(16)
    train = pd.DataFrame({"tenure": rng.integers(1, 72, 600), "monthly_charges": rng.uniform(18, 120, 600).round(2),
                          "payment": rng.choice(LEVELS, 600)})
    target = ((train["payment"] == "Chèque") | (train["tenure"] < 20)).astype(int)
    prepare = ColumnTransformer([("num", "passthrough", ["tenure", "monthly_charges"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["payment"])])
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=1000))]).fit(train, target)
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=train, y_example=target)
    shipyard.register_model(info, "churn")
    shipyard.set_store(None)  # the children open the store themselves
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, ROWS), "monthly_charges": rng.uniform(18, 120, ROWS).round(2),
                          "payment": rng.choice(["card", "transfer"], ROWS)})
    frame.loc[BAD_ROW, "payment"] = "Chèque"
    return frame.assign(customer_id=[f"c{index:03d}" for index in range(ROWS)])


def _save(frame: pd.DataFrame, path: Path, encoding: str) -> bytes:
    frame.to_csv(path, index=False, encoding=encoding)
    return path.read_bytes()


def _error_line(check: ErrorCheck, done: object) -> str:
    return check(done.returncode, done.stdout, done.stderr)  # type: ignore[attr-defined]


def test_a_latin1_csv_is_refused_naming_row_and_byte_and_reads_with_encoding(
        run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame, tmp_path: Path) -> None:
    data = _save(live, tmp_path / "latin1.csv", "latin-1")
    _save(live, tmp_path / "utf8.csv", "utf-8")
    offset = data.index(b"\xe8")

    refused = run_script("predict", "models:/churn/1", "latin1.csv", "-o", "out.csv")
    line = _error_line(input_error, refused)
    assert "latin1.csv" in line and f"row {BAD_ROW}" in line and f"byte offset {offset}" in line, line
    assert "'payment'" in line and "--encoding latin-1" in line and "UTF-8" in line, line
    assert not (tmp_path / "out.csv").exists()

    assert run_script("predict", "models:/churn/1", "utf8.csv", "-o", "utf8.out.csv").returncode == 0
    done = run_script("predict", "models:/churn/1", "latin1.csv", "-o", "latin1.out.csv", "--encoding", "latin-1")
    assert done.returncode == 0, done.stderr
    expected, scored = pd.read_csv(tmp_path / "utf8.out.csv"), pd.read_csv(tmp_path / "latin1.out.csv")
    assert len(scored) == ROWS
    assert scored["prediction"].tolist() == expected["prediction"].tolist()
    assert (scored[["proba_0", "proba_1"]].to_numpy() == expected[["proba_0", "proba_1"]].to_numpy()).all()


def test_a_latin1_id_column_is_refused_too(run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame,
                                           tmp_path: Path) -> None:
    """The model's own columns are plain ASCII here: before, the ids came out as raw bytes with exit 0."""
    ids = live.assign(payment="card", customer_id=[f"Chèque-{index}" if index == BAD_ROW else f"c{index}"
                                                   for index in range(ROWS)])
    offset = _save(ids, tmp_path / "ids.csv", "latin-1").index(b"\xe8")
    done = run_script("predict", "models:/churn/1", "ids.csv", "-o", "out.parquet", "--id-column", "customer_id")
    line = _error_line(input_error, done)
    assert f"row {BAD_ROW}" in line and "'customer_id'" in line and f"byte offset {offset}" in line
    assert not (tmp_path / "out.parquet").exists()
    scored = run_script("predict", "models:/churn/1", "ids.csv", "-o", "out.parquet", "--id-column", "customer_id",
                        "--encoding", "latin-1")
    assert scored.returncode == 0, scored.stderr
    table = pq.read_table(tmp_path / "out.parquet")
    assert pa.types.is_large_string(table.schema.field("customer_id").type)  # text, as from a UTF-8 file
    assert table.column("customer_id")[BAD_ROW].as_py() == f"Chèque-{BAD_ROW}"


def test_a_binary_parquet_column_where_the_model_takes_text_is_an_input_error(
        run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame, tmp_path: Path) -> None:
    table = pa.Table.from_pandas(live, preserve_index=False)
    raw = pa.array([value.encode("latin-1") for value in live["payment"]], pa.binary())
    table = table.set_column(table.schema.get_field_index("payment"), "payment", raw)
    pq.write_table(table, tmp_path / "binary.parquet")
    line = _error_line(input_error, run_script("predict", "models:/churn/1", "binary.parquet", "-o", "out.csv"))
    assert "binary.parquet" in line and "'payment'" in line and "binary" in line and "text" in line, line


def test_a_text_parquet_column_where_the_model_takes_numbers_names_the_column(
        run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame, tmp_path: Path) -> None:
    live.assign(monthly_charges=live["monthly_charges"].astype(str)).to_parquet(tmp_path / "text.parquet")
    done = run_script("predict", "models:/churn/1", "text.parquet", "-o", "out.csv", "--on-error", "skip")
    line = _error_line(input_error, done)
    assert "'monthly_charges'" in line and "text" in line and "float" in line, line
    assert not (tmp_path / "out.csv.errors.csv").exists()  # a column's type is not 200 bad rows


def test_monitor_compare_refuses_a_latin1_file_and_reads_it_with_encoding(
        run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame, tmp_path: Path) -> None:
    reference = live.assign(payment=[LEVELS[index % 3] for index in range(ROWS)])
    data = _save(reference, tmp_path / "reference.csv", "latin-1")
    _save(reference, tmp_path / "current.csv", "utf-8")
    offset = data.index(b"\xe8")

    # Before: exit 0, "nothing out of line", the text column read as bytes and compared for missing values only.
    line = _error_line(input_error, run_script("monitor", "compare", "reference.csv", "current.csv"))
    assert "reference.csv" in line and "row 1" in line and f"byte offset {offset}" in line, line
    assert "--encoding latin-1" in line
    swapped = _error_line(input_error, run_script("monitor", "compare", "current.csv", "reference.csv"))
    assert "reference.csv" in swapped and f"byte offset {offset}" in swapped

    done = run_script("monitor", "compare", "reference.csv", "reference.csv", "--encoding", "latin-1", "--json")
    assert done.returncode == 0, done.stderr
    assert '"payment"' in done.stdout and "neither numeric nor categorical" not in done.stdout


def test_the_promotion_gate_refuses_a_latin1_holdout(run_script: ScriptRunner, input_error: ErrorCheck,
                                                    live: pd.DataFrame, tmp_path: Path) -> None:
    holdout = live.assign(churn=(live["tenure"] < 20).astype(int))
    offset = _save(holdout, tmp_path / "holdout.csv", "latin-1").index(b"\xe8")
    args = ["models", "promote", "churn", "--candidate", "1", "--data", "holdout.csv", "--target", "churn"]
    line = _error_line(input_error, run_script(*args))
    assert "holdout.csv" in line and f"row {BAD_ROW}" in line and f"byte offset {offset}" in line, line
    assert "--encoding latin-1" in line
    done = run_script(*args, "--encoding", "latin-1")
    assert done.returncode == 0, done.stderr
    assert re.search(r"PROMOTED", done.stdout), done.stdout
