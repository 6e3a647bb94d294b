"""``shipyard models export-onnx`` as a user runs it: the console script in a child process, on models logged
with the real API. A bare estimator on numeric columns is exported (its inputs joined); the refusals are one
``Error:`` line with exit code 2 that says what is wrong and where: a text column that cannot be joined into
the estimator's matrix, or a pipeline step whose conversion cannot answer as Python does, named by its path.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from tests.e2e.conftest import ErrorCheck, ScriptRunner

pytestmark = pytest.mark.slow  # each command imports scikit-learn, skl2onnx and onnxruntime (~3 s)
WIDE = {"COLUMNS": "400"}


def register(model: object, data: pd.DataFrame, name: str) -> str:
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=data)
    return shipyard.register_model(info, name).uri


def test_a_bare_estimator_on_four_numeric_columns_exports(run_script: ScriptRunner, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(21)
    data = pd.DataFrame({"tenure": rng.integers(1, 72, 300), "charges": rng.uniform(18, 120, 300).round(2),
                         "total": rng.uniform(0, 8000, 300).round(2), "age": rng.integers(18, 90, 300)})
    uri = register(LogisticRegression(max_iter=1000).fit(data, data["tenure"] < 30), data, "bare")

    done = run_script("models", "export-onnx", uri, "-o", "bare.onnx", env=WIDE)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and done.stderr == "", done.stdout + done.stderr
    assert re.fullmatch(r"Verified on \d+ rows \(largest probability difference [0-9.e-]+ <= 1e-05\); wrote "
                        r"bare\.onnx; attached to models:/bare/1\.", lines[0]), lines[0]
    assert (tmp_path / "bare.onnx").stat().st_size > 0


def test_refusals_are_one_line_naming_the_cause(run_script: ScriptRunner, input_error: ErrorCheck,
                                                tmp_path: Path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(22)
    mixed = pd.DataFrame({"contract": pd.Categorical(rng.choice(["monthly", "yearly"], 200)),
                          "tenure": rng.integers(1, 72, 200)})
    mixed_uri = register(HistGradientBoostingClassifier(max_iter=5).fit(mixed, mixed["tenure"] < 30), mixed,
                         "mixed")
    data = pd.DataFrame({"tenure": rng.integers(1, 72, 200).astype(float),
                         "contract": rng.choice(["monthly", "yearly", None], 200)})
    text = Pipeline([("imp", SimpleImputer(strategy="most_frequent", add_indicator=True)),
                     ("hot", OneHotEncoder(handle_unknown="ignore"))])
    prepare = ColumnTransformer([("num", StandardScaler(), ["tenure"]), ("cat", text, ["contract"])])
    imputer_uri = register(Pipeline([("pre", prepare), ("model", LogisticRegression())]).fit(
        data, data["tenure"] < 30), data, "imputer")

    trust = ["--trust", "functools.partial", "--trust", "sklearn.utils.validation.check_array"]
    refused_mixed = run_script("models", "export-onnx", mixed_uri, "-o", "mixed.onnx", *trust, env=WIDE)
    refused_imputer = run_script("models", "export-onnx", imputer_uri, "-o", "imputer.onnx", env=WIDE)

    line = input_error(refused_mixed.returncode, refused_mixed.stdout, refused_mixed.stderr)
    assert line.startswith("Error: Cannot convert models:/mixed/1 to ONNX: the model (HistGradientBoostingClassifier) "
                           "takes the columns as one matrix, but an ONNX graph gets one input per column"), line
    assert "text column contract cannot be joined with numbers" in line and "ColumnTransformer" in line, line
    line = input_error(refused_imputer.returncode, refused_imputer.stdout, refused_imputer.stderr)
    assert line.startswith("Error: Cannot convert models:/imputer/1 to ONNX: step 'pre/cat/imp' (SimpleImputer) "
                           "imputes text with add_indicator=True"), line
    assert not (tmp_path / "mixed.onnx").exists() and not (tmp_path / "imputer.onnx").exists()
