"""XGBoost and LightGBM: native ``train`` and the scikit-learn wrappers' ``fit``.

Besides what every fit records (params, the training data's hash and shape, the model), boosting records
the per-iteration evaluation metrics of each eval set as histories (``<set>-<metric>`` at steps 0, 1,
...), the best iteration and score when early stopping chose one, and ``feature_importance.csv`` (one row
per feature, one column per importance type). The histories come from the library's own record of the
evaluation (``evals_result`` / ``record_evaluation``), requested for the call when the caller did not:
nothing is computed twice.

The model goes through ``shipyard.log_model`` like any other, so it is packaged by whatever flavor the
installed Shipyard has for it; where none can store it yet, one warning line says so and the rest of
the run is recorded.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from . import _deferred, _patching
from ._record import Destination, RunWriter, Snapshot, TrainingData, destination, estimator_tags
from ._settings import settings
from ._sklearn import logged_fit, write_estimator


def enable(library: str) -> None:
    if library == "xgboost":
        import xgboost

        _patching.patch(library, xgboost, "train", lambda original: _patched_train(library, original))
        wrappers: tuple[type, ...] = (xgboost.XGBClassifier, xgboost.XGBRegressor)
    else:
        import lightgbm

        _patching.patch(library, lightgbm, "train", lambda original: _patched_train(library, original))
        wrappers = (lightgbm.LGBMClassifier, lightgbm.LGBMRegressor)
    for cls in wrappers:
        owner = _patching.defining_class(cls, "fit")
        if owner is not None:
            _patching.patch(library, owner, "fit", lambda original: _patched_wrapper_fit(library, original))


# --- the scikit-learn wrappers --------------------------------------------------------------------------

def _patched_wrapper_fit(library: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if library not in settings.libraries or _patching.inside_autologged_call():
            return original(self, *args, **kwargs)

        def record(where: Destination, snapshot: Snapshot, data: TrainingData, sample_weight: Any, start_ms: int,
                   end_ms: int, *, extras: dict[str, Any]) -> None:
            model = snapshot.restore()
            writer = RunWriter.open(where, start_ms, end_ms, estimator_tags(library, model))
            try:
                _write_wrapper_boosting(writer, library, model)
                write_estimator(writer, model, data, sample_weight)
            finally:
                writer.close()

        return logged_fit(library, original, self, args, kwargs, record)

    return fit


def _write_wrapper_boosting(writer: RunWriter, library: str, model: Any) -> None:
    if library == "xgboost":
        try:
            history = model.evals_result()
        except Exception:  # no eval_set: XGBoost raises rather than answer {}
            history = {}
        booster = model.get_booster()
        best = (getattr(booster, "best_iteration", None) if booster.attr("best_iteration") is not None else None)
        best_score = booster.attr("best_score")
        _write_boosting(writer, history, best, float(best_score) if best_score is not None else None,
                        _xgboost_importance(booster))
    else:
        best = getattr(model, "best_iteration_", None)
        best_scores = getattr(model, "best_score_", {}) or {}
        _write_boosting(writer, getattr(model, "evals_result_", {}) or {}, best or None,
                        _first_score(best_scores), _lightgbm_importance(model.booster_))


# --- native train ---------------------------------------------------------------------------------------

def _patched_train(library: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def train(*args: Any, **kwargs: Any) -> Any:
        if library not in settings.libraries or _patching.inside_autologged_call():
            return original(*args, **kwargs)
        params = dict(args[0] if args else kwargs.get("params") or {})
        train_set = args[1] if len(args) > 1 else kwargs.get("dtrain", kwargs.get("train_set"))
        history: dict[str, Any] = {}
        if library == "xgboost":
            history = kwargs.setdefault("evals_result", history)
            rounds = args[2] if len(args) > 2 else kwargs.get("num_boost_round", 10)
        else:
            import lightgbm

            callbacks = list(kwargs.get("callbacks") or [])
            kwargs["callbacks"] = [*callbacks, lightgbm.record_evaluation(history)]
            rounds = args[2] if len(args) > 2 else kwargs.get("num_boost_round", 100)
            X, y = _lightgbm_data(train_set)  # before training: LightGBM frees the raw data once it is built
        with _patching.Outermost():
            _deferred.fit_started()
            start_ms = time.time_ns() // 1_000_000
            try:
                booster = original(*args, **kwargs)
            finally:
                _deferred.fit_ended()
        try:
            if library == "xgboost":
                X, y = _xgboost_data(train_set)
            params = {**params, "num_boost_round": rounds}
            if kwargs.get("early_stopping_rounds") is not None:
                params["early_stopping_rounds"] = kwargs["early_stopping_rounds"]
            captured = (destination(), Snapshot.of(booster), TrainingData.of(X, y), params, history,
                        start_ms, time.time_ns() // 1_000_000)
            _deferred.submit(f"the {library}.train call", lambda: _record_train(library, *captured))
        except Exception as exc:
            _deferred.warn(f"could not capture the {library}.train call: {type(exc).__name__}: {exc}")
        return booster

    return train


def _record_train(library: str, where: Destination, snapshot: Snapshot, data: TrainingData, params: dict[str, Any],
                  history: dict[str, Any], start_ms: int, end_ms: int) -> None:
    booster = snapshot.restore()
    writer = RunWriter.open(where, start_ms, end_ms, estimator_tags(library, booster))
    try:
        writer.params(params)
        writer.dataset("train", data)
        if library == "xgboost":
            best_iteration = booster.attr("best_iteration")
            best_score = booster.attr("best_score")
            _write_boosting(writer, history, int(best_iteration) if best_iteration is not None else None,
                            float(best_score) if best_score is not None else None, _xgboost_importance(booster))
        else:
            best = booster.best_iteration or None
            _write_boosting(writer, history, best, _first_score(booster.best_score), _lightgbm_importance(booster))
        writer.model(booster, data)
    finally:
        writer.close()


def _write_boosting(writer: RunWriter, history: dict[str, Any], best_iteration: int | None, best_score: float | None,
                    importance: Any) -> None:
    for data_name, by_metric in history.items():
        for metric, values in by_metric.items():
            writer.series(f"{data_name}-{metric}", values)
    if best_iteration is not None:
        writer.metrics({"best_iteration": best_iteration})
    if best_score is not None:
        writer.metrics({"best_score": best_score})
    if importance is not None and len(importance):
        buffer = io.StringIO()
        importance.to_csv(buffer, index=False)
        writer.artifact(buffer.getvalue().encode(), "feature_importance.csv")


def _first_score(best_scores: Any) -> float | None:
    """LightGBM's best score of the first eval set's first metric (it keeps one per set and metric)."""
    for by_metric in (best_scores or {}).values():
        for value in by_metric.values():
            return float(value)
    return None


def _xgboost_importance(booster: Any) -> Any:
    import pandas as pd

    kinds = ("weight", "gain", "cover")
    scores = {kind: booster.get_score(importance_type=kind) for kind in kinds}
    features = booster.feature_names or sorted(scores["weight"])
    return pd.DataFrame({"feature": features, **{kind: [float(scores[kind].get(name, 0.0)) for name in features]
                                                 for kind in kinds}})


def _lightgbm_importance(booster: Any) -> Any:
    import pandas as pd

    return pd.DataFrame({"feature": booster.feature_name(),
                         "split": booster.feature_importance("split").astype(float),
                         "gain": booster.feature_importance("gain").astype(float)})


def _xgboost_data(dmatrix: Any) -> tuple[Any, Any]:
    """The DMatrix's rows as a DataFrame (absent entries are XGBoost's missing values: NaN) and its labels."""
    import numpy as np
    import pandas as pd

    matrix = dmatrix.get_data().tocoo()
    dense = np.full(matrix.shape, np.nan)
    dense[matrix.row, matrix.col] = matrix.data
    names = dmatrix.feature_names or [f"f{index}" for index in range(matrix.shape[1])]
    label = dmatrix.get_label()
    return pd.DataFrame(dense, columns=names), (label if len(label) else None)


def _lightgbm_data(dataset: Any) -> tuple[Any, Any]:
    """The raw data and label a ``lightgbm.Dataset`` was made from, while it still holds them."""
    data = getattr(dataset, "data", None)
    if not hasattr(data, "shape") or isinstance(data, str):  # a file path or a sparse matrix: not profiled
        data = None
    return data, getattr(dataset, "label", None)
