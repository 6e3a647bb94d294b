"""``shipyard predict`` with infinity, numbers past the model's input type and a model that answers NaN, in real
processes: exit 2 naming the column and row for the input, exit 1 (and no output file) for the model's answer.

Before: ``inf`` in a CSV crashed with scikit-learn's ValueError (exit 1, "Unexpected error"), ``1e39`` scored
through an ONNX graph with exit 0 and the answer of +infinity, and NaN probabilities were written with exit 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import shipyard
from tests._tiny_model import COLUMNS, GOOD_ROW, NAN_ROW, tiny_frame, tiny_graph, tiny_pipeline
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow
SKIP_HINT = ("Hint: Use --on-error skip (on_error='skip' in Python) to score the other rows and list the bad ones in "
             "OUTPUT.errors.csv.")


@pytest.fixture
def models() -> None:
    pipeline = tiny_pipeline()
    frame, target = tiny_frame()
    with shipyard.start_run():
        shipyard.register_model(shipyard.log_model(pipeline, input_example=frame, y_example=target), "tiny")
    with shipyard.start_run():
        shipyard.register_model(shipyard.log_model(tiny_graph(pipeline), input_example=frame, y_example=target),
                                "graph")
    shipyard.set_store(None)


def _rows(tmp_path: Path, name: str, rows: list[dict[str, object]]) -> str:
    pd.DataFrame(rows)[COLUMNS].to_csv(tmp_path / name, index=False)
    return name


@pytest.mark.parametrize("uri", ["models:/tiny/1", "models:/graph/1"])
def test_infinity_in_a_csv_is_an_input_error_naming_row_and_column(
        run_script: ScriptRunner, input_error: ErrorCheck, models: None, tmp_path: Path, uri: str) -> None:
    (tmp_path / "inf.csv").write_text("x1,x2\n0.0004,0.0007\n0.0001,0.0002\n0.0003,-inf\n")
    done = run_script("predict", uri, "inf.csv", "-o", "out.csv")
    line = input_error(done.returncode, done.stdout, done.stderr, extra_lines=[SKIP_HINT])
    assert "row 2" in line and "'x2'" in line and "not a finite number" in line, line


def test_a_number_past_float32_is_an_input_error_for_an_onnx_model(
        run_script: ScriptRunner, input_error: ErrorCheck, models: None, tmp_path: Path) -> None:
    name = _rows(tmp_path, "big.csv", [GOOD_ROW, {**GOOD_ROW, "x1": 1e39}])
    done = run_script("predict", "models:/graph/1", name, "-o", "out.csv")
    line = input_error(done.returncode, done.stdout, done.stderr, extra_lines=[SKIP_HINT])
    assert "row 1" in line and "'x1'" in line and "float32" in line, line
    assert run_script("predict", "models:/tiny/1", name, "-o", "out.csv").returncode == 0  # float64 holds 1e39


def test_a_model_answering_nan_fails_the_run_and_writes_nothing(run_script: ScriptRunner, models: None,
                                                                tmp_path: Path) -> None:
    name = _rows(tmp_path, "nan.csv", [GOOD_ROW, GOOD_ROW, NAN_ROW])
    done = run_script("predict", "models:/graph/1", name, "-o", "out.csv")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Unexpected error" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), done.stderr
    assert "row 2" in lines[0] and "not finite" in lines[0] and "nan.csv" in lines[0], lines[0]
    assert not (tmp_path / "out.csv").exists()
