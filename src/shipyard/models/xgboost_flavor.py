"""XGBoost models in XGBoost's own UBJSON format: ``XGBClassifier``/``XGBRegressor`` (random-forest variants
too), a raw ``Booster`` from ``xgboost.train``, alone or as the last step of a scikit-learn Pipeline.

The file is the booster as ``Booster.save_raw("ubj")`` writes it; the scikit-learn wrapper is rebuilt by
``load_model`` on a fresh instance of the class ``native.json`` names (from :data:`ESTIMATORS` only), which
restores what it predicts with (objective, number of classes, best iteration, categories). XGBoost 3 keeps the
categories of native categorical features in the model and re-codes a DataFrame's categories by value, so the
levels recorded here only decide which values reach it as categories at all.

A raw Booster answers what ``Booster.predict`` answers (a probability of the positive class for
``binary:logistic``, a number for regression): Shipyard treats it as a regressor, with no ``predict_proba``.
Log the ``XGBClassifier`` for classes and probabilities.
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from .native_flavor import (
    META_FILE,
    NativePredictor,
    category_columns,
    check_one_answer_per_row,
    dump_meta,
    example_input,
    missing_while,
    read_meta,
    require_library,
    split_pipeline,
    unreadable,
)

FLAVOR = "xgboost"  # also the import name of its library and the extra that installs it
TITLE = "an XGBoost model"
SERIALIZER = "xgboost-ubj"
MODEL_FILE = "model.ubj"
DISTRIBUTIONS = ("xgboost", "xgboost-cpu")  # the same import, two wheels on PyPI
# The scikit-learn wrappers Shipyard rebuilds: native.json names one of these or "Booster", nothing else.
ESTIMATORS = ("XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor")


class XGBoostPredictor(NativePredictor):
    flavor = FLAVOR
    library = "xgboost"

    def _predict(self, data: Any) -> Any:
        if self.kind == "Booster":
            import xgboost

            return self.estimator.predict(xgboost.DMatrix(data, enable_categorical=bool(self.categories)))
        return self.estimator.predict(data)

    def _predict_proba(self, data: Any) -> Any:
        return self.estimator.predict_proba(data)


def is_xgboost(model: Any) -> bool:
    """An XGBoost model Shipyard stores natively: a Booster or one of the scikit-learn wrappers it rebuilds."""
    kind = type(model)
    return kind.__module__.split(".")[0] == "xgboost" and kind.__name__ in ("Booster", *ESTIMATORS)


def wrap(model: Any, frame: Any) -> XGBoostPredictor | None:
    """``model`` (or the Pipeline ending in it) ready to log, or ``None`` when it is not an XGBoost model."""
    parts = split_pipeline(model, is_xgboost)
    if parts is None:
        return None
    preprocess, step, estimator = parts
    kind = type(estimator).__name__
    booster = estimator if kind == "Booster" else estimator.get_booster()
    categories = _model_categories(booster) or category_columns(example_input(preprocess, frame))
    classes = None
    if kind != "Booster" and hasattr(estimator, "predict_proba"):
        classes = list(getattr(estimator, "classes_", []))
    predictor = XGBoostPredictor(estimator, kind=kind, preprocess=preprocess, step=step, categories=categories,
                                 classes=classes, python_class=f"{type(model).__module__}.{type(model).__qualname__}")
    check_one_answer_per_row(predictor, frame)
    return predictor


def serialize(predictor: XGBoostPredictor) -> dict[str, bytes]:
    import xgboost

    estimator = predictor.estimator
    booster = estimator if predictor.kind == "Booster" else estimator.get_booster()
    return {MODEL_FILE: bytes(booster.save_raw(raw_format="ubj")),
            META_FILE: dump_meta(predictor.meta(xgboost.__version__))}


def deserialize(files: dict[str, bytes], preprocess: Any, source: str) -> XGBoostPredictor:
    """Rebuild the model from its UBJSON file (parsing only: no code from the package runs)."""
    meta = read_meta(files, FLAVOR, source)
    xgboost = require_library(FLAVOR, TITLE, source)
    kind = meta.get("estimator")
    if kind != "Booster" and kind not in ESTIMATORS:
        raise ValidationError(f"{source} ({FLAVOR} flavor) names the estimator {kind!r}, which Shipyard does not "
                              f"rebuild; it rebuilds {', '.join(ESTIMATORS)} and Booster.", field="format")
    try:
        estimator = xgboost.Booster() if kind == "Booster" else getattr(xgboost, kind)()
        estimator.load_model(bytearray(files[MODEL_FILE]))
    except ModuleNotFoundError as exc:  # the scikit-learn wrappers need scikit-learn
        raise missing_while(exc, FLAVOR, TITLE, source) from exc
    except (xgboost.core.XGBoostError, ValueError, TypeError, KeyError) as exc:
        raise unreadable(FLAVOR, TITLE, source, meta, xgboost.__version__, exc) from exc
    return XGBoostPredictor(estimator, kind=str(kind), preprocess=preprocess, step=meta.get("step"),
                            categories=meta.get("categories") or {}, classes=meta.get("classes"),
                            python_class=meta.get("python_class"))


def _model_categories(booster: Any) -> dict[str, list[Any]]:
    """The categories XGBoost recorded for each categorical feature (XGBoost 3 keeps them in the model)."""
    try:
        exported = booster.get_categories(export_to_arrow=True).to_arrow()
    except (AttributeError, TypeError, ValueError):  # an older XGBoost, or a model without names
        return {}
    return {str(name): values.to_pylist() for name, values in exported or () if values is not None}
