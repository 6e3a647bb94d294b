"""shipyard.autolog() on real scikit-learn fits of bundled datasets, written to a real SQLite store."""

from __future__ import annotations

import io
import os
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard
from shipyard.models.autolog import AutologWarning
from shipyard.models.package import frame_hash


@pytest.fixture(autouse=True)
def autologging() -> Iterator[None]:
    shipyard.autolog()
    yield
    shipyard.flush()
    shipyard.autolog(disable=True)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


def runs() -> pd.DataFrame:
    return shipyard.search_runs(order_by=["attributes.start_time"])


def test_a_fit_outside_a_run_records_params_metrics_data_and_model(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=500))
    assert model.fit(X, y) is model
    found = runs()
    assert len(found) == 1  # the pipeline's steps were fitted inside it: logged once
    run = shipyard.get_run(found.run_id[0])
    assert run.status == "FINISHED"
    assert run.params["logisticregression__C"] == "0.5"
    assert run.tags["shipyard.autolog.estimator"] == "sklearn.pipeline.Pipeline"
    assert run.metrics["training_accuracy"] == pytest.approx(model.score(X, y))
    assert {"training_precision", "training_recall", "training_f1", "training_log_loss",
            "training_roc_auc", "training_score"} <= set(run.metrics)
    assert run.tags["shipyard.dataset.train.hash"] == frame_hash(X)
    assert (run.tags["shipyard.dataset.train.rows"], run.tags["shipyard.dataset.train.columns"]) == ("569", "30")
    loaded = shipyard.load_model(f"runs:/{run.id}/model")
    assert (loaded.predict(X) == model.predict(X)).all()
    assert loaded.manifest["training_data"]["hash"] == frame_hash(X)  # the run and its model name the same data


def test_a_regressor_gets_error_metrics() -> None:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge(alpha=0.3).fit(X, y)
    run = shipyard.get_run(runs().run_id[0])
    predicted = model.predict(X)
    assert run.metrics["training_mae"] == pytest.approx(np.abs(y - predicted).mean())
    assert run.metrics["training_rmse"] == pytest.approx(np.sqrt(((y - predicted) ** 2).mean()))
    assert run.metrics["training_r2"] == pytest.approx(model.score(X, y))


def test_each_fit_of_a_loop_records_the_model_as_it_was(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    """The loop refits one object; each run keeps its own C and its own model, though written later."""
    X, y = cancer
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    coefficients = {}
    for c in (0.01, 1.0, 100.0):
        model.set_params(logisticregression__C=c).fit(X, y)
        coefficients[str(c)] = model[-1].coef_.copy()
    found = runs()
    assert len(found) == 3 and set(found.status) == {"FINISHED"}
    for run_id in found.run_id:
        run = shipyard.get_run(run_id)
        loaded = shipyard.load_model(f"runs:/{run_id}/model")
        assert np.array_equal(loaded.model[-1].coef_, coefficients[run.params["logisticregression__C"]])


def test_inside_a_run_the_first_fit_logs_into_it_and_later_fits_into_children() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    with shipyard.start_run(name="sweep") as parent:
        LogisticRegression(C=1.0, max_iter=500).fit(X, y)
        LogisticRegression(C=2.0, max_iter=500).fit(X, y)
    found = runs()
    assert len(found) == 2
    assert shipyard.get_run(parent.id).params["C"] == "1.0"
    child = found[found.run_id != parent.id].iloc[0]
    assert child.parent_run_id == parent.id and child["params.C"] == "2.0"
    assert shipyard.get_run(parent.id).status == "FINISHED"


def test_a_search_records_best_params_cv_results_and_children_only_when_asked(
        cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = cancer
    grid = {"logisticregression__C": [0.1, 1.0, 10.0]}
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), grid, cv=3).fit(X, y)
    found = runs()
    assert len(found) == 1  # 9 inner fits and the refit: none logged on its own
    run = shipyard.get_run(found.run_id[0])
    assert run.params["best_logisticregression__C"] == str(search.best_params_["logisticregression__C"])
    assert run.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    table = pd.read_csv(io.BytesIO(shipyard.read_artifact(run.id, "cv_results.csv")))
    assert len(table) == 3 and "mean_test_score" in table
    assert "model/model.json" in {item["path"] for item in run.artifacts}

    shipyard.autolog(search_children=True)
    GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)), grid, cv=3).fit(X, y)
    found = runs()
    parent = found.run_id.iloc[1]
    children = found[found.parent_run_id == parent]
    assert len(children) == 3
    assert sorted(children["params.logisticregression__C"]) == ["0.1", "1.0", "10.0"]
    assert children["metrics.mean_test_score"].notna().all()


