"""Verified ONNX export: verified, refused with the mismatching rows, unsupported steps named, attached.

The refusals are checked on real scikit-learn models converted by the real skl2onnx: a bare estimator fitted
on several numeric columns (exported by joining its one-per-column inputs into the matrix it expects), the
same with a text column (refused, saying why and what to change). String imputers over text with NaN
(exported through a sentinel for missing text, or refused by their path) are in ``test_onnx_text_imputers.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import shipyard
from shipyard.models.onnx_export import verification_rows
from shipyard.models.onnx_flavor import onnx_feeds
from shipyard.models.signature import infer_signature


@pytest.fixture
def frame() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(4)
    size = 400
    data = pd.DataFrame({
        "tenure": rng.integers(1, 72, size),
        "charges": np.where(rng.random(size) < 0.05, np.nan, rng.uniform(18, 120, size)),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], size),
        "payment": rng.choice(["card", "check", "transfer"], size),
    })
    target = ((data["contract"] == "Month-to-month") & (data["tenure"] < 30)).astype(int)
    return data, target


def register(model: Pipeline, data: pd.DataFrame, target: pd.Series) -> str:
    with shipyard.start_run():
        info = shipyard.log_model(model.fit(data, target), input_example=data)
    version = shipyard.register_model(info, "churn")
    return version.uri


def pipeline(estimator: object, numeric_extra: list[tuple[str, object]] | None = None) -> Pipeline:
    numeric = Pipeline([*(numeric_extra or []), ("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler())])
    prepare = ColumnTransformer([("numeric", numeric, ["tenure", "charges"]),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), ["contract", "payment"])])
    return Pipeline([("prepare", prepare), ("model", estimator)])


@pytest.mark.parametrize("estimator", [LogisticRegression(), GradientBoostingClassifier(n_estimators=20)],
                         ids=["logistic", "boosting"])
def test_verified_export_is_written_and_attached(frame, estimator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, target = frame
    uri = register(pipeline(estimator), data, target)
    report = shipyard.export_onnx(uri, tmp_path / "churn.onnx")
    assert report.max_abs_diff <= 1e-5
    assert report.rows_checked >= 20 + 3 + 3 + 2  # example + every level + missing + range edges
    session = onnxruntime.InferenceSession((tmp_path / "churn.onnx").read_bytes(), providers=["CPUExecutionProvider"])
    loaded = shipyard.load_model(uri)
    checked = loaded.check_input(data.head(50))
    labels, probabilities = session.run(None, onnx_feeds(loaded.signature, checked))
    np.testing.assert_array_equal(labels.reshape(-1), loaded.predict(data.head(50)))
    np.testing.assert_allclose(probabilities, loaded.predict_proba(data.head(50)).to_numpy(), atol=1e-5)
    tags = shipyard.get_model_version("churn", 1).tags
    assert tags["onnx.hash"] == report.onnx_hash and tags["onnx.path"] == "model/model.onnx"
    assert report.attached_to == "models:/churn/1"


def test_a_disagreement_is_refused_with_the_rows(frame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, target = frame
    uri = register(pipeline(LogisticRegression()), data, target)
    with pytest.raises(shipyard.VerificationError, match="disagrees with the Python model") as caught:
        shipyard.export_onnx(uri, tmp_path / "churn.onnx", tolerance=0.0)  # float32 cannot match to the last bit
    assert caught.value.mismatches and {"row", "python_label", "onnx_label", "max_abs_diff", "input"} <= set(
        caught.value.mismatches[0])
    assert not (tmp_path / "churn.onnx").exists()
    assert "onnx.hash" not in shipyard.get_model_version("churn", 1).tags


def test_an_unsupported_step_is_named(frame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data, target = frame
    custom = [("log", FunctionTransformer(np.log1p))]
    with shipyard.start_run():
        info = shipyard.log_model(pipeline(LogisticRegression(), custom).fit(data, target), input_example=data,
                                  serializer="pickle")
    with pytest.raises(shipyard.ValidationError, match="trust=True"):
        shipyard.export_onnx(info.uri, tmp_path / "x.onnx")  # a pickled package is refused before converting
    uri = register(pipeline(LogisticRegression(), [("clip", FunctionTransformer(np.clip, kw_args={"a_min": 0,
                                                                                                  "a_max": 100}))]),
                   data, target)
    with pytest.raises(shipyard.ValidationError, match=r"step 'prepare/numeric/clip' \(FunctionTransformer\)"):
        shipyard.export_onnx(uri, tmp_path / "x.onnx", trust=["numpy.clip"])


def test_verification_rows_visit_levels_missing_and_edges(frame) -> None:  # type: ignore[no-untyped-def]
    data, _ = frame
    signature = infer_signature(data)
    rows = verification_rows(signature, data.head(2).to_dict("records"))
    contracts = {row["contract"] for row in rows}
    assert {"Month-to-month", "One year", "Two year", None} <= contracts
    charges = [row["charges"] for row in rows]
    assert any(value is None for value in charges)
    assert max(value for value in charges if value is not None) > data["charges"].max()


def test_an_onnx_graph_is_a_flavor_of_its_own(frame, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import onnx

    data, target = frame
    uri = register(pipeline(LogisticRegression()), data, target)
    shipyard.export_onnx(uri, tmp_path / "churn.onnx", attach=False)
    with shipyard.start_run():
        info = shipyard.log_model(onnx.load(str(tmp_path / "churn.onnx")), "onnx-model", input_example=data,
                                  y_example=target)
    loaded = shipyard.load_model(info.uri)
    assert loaded.manifest["flavor"] == "onnx" and loaded.manifest["serializer"] == "onnx"
    assert loaded.signature.output.classes == (0, 1)
    python_model = shipyard.load_model(uri)
    np.testing.assert_array_equal(loaded.predict(data.head(30)), python_model.predict(data.head(30)))
    np.testing.assert_allclose(loaded.predict_proba(data.head(30)).to_numpy(),
                               python_model.predict_proba(data.head(30)).to_numpy(), atol=1e-5)


NUMERIC_COLUMNS = ["tenure", "charges", "total", "age"]


@pytest.fixture
def numbers() -> tuple[pd.DataFrame, pd.Series]:
    """Four numeric columns (no missing values: a bare LogisticRegression cannot take NaN)."""
    rng = np.random.default_rng(11)
    size = 300
    data = pd.DataFrame({"tenure": rng.integers(1, 72, size), "charges": rng.uniform(18, 120, size).round(2),
                         "total": rng.uniform(0, 8000, size).round(2), "age": rng.integers(18, 90, size)})
    target = ((data["tenure"] < 30) ^ (data["charges"] > 90)).astype(int)
    return data, target


def test_a_bare_estimator_on_numeric_columns_is_exported_with_its_inputs_joined(numbers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One ONNX input per column, joined into the one matrix the estimator was fitted on, in its column order."""
    data, target = numbers
    shuffled = data[["age", "total", "tenure", "charges"]]  # the estimator's own order, not alphabetical
    with shipyard.start_run():
        info = shipyard.log_model(LogisticRegression(max_iter=1000).fit(shuffled, target), input_example=shuffled)
    uri = shipyard.register_model(info, "bare").uri
    report = shipyard.export_onnx(uri, tmp_path / "bare.onnx")
    assert report.max_abs_diff <= 1e-5 and report.attached_to == "models:/bare/1"
    session = onnxruntime.InferenceSession((tmp_path / "bare.onnx").read_bytes(), providers=["CPUExecutionProvider"])
    assert sorted(item.name for item in session.get_inputs()) == sorted(NUMERIC_COLUMNS)
    loaded = shipyard.load_model(uri)
    labels, probabilities = session.run(None, onnx_feeds(loaded.signature, loaded.check_input(shuffled)))
    np.testing.assert_array_equal(labels.reshape(-1), loaded.predict(shuffled))
    np.testing.assert_allclose(probabilities, loaded.predict_proba(shuffled).to_numpy(), atol=1e-5)


