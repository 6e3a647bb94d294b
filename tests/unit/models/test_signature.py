"""Signature inference and enforcement on mixed numeric/categorical data with missing values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import ValidationError
from shipyard.models.signature import Signature, infer_output, infer_signature, validate


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "tenure": rng.integers(1, 72, 200),
        "charges": np.where(rng.random(200) < 0.05, np.nan, rng.uniform(18.0, 120.0, 200)),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], 200),
        "paperless": rng.random(200) < 0.5,
    })


def test_inferred_columns(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    tenure, charges, contract, paperless = signature.inputs
    assert (tenure.kind, tenure.nullable, tenure.minimum, tenure.maximum) == (
        "integer", False, float(frame["tenure"].min()), float(frame["tenure"].max()))
    assert (charges.kind, charges.nullable) == ("float", True)
    assert contract.kind == "string" and contract.levels == ("Month-to-month", "One year", "Two year")
    assert paperless.kind == "boolean"
    assert Signature.from_dict(signature.to_dict()) == signature


def test_output_of_classifiers_and_regressors() -> None:
    class Classifier:
        classes_ = np.array(["no", "yes"])

        def predict(self, x: object) -> None: ...

        def predict_proba(self, x: object) -> None: ...

    class Regressor:
        def predict(self, x: object) -> None: ...

    output = infer_output(Classifier())
    assert output.kind == "classifier" and output.classes == ("no", "yes")
    assert output.probability_columns == ("proba_no", "proba_yes")
    assert infer_output(Regressor()).kind == "regressor"
    assert infer_output(None).kind == "unknown"


def test_numpy_input_gets_positional_names() -> None:
    signature = infer_signature(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert signature.column_names == ["x0", "x1"]
    checked, _ = validate(np.array([[5.0, 6.0]]), signature)
    assert list(checked.columns) == ["x0", "x1"]


def test_unseen_levels_out_of_range_and_missing_are_accepted_and_counted(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    live = frame.head(4).copy()
    live["contract"] = ["Weekly", "Weekly", "Two year", "Daily"]
    live["tenure"] = [1, 500, -3, 10]
    checked, report = validate(live, signature)
    assert report.unseen_levels == {"contract": {"Weekly": 2, "Daily": 1}}
    assert report.out_of_range == {"tenure": 2}
    assert checked["tenure"].dtype == "int64"
    live["tenure"] = [1.0, np.nan, 3.0, 4.0]
    _, report = validate(live, signature)
    assert report.missing == {"tenure": 1}


def test_extra_columns_are_dropped_with_one_warning(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    live = frame.head(2).assign(customer_id=["a", "b"], note="x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked, report = validate(live, signature)
    assert [str(item.message) for item in caught] == [
        "Dropping 2 column(s) the model does not use: customer_id, note."]
    assert report.dropped_columns == ["customer_id", "note"]
    assert list(checked.columns) == signature.column_names


def test_a_missing_column_is_refused_by_name(frame: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="missing column 'charges'") as caught:
        validate(frame.drop(columns=["charges"]), infer_signature(frame))
    assert caught.value.field == "charges"


def test_values_that_cannot_be_cast_are_refused_with_row_and_column(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    live = frame.head(3).astype({"charges": object})
    live.loc[live.index[1], "charges"] = "twelve"
    with pytest.raises(ValidationError, match=r"'charges' expects float values, got 'twelve' \(row 1\)"):
        validate(live, signature)
    live = frame.head(2).astype({"paperless": object})
    live.loc[live.index[0], "paperless"] = "maybe"
    with pytest.raises(ValidationError, match="'paperless' expects true/false"):
        validate(live, signature)


def test_numeric_strings_are_not_numbers(frame: pd.DataFrame) -> None:
    """Text that spells a number is refused like any text (docs/models.md, "Input values"); integers are taken."""
    signature = infer_signature(frame)
    live = frame.head(2).astype({"charges": object})
    live["charges"] = ["19.5", 20]
    with pytest.raises(ValidationError, match=r"got '19.5' \(row 0\); text is not a number"):
        validate(live, signature)
    live["charges"] = [19.5, 20]
    checked, _ = validate(live, signature)
    assert checked["charges"].tolist() == [19.5, 20.0]