def test_a_transformer_fitted_alone_is_not_logged(cancer: tuple[pd.DataFrame, pd.Series]) -> None:
    StandardScaler().fit(cancer[0])
    assert runs().empty


def test_disable_restores_the_original_methods_and_per_library_switches_hold() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    patched = LogisticRegression.__dict__["fit"]
    assert getattr(patched, "__shipyard_autolog__", False)
    shipyard.autolog(disable=True)
    original = LogisticRegression.__dict__["fit"]
    assert original is patched.__wrapped__
    LogisticRegression(max_iter=500).fit(X, y)
    shipyard.autolog(sklearn=False)
    assert LogisticRegression.__dict__["fit"] is original
    LogisticRegression(max_iter=500).fit(X, y)
    assert runs().empty


def test_fits_in_concurrent_threads_each_get_their_run() -> None:
    X, y = load_iris(return_X_y=True)
    threads = [threading.Thread(target=lambda c=c: LogisticRegression(C=c, max_iter=500).fit(X, y))
               for c in (0.5, 5.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(runs()["params.C"]) == ["0.5", "5.0"]
    assert runs()["tags.shipyard.dataset.train.rows"].tolist() == ["150", "150"]  # arrays are recorded too


def _freeze(folder: Path, on: bool) -> None:
    """Make the store really read-only: chmod stops a normal user, the immutable flag stops root too."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "+i" if on else "-i", str(folder)], check=True)
    else:
        for path in [folder, *folder.rglob("*")]:
            path.chmod((0o555 if path.is_dir() else 0o444) if on else (0o755 if path.is_dir() else 0o644))


def test_a_read_only_object_store_costs_one_warning_line_and_never_the_training(isolated_store: Path) -> None:
    """The objects folder is made read-only for real (not the database: SQLite maps its WAL index into memory,
    and a frozen one kills the process with SIGBUS, which is no test of ours)."""
    X, y = load_iris(return_X_y=True, as_frame=True)
    shipyard.search_runs()  # the store exists
    objects = isolated_store / "objects"
    objects.mkdir(exist_ok=True)
    _freeze(objects, True)
    try:
        with pytest.warns(AutologWarning) as caught:
            model = LogisticRegression(max_iter=500).fit(X, y)
            shipyard.autolog(disable=True)  # nothing more is captured; what was is written now
            shipyard.flush()
    finally:
        _freeze(objects, False)
    assert model.score(X, y) > 0.9  # the training went on
    messages = [str(item.message) for item in caught]
    assert len(messages) == 1, messages
    assert messages[0].startswith("shipyard autolog: the model of run ")
    assert "(LogisticRegression) was not logged" in messages[0] and "\n" not in messages[0]
    run = shipyard.get_run(runs().run_id[0])  # the rest of the record is there
    assert run.status == "FINISHED" and run.metrics["training_accuracy"] > 0.9


class _WatchfulRegression(LogisticRegression):
    """Notes the active run each time it predicts: autologging's records predict while they are written."""

    seen: list[object] = []

    def predict(self, X):  # type: ignore[no-untyped-def]
        _WatchfulRegression.seen.append(shipyard.active_run())
        return super().predict(X)


def test_writing_a_record_never_makes_its_run_the_active_run() -> None:
    """Found by the benchmark (199 runs for 200 fits): the writer joined each run to package its model, so
    for that moment a thread with no run of its own saw the autolog run as active; a fit captured then
    was sent into the previous fit's run, whose params refused it."""
    X, y = load_iris(return_X_y=True)
    _WatchfulRegression.seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AutologWarning)  # skops may refuse a class defined in a test: not the point
        _WatchfulRegression(max_iter=500).fit(X, y)
        shipyard.flush()  # the record is written here, in this thread, which has no active run
    assert _WatchfulRegression.seen and all(run is None for run in _WatchfulRegression.seen)
