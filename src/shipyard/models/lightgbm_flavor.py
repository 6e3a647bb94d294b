"""LightGBM models in LightGBM's own text format: ``LGBMClassifier``/``LGBMRegressor`` and a raw ``Booster``
from ``lightgbm.train``, alone or as the last step of a scikit-learn Pipeline.

The file is ``Booster.model_to_string()``: with early stopping it holds the trees up to the best iteration,
which is what the fitted model predicts with. LightGBM has no way to rebuild its scikit-learn wrapper from a
file, so the predictor answers as the wrapper does, from the booster: a classifier's probabilities are the
booster's output (``[1 - p, p]`` for two classes) and its label is the class of the highest probability; a
regressor's answer, and a raw Booster's, is the booster's output. The text file also records the levels of
pandas ``category`` columns the model was trained on (``pandas_categorical``), which LightGBM re-codes by; the
columns they belong to are recorded in ``native.json``.
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
    plain,
    read_meta,
    require_library,
    split_pipeline,
    unreadable,
)

FLAVOR = "lightgbm"  # also the import name of its library and the extra that installs it
TITLE = "a LightGBM model"
SERIALIZER = "lightgbm-text"
MODEL_FILE = "model.txt"
DISTRIBUTIONS = ("lightgbm",)
ESTIMATORS = ("LGBMClassifier", "LGBMRegressor")


class LightGBMPredictor(NativePredictor):
    flavor = FLAVOR
    library = "lightgbm"

    def _predict(self, data: Any) -> Any:
        if not hasattr(self, "classes_"):
            return self.estimator.predict(data)
        import numpy as np

        return self.classes_[np.argmax(self._predict_proba(data), axis=1)]

    def _predict_proba(self, data: Any) -> Any:
        import numpy as np

        result = self.estimator.predict(data)
        return result if result.ndim == 2 else np.vstack((1.0 - result, result)).transpose()


def is_lightgbm(model: Any) -> bool:
    """A LightGBM model Shipyard stores natively: a Booster or a classifier/regressor wrapper."""
    kind = type(model)
    return kind.__module__.split(".")[0] == "lightgbm" and kind.__name__ in ("Booster", *ESTIMATORS)


def wrap(model: Any, frame: Any) -> LightGBMPredictor | None:
    """``model`` (or the Pipeline ending in it) ready to log, or ``None`` when it is not a LightGBM model."""
    parts = split_pipeline(model, is_lightgbm)
    if parts is None:
        return None
    preprocess, step, estimator = parts
    kind = type(estimator).__name__
    if kind != "Booster" and callable(estimator.objective):
        raise ValidationError(
            f"This {kind} has a custom objective function, which LightGBM's model file cannot hold (its answers "
            "would be raw scores); log it with serializer='pickle' instead.", field="model")
    booster = estimator if kind == "Booster" else estimator.booster_
    categories = _categories(booster, example_input(preprocess, frame))
    classes = list(estimator.classes_) if kind == "LGBMClassifier" else None
    predictor = LightGBMPredictor(booster, kind=kind, preprocess=preprocess, step=step, categories=categories,
                                  classes=classes, python_class=f"{type(model).__module__}.{type(model).__qualname__}")
    check_one_answer_per_row(predictor, frame)
    return predictor


def serialize(predictor: LightGBMPredictor) -> dict[str, bytes]:
    import lightgbm

    return {MODEL_FILE: predictor.estimator.model_to_string().encode(),
            META_FILE: dump_meta(predictor.meta(lightgbm.__version__))}


def deserialize(files: dict[str, bytes], preprocess: Any, source: str) -> LightGBMPredictor:
    """Rebuild the booster from its text file (parsing only: no code from the package runs)."""
    meta = read_meta(files, FLAVOR, source)
    lightgbm = require_library(FLAVOR, TITLE, source)
    kind = meta.get("estimator")
    if kind != "Booster" and kind not in ESTIMATORS:
        raise ValidationError(f"{source} ({FLAVOR} flavor) names the estimator {kind!r}, which Shipyard does not "
                              f"rebuild; it rebuilds {', '.join(ESTIMATORS)} and Booster.", field="format")
    try:
        booster = lightgbm.Booster(model_str=files[MODEL_FILE].decode())
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise unreadable(FLAVOR, TITLE, source, meta, lightgbm.__version__, exc) from exc
    return LightGBMPredictor(booster, kind=str(kind), preprocess=preprocess, step=meta.get("step"),
                             categories=meta.get("categories") or {}, classes=meta.get("classes"),
                             python_class=meta.get("python_class"))


def _categories(booster: Any, example: Any) -> dict[str, list[Any]]:
    """Each ``category`` column of the model's input with the levels LightGBM recorded for it in training."""
    columns = category_columns(example)
    recorded = booster.pandas_categorical or []
    if not recorded:
        return columns
    if len(recorded) != len(columns):
        raise ValidationError(
            f"The model was trained on {len(recorded)} pandas category columns, but the input_example has "
            f"{len(columns)}; give the training frame (with its category dtypes) as input_example.",
            field="input_example")
    return {name: [plain(level) for level in levels] for name, levels in zip(columns, recorded, strict=True)}