def test_a_bare_estimator_on_text_and_numbers_is_refused_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    data = pd.DataFrame({"contract": pd.Categorical(rng.choice(["monthly", "yearly"], 200)),
                         "tenure": rng.integers(1, 72, 200)})
    target = ((data["contract"] == "monthly") & (data["tenure"] < 40)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5).fit(data, target)  # takes pandas categories itself
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=data)
    with pytest.raises(shipyard.ValidationError) as caught:
        shipyard.export_onnx(info.uri, tmp_path / "mixed.onnx",
                             trust=["functools.partial", "sklearn.utils.validation.check_array"])
    message = caught.value.message
    assert message.startswith(f"Cannot convert {info.uri} to ONNX: the model (HistGradientBoostingClassifier) takes "
                              "the columns as one matrix, but an ONNX graph gets one input per column (2: contract, "
                              "tenure)"), message
    assert "text column contract cannot be joined with numbers into one tensor" in message, message
    assert "ColumnTransformer" in message and "OneHotEncoder" in message, message
    assert not (tmp_path / "mixed.onnx").exists()


def test_columns_whose_names_are_no_identifiers_keep_their_names_as_graph_inputs(tmp_path: Path) -> None:
    """skl2onnx renames an input 'mean radius' to 'mean_radius'; every feed builder keys by the column's name, so
    the export restores the names (the breast-cancer frame failed to verify before)."""
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"mean radius": rng.normal(14, 3, 300), "worst area (cm²)": rng.normal(800, 200, 300),
                         "plan-type": rng.choice(["basic", "pro"], 300)})
    target = ((data["mean radius"] > 14) ^ (data["plan-type"] == "pro")).astype(int)
    prepare = ColumnTransformer([("numeric", StandardScaler(), ["mean radius", "worst area (cm²)"]),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), ["plan-type"])])
    uri = register(Pipeline([("prepare", prepare), ("model", LogisticRegression())]), data, target)
    report = shipyard.export_onnx(uri, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["mean radius", "worst area (cm²)", "plan-type"]
    assert report.max_abs_diff < 1e-5 and report.attached_to == uri
    served = shipyard.load_model(uri)
    signature = served.signature
    _, probabilities = session.run(None, onnx_feeds(signature, data))
    assert np.abs(probabilities - served.predict_proba(data).to_numpy()).max() < 1e-5
