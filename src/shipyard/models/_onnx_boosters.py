"""XGBoost and LightGBM models in skl2onnx's conversion, alone or as a step of a scikit-learn pipeline.

skl2onnx knows scikit-learn's own estimators only; onnxmltools holds the converters of the two boosting
libraries' scikit-learn API classes (``XGBClassifier``, ``LGBMRegressor``, ...). Registering those converters
with skl2onnx (``update_registered_converter``) lets one ``convert_sklearn`` call turn a whole pipeline,
preprocessing included, into one graph. The export's verification then scores both models on the same rows:
labels must agree exactly, probabilities within the tolerance. Three differences between XGBoost in Python
and its graph would fail that check, so the copy handed to the converter is adjusted first:

- XGBoost fitted on a DataFrame names its features after the columns, which the converter cannot read
  ("should follow pattern 'f%d'"): the copy has the names cleared, leaving the positions.
- XGBoost reads every zero of a sparse matrix (what a ``ColumnTransformer`` with one-hot columns usually
  gives it) as missing, while the graph passes a dense tensor: a step turning zeros into NaN is put in front
  of the model when the step before it produced sparse output at fit time.
- XGBoost splits at values seen in training, so a scaled feature computed in float32 instead of float64 can
  fall on the other side of a split: scalers in front of XGBoost compute in double (skl2onnx's ``div_cast``),
  which is exact for whole numbers; for other numbers the graph still sees them rounded to float32 first, and
  when the verification then fails, its message names the scaler as the step to remove (trees need none).

Registration happens only when the model holds such an estimator, so exporting a plain scikit-learn pipeline
never imports xgboost, lightgbm or onnxmltools.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..extras import require
from ._onnx_steps import walk

ML_OPSET = 3  # the ai.onnx.ml version onnxmltools writes tree ensembles for
CLASSIFIER_OPTIONS: dict[str, list[Any]] = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
ZEROS_STEP = "sparse_zeros_as_missing"
SCALERS = ("StandardScaler", "RobustScaler", "MaxAbsScaler")


@dataclass
class Prepared:
    """What ``convert_sklearn`` gets: the estimator, the opsets (None: skl2onnx's default), step options."""

    estimator: Any
    target_opset: dict[str, int] | None = None
    options: dict[int, dict[str, Any]] = field(default_factory=dict)
    hint: str = ""  # a sentence for a failed verification: a step that moves rows across XGBoost's splits


@functools.cache
def zeros_as_missing() -> type:
    """The step turning zeros into NaN: what XGBoost does to the implicit zeros of a sparse matrix. A
    scikit-learn transformer (skl2onnx parses pipelines of those), built on first use so that importing this
    module stays free of scikit-learn."""
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin

    class ZerosAsMissing(TransformerMixin, BaseEstimator):
        def fit(self, features: Any, target: Any = None) -> Any:
            return self

        def transform(self, features: Any) -> Any:
            dense = np.asarray(features.toarray() if hasattr(features, "toarray") else features, dtype="float64")
            return np.where(dense == 0, np.nan, dense)

    return ZerosAsMissing


def sklearn_face(model: Any, uri: str) -> Any:
    """The scikit-learn object to convert for ``model``: itself, or, for a model the xgboost/lightgbm flavors
    stored natively, its preprocessing and estimator put back into one Pipeline.

    Those flavors load a predictor holding the fitted preprocessing (``preprocess``: a Pipeline, or None), the
    final step's name (``step``), the estimator's kind (``kind``: its scikit-learn class name, or ``Booster``)
    and the library's object (``estimator``: XGBoost's scikit-learn class itself; for LightGBM a Booster, since
    LightGBM cannot rebuild its wrapper from a file, which gets a face the onnxmltools converter reads).

    Raises:
        ValidationError: a raw Booster (no scikit-learn class says what it predicts), or native categorical
            columns (the graph's tree ensembles split on numbers only).
    """
    if not all(hasattr(model, name) for name in ("estimator", "preprocess", "kind", "categories")):
        return model
    if model.kind == "Booster":
        raise ValidationError(
            f"Cannot convert {uri} to ONNX: it is a raw {_library(model.estimator)} Booster; log the model as its "
            "scikit-learn class (XGBClassifier, LGBMRegressor, ...) to export it.", field="model")
    if model.categories:
        raise ValidationError(
            f"Cannot convert {uri} to ONNX: the model splits on native categorical columns "
            f"({', '.join(model.categories)}), which an ONNX tree ensemble cannot take; encode them in the pipeline "
            "(OneHotEncoder or OrdinalEncoder), fit again and export.", field="model")
    estimator = model.estimator
    if _library(estimator) == "lightgbm" and not hasattr(estimator, "booster_"):
        classes = getattr(model, "classes_", None)
        estimator = lightgbm_faces()[classes is not None](estimator, classes)
    if model.preprocess is None:
        return estimator
    from sklearn.pipeline import Pipeline

    return Pipeline([*model.preprocess.steps, (model.step or "model", estimator)])


@functools.cache
def lightgbm_faces() -> tuple[type, type]:
    """(regressor, classifier): a LightGBM Booster behind what the onnxmltools converter reads of the scikit-learn
    wrapper (``booster_``, ``boosting_type``, and ``classes_`` for a classifier), built on first use."""
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    class LightGBMRegressorFace(RegressorMixin, BaseEstimator):
        shipyard_library = "lightgbm"

        def __init__(self, booster: Any = None, classes: Any = None) -> None:
            self.booster = booster
            self.classes = classes
            self.booster_ = booster
            params = getattr(booster, "params", None) or {}  # a random forest's trees are averaged, not summed
            self.boosting_type = "rf" if params.get("boosting", params.get("boosting_type")) in (
                "rf", "random_forest") else "gbdt"

        def predict(self, features: Any) -> Any:
            return self.booster_.predict(features)

    class LightGBMClassifierFace(ClassifierMixin, LightGBMRegressorFace):
        def __init__(self, booster: Any = None, classes: Any = None) -> None:
            super().__init__(booster, classes)
            self.classes_ = classes

        def predict_proba(self, features: Any) -> Any:
            import numpy as np

            scores = np.asarray(self.booster_.predict(features))
            return np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores

    return LightGBMRegressorFace, LightGBMClassifierFace


def prepare_boosters(estimator: Any) -> Prepared:
    """``estimator`` ready for ``convert_sklearn``; unchanged (and nothing imported) without a booster inside."""
    libraries = {_library(step) for step in _estimators(estimator)} & {"xgboost", "lightgbm"}
    if not libraries:
        return Prepared(estimator)
    _register(libraries)
    from skl2onnx import get_latest_tested_opset_version

    prepared = Prepared(estimator, {"": get_latest_tested_opset_version(), "ai.onnx.ml": ML_OPSET})
    if "xgboost" not in libraries:
        return prepared
    prepared.estimator = estimator = copy.deepcopy(estimator)  # the loaded model stays as verification needs it
    for step in _estimators(estimator):
        if _library(step) == "xgboost" and hasattr(step, "get_booster"):
            step.get_booster().feature_names = None
    for holder in [estimator, *(step for _path, step in walk(estimator))]:
        steps = getattr(holder, "steps", None) or []
        for index in range(len(steps) - 1, 0, -1):
            if _library(steps[index][1]) == "xgboost" and _gives_sparse(steps[index - 1][1]):
                steps.insert(index, (ZEROS_STEP, zeros_as_missing()()))
    prepared.options = {id(step): {"div": "div_cast"} for step in _estimators(estimator)
                        if type(step).__name__ in SCALERS}
    scalers = [f"{path!r} ({type(step).__name__})" for path, step in walk(estimator) if type(step).__name__ in SCALERS]
    if scalers:
        prepared.hint = (f" XGBoost splits at values seen in training, and step {scalers[0]} computes them from "
                         "float32 inputs in the graph, which moves rows lying on a split to its other side; trees need "
                         "no scaling: remove that step, fit again and export.")
    return prepared


def _gives_sparse(step: Any) -> bool:
    """Whether ``step`` produced a sparse matrix when fitted (a ColumnTransformer decides once, at fit time)."""
    if hasattr(step, "sparse_output_"):
        return bool(step.sparse_output_)
    if type(step).__name__ == "OneHotEncoder":
        return bool(getattr(step, "sparse_output", False))
    steps = getattr(step, "steps", None)
    return _gives_sparse(steps[-1][1]) if steps else False


def _register(libraries: set[str]) -> None:
    """Register the onnxmltools converter of each XGBoost/LightGBM scikit-learn API class with skl2onnx."""
    require("onnxmltools", "ONNX export of XGBoost and LightGBM models")
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from skl2onnx.shape_calculators.identity import calculate_sklearn_identity

    converters: dict[type, tuple[str, Any, Any, dict[str, list[Any]] | None]] = {}
    if "xgboost" in libraries:
        import xgboost
        from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost

        converters[xgboost.XGBClassifier] = ("XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
                                             convert_xgboost, CLASSIFIER_OPTIONS)
        converters[xgboost.XGBRegressor] = ("XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
                                            convert_xgboost, None)
        converters[zeros_as_missing()] = ("ShipyardZerosAsMissing", calculate_sklearn_identity, _convert_zeros, None)
    if "lightgbm" in libraries:
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm

        converters[lightgbm.LGBMClassifier] = ("LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                               convert_lightgbm, CLASSIFIER_OPTIONS)
        converters[lightgbm.LGBMRegressor] = ("LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                              convert_lightgbm, None)
        regressor_face, classifier_face = lightgbm_faces()
        converters[classifier_face] = ("ShipyardLightGbmClassifier", calculate_linear_classifier_output_shapes,
                                       convert_lightgbm, CLASSIFIER_OPTIONS)
        converters[regressor_face] = ("ShipyardLightGbmRegressor", calculate_linear_regressor_output_shapes,
                                      convert_lightgbm, None)
    for model_class, (alias, shapes, converter, options) in converters.items():
        update_registered_converter(model_class, alias, shapes, converter, options=options)


def _convert_zeros(scope: Any, operator: Any, container: Any) -> None:
    """``Where(x == 0, NaN, x)`` in float32, the tensor type of the features the booster receives."""
    from onnx import TensorProto

    features = operator.inputs[0].full_name
    zero, nan = scope.get_unique_variable_name("zero"), scope.get_unique_variable_name("nan")
    container.add_initializer(zero, TensorProto.FLOAT, [], [0.0])
    container.add_initializer(nan, TensorProto.FLOAT, [], [float("nan")])
    is_zero = scope.get_unique_variable_name("is_zero")
    container.add_node("Equal", [features, zero], [is_zero], name=scope.get_unique_operator_name("Equal"))
    container.add_node("Where", [is_zero, nan, features], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("Where"))


def _library(step: Any) -> str:
    return str(getattr(type(step), "shipyard_library", type(step).__module__.split(".")[0]))


def _estimators(estimator: Any) -> list[Any]:
    return [estimator, *(step for _path, step in walk(estimator))]
