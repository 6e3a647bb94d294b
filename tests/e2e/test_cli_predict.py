"""``shipyard predict`` as a user runs it, in a real process: what a file with bad rows, bad columns or values
that need converting gives, and that scoring nothing is never a success."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import shipyard
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow  # each test runs `shipyard predict` in a child process (seconds each)
ROWS = 200
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def live() -> pd.DataFrame:
    """``models:/churn/1`` (integer tenure, float monthly_charges, text contract) and fresh rows to score."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"tenure": rng.integers(1, 72, ROWS), "monthly_charges": rng.uniform(18, 120, ROWS).round(2),
                          "contract": rng.choice(["Month-to-month", "One year", "Two year"], ROWS)})
    target = ((frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)).astype(int)
    prepare = ColumnTransformer([("num", SimpleImputer(), ["tenure", "monthly_charges"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract"])])
    model = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=500))]).fit(frame, target)
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=frame)
    shipyard.register_model(info, "churn")
    shipyard.set_store(None)  # the children open the store themselves
    return frame.assign(customer_id=[f"c{index:03d}" for index in range(ROWS)])


def _lines(text: str) -> list[str]:
    return [line for line in _ANSI.sub("", text).splitlines() if line.strip()]


def test_every_row_bad_with_skip_is_a_failure_naming_the_errors_file(run_script: ScriptRunner, live: pd.DataFrame,
                                                                    tmp_path) -> None:  # type: ignore[no-untyped-def]
    live.assign(tenure="twelve").to_csv(tmp_path / "bad.csv", index=False)
    done = run_script("predict", "models:/churn/1", "bad.csv", "-o", "out.csv", "--on-error", "skip")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = _lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error:") and "no row" in lines[0].lower() and f"{ROWS}" in lines[0]
    assert "out.csv.errors.csv" in lines[0]
    assert not (tmp_path / "out.csv").exists()  # nothing pretends to be a result
    errors = pd.read_csv(tmp_path / "out.csv.errors.csv")
    assert len(errors) == ROWS and set(errors["column"]) == {"tenure"}


def test_every_row_bad_without_skip_does_not_suggest_skipping(run_script: ScriptRunner, live: pd.DataFrame,
                                                               tmp_path) -> None:  # type: ignore[no-untyped-def]
    live.assign(tenure="twelve").to_parquet(tmp_path / "bad.parquet")
    done = run_script("predict", "models:/churn/1", "bad.parquet", "-o", "out.parquet")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "'tenure'" in done.stderr and "twelve" in done.stderr
    assert "on-error" not in done.stderr  # skipping every row would score nothing: never suggest it
    assert not (tmp_path / "out.parquet").exists()


def test_one_bad_row_names_it_and_suggests_skipping(run_script: ScriptRunner, live: pd.DataFrame,
                                                    tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = live.astype({"tenure": object})
    bad.loc[7, "tenure"] = "twelve"
    bad.to_csv(tmp_path / "one.csv", index=False)
    done = run_script("predict", "models:/churn/1", "one.csv", "-o", "out.csv")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = _lines(done.stderr)
    assert lines[0].startswith("Error:") and "row 7" in lines[0] and "'tenure'" in lines[0]
    assert "--on-error skip" in done.stderr
    skipped = run_script("predict", "models:/churn/1", "one.csv", "-o", "out.csv", "--on-error", "skip")
    assert skipped.returncode == 0, skipped.stderr
    assert f"Scored {ROWS - 1} of {ROWS} rows" in _ANSI.sub("", skipped.stdout)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_a_missing_column_fails_before_scoring(run_script: ScriptRunner, input_error: ErrorCheck, live: pd.DataFrame,
                                               tmp_path, on_error: str) -> None:  # type: ignore[no-untyped-def]
    live.drop(columns=["monthly_charges", "contract"]).to_csv(tmp_path / "partial.csv", index=False)
    done = run_script("predict", "models:/churn/1", "partial.csv", "-o", "out.csv", "--on-error", on_error)
    line = input_error(done.returncode, done.stdout, done.stderr)
    assert "partial.csv" in line and "'monthly_charges'" in line and "'contract'" in line
    assert "row" not in line.lower().replace("rows", "")  # a file error, not a row error
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.errors.csv").exists()


def test_csv_cells_are_read_as_their_columns_kind_losslessly(run_script: ScriptRunner, live: pd.DataFrame,
                                                             tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A CSV holds text: '3.0' in an integer column is 3, '2.5' is refused, '89.5' in a float column is a number."""
    text = live.astype({"tenure": object, "monthly_charges": object})
    text.loc[0, "tenure"] = "3.0"
    text.loc[1, "tenure"] = "2.5"
    text.loc[2, "monthly_charges"] = "89.5"
    text.to_csv(tmp_path / "mixed.csv", index=False)
    done = run_script("predict", "models:/churn/1", "mixed.csv", "-o", "out.csv", "--id-column", "customer_id",
                      "--on-error", "skip")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Scored {ROWS - 1} of {ROWS} rows" in _ANSI.sub("", done.stdout)
    errors = pd.read_csv(tmp_path / "out.csv.errors.csv")
    assert errors[["row", "column"]].values.tolist() == [[1, "tenure"]]
    assert "2.5" in errors["message"][0]
    scored = pd.read_csv(tmp_path / "out.csv").set_index("customer_id")
    expected = shipyard.load_model("models:/churn/1").predict_proba(
        live.drop(columns=["customer_id"]).iloc[[0, 2]].assign(tenure=[3, live["tenure"][2]],
                                                               monthly_charges=[live["monthly_charges"][0], 89.5]))
    np.testing.assert_allclose(scored.loc[["c000", "c002"], "proba_1"], expected["proba_1"], rtol=1e-6)


def test_typed_files_follow_the_same_rule_as_the_server(run_script: ScriptRunner, live: pd.DataFrame,
                                                        tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Parquet keeps types: a column of numbers stored as text is not numbers (an input error naming the column,
    not one bad row per value); 2.5 in an integer column is refused."""
    live.astype({"monthly_charges": str}).to_parquet(tmp_path / "text.parquet")
    done = run_script("predict", "models:/churn/1", "text.parquet", "-o", "out.parquet", "--on-error", "skip")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "'monthly_charges' holds text" in done.stderr and not (tmp_path / "out.parquet.errors.csv").exists()
    fractional = live.astype({"tenure": "float64"})
    fractional.loc[4, "tenure"] = 2.5
    fractional.to_parquet(tmp_path / "fraction.parquet")
    done = run_script("predict", "models:/churn/1", "fraction.parquet", "-o", "out.parquet", "--on-error", "skip",
                      "--json")
    assert done.returncode == 0, done.stderr
    assert '"skipped_rows": 1' in done.stdout
    assert pd.read_csv(tmp_path / "out.parquet.errors.csv")[["row", "column"]].values.tolist() == [[4, "tenure"]]
