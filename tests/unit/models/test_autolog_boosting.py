"""shipyard.autolog() on real XGBoost and LightGBM training (native train and the scikit-learn wrappers)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import shipyard
from shipyard.models.autolog import AutologWarning

xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")


@pytest.fixture(autouse=True)
def autologging() -> Iterator[None]:
    shipyard.autolog()
    yield
    shipyard.flush()
    shipyard.autolog(disable=True)


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [name.replace(" ", "_") for name in X.columns]  # LightGBM refuses spaces in feature names
    return X.iloc[:400], y.iloc[:400], X.iloc[400:], y.iloc[400:]


def only_run() -> shipyard.Run:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shipyard.flush()
    found = shipyard.search_runs()
    assert len(found) == 1, found  # the wrapper's inner train() was not logged on its own
    run = shipyard.get_run(found.run_id[0])
    # The model: packaged, or (while no flavor can store this kind yet) one warning line that says so.
    packaged = "model/model.json" in {item["path"] for item in run.artifacts}
    messages = [str(item.message) for item in caught if issubclass(item.category, AutologWarning)]
    assert packaged or (len(messages) == 1 and "was not logged" in messages[0]), messages
    return run


def importance(run: shipyard.Run) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(shipyard.read_artifact(run.id, "feature_importance.csv")))


def test_xgboost_train_logs_per_iteration_metrics_best_iteration_and_importance(split: tuple) -> None:
    X, y, X_eval, y_eval = split
    train, valid = xgboost.DMatrix(X, label=y), xgboost.DMatrix(X_eval, label=y_eval)
    booster = xgboost.train({"max_depth": 2, "eta": 0.3, "objective": "binary:logistic", "eval_metric": "logloss"},
                            train, num_boost_round=40, evals=[(train, "train"), (valid, "eval")],
                            early_stopping_rounds=5, verbose_eval=False)
    run = only_run()
    assert run.params["max_depth"] == "2" and run.params["num_boost_round"] == "40"
    history = shipyard.metric_history(run.id, "eval-logloss")
    assert history.step.tolist() == list(range(len(history))) and len(history) > booster.best_iteration
    assert run.metrics["best_iteration"] == booster.best_iteration
    assert set(importance(run).columns) == {"feature", "weight", "gain", "cover"}
    assert run.tags["shipyard.dataset.train.rows"] == "400"


def test_xgboost_classifier_fit_with_eval_set_logs_once(split: tuple) -> None:
    X, y, X_eval, y_eval = split
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=2).fit(X, y, eval_set=[(X_eval, y_eval)], verbose=False)
    run = only_run()
    assert run.params["n_estimators"] == "15"
    assert len(shipyard.metric_history(run.id, "validation_0-logloss")) == 15
    assert run.metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert len(importance(run)) == X.shape[1]


def test_lightgbm_train_logs_per_iteration_metrics_and_importance(split: tuple) -> None:
    X, y, X_eval, y_eval = split
    train = lightgbm.Dataset(X, label=y)
    valid = lightgbm.Dataset(X_eval, label=y_eval, reference=train)
    stop_early = lightgbm.early_stopping(3, verbose=False)
    booster = lightgbm.train({"objective": "binary", "num_leaves": 7, "verbose": -1}, train, num_boost_round=20,
                             valid_sets=[valid], valid_names=["eval"], callbacks=[stop_early])
    run = only_run()
    assert run.params["num_leaves"] == "7"
    assert len(shipyard.metric_history(run.id, "eval-binary_logloss")) >= booster.best_iteration
    assert run.metrics["best_iteration"] == booster.best_iteration
    assert set(importance(run).columns) == {"feature", "split", "gain"}
    assert run.tags["shipyard.dataset.train.columns"] == "30"


def test_lightgbm_classifier_fit_logs_training_metrics_and_eval_history(split: tuple) -> None:
    X, y, X_eval, y_eval = split
    model = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1)
    model.fit(X, y, eval_X=(X_eval,), eval_y=(y_eval,))
    run = only_run()
    assert run.metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert len(shipyard.metric_history(run.id, "valid_0-binary_logloss")) == 10


def test_switching_one_library_off_leaves_the_others_logging(split: tuple) -> None:
    X, y, _, _ = split
    shipyard.autolog(xgboost=False)
    assert not getattr(xgboost.train, "__shipyard_autolog__", False)
    xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=3)
    shipyard.flush()
    assert shipyard.search_runs().empty
    assert getattr(lightgbm.train, "__shipyard_autolog__", False)
