"""XGBoost and LightGBM packages against a real store: native files, exact answers in a fresh process, and
refusals of what must not load (a swapped file never runs code, an unknown format, a version drift)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.models import package
from tests._flavor_checks import fresh_process_answers, load_with_warnings, refusal
from tests._tree_models import TREE_MODELS, as_categories, log_tree_model, native_answers, relog, telco

NATIVE_FILES = {"xgboost": "model.ubj", "lightgbm": "model.txt"}


def test_every_kind_answers_exactly_as_the_library_in_a_fresh_process(tmp_path: Path, run_python) -> None:  # type: ignore[no-untyped-def]
    expected, uris = {}, {}
    with shipyard.start_run():
        for kind in TREE_MODELS:
            info, model, frame = log_tree_model(kind, kind)
            uris[kind] = info.uri
            expected[kind] = native_answers(model, frame)
            frame.to_parquet(tmp_path / f"{kind}.parquet")
    fresh = fresh_process_answers(run_python, uris, tmp_path)
    for kind, answers in expected.items():
        loaded = fresh[kind]
        assert sorted(loaded.files) == sorted(answers), kind
        for name, values in answers.items():
            np.testing.assert_array_equal(loaded[name], np.asarray(values), err_msg=f"{kind} {name}")


@pytest.mark.parametrize("kind", list(TREE_MODELS))
def test_the_package_holds_the_native_file_and_no_pickle(kind: str) -> None:
    info, model, _ = log_tree_model(kind)
    loaded = shipyard.load_model(info.uri)
    manifest = loaded.manifest
    flavor = kind.split("-")[0]
    assert manifest["flavor"] == flavor
    assert manifest["serializer"] == {"xgboost": "xgboost-ubj", "lightgbm": "lightgbm-text"}[flavor]
    expected = {"input_example.json", NATIVE_FILES[flavor], "native.json"}
    assert set(manifest["files"]) == expected | ({"preprocess.skops"} if kind.endswith("pipeline") else set())
    assert manifest["untrusted_types"] == []
    assert manifest["python_class"] == f"{type(model).__module__}.{type(model).__qualname__}"
    library = "xgboost-cpu" if flavor == "xgboost" else "lightgbm"
    assert manifest["libraries"][library] == __import__(flavor).__version__
    assert f"{library}=={manifest['libraries'][library]}" in manifest["requirements"]
    model_bytes = package.run_artifacts.read_artifact(package.current_store(), info.run_id,
                                                      f"model/{NATIVE_FILES[flavor]}")
    assert not model_bytes.startswith(b"\x80")  # no pickle protocol header
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/native.json"))
    assert meta["library_version"] == __import__(flavor).__version__
    output = loaded.signature.output
    if kind.endswith(("classifier", "pipeline")):
        assert output.kind == "classifier" and output.classes == (0, 1)
        assert output.probability_columns == ("proba_0", "proba_1")
    else:  # a raw Booster answers numbers: Shipyard treats it as a regressor
        assert output.kind == "regressor"
        with pytest.raises(shipyard.ValidationError, match="not a probabilistic classifier"):
            loaded.predict_proba(telco()[0].head(2))


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm"])
def test_text_columns_reach_the_model_as_its_training_categories(flavor: str) -> None:
    info, model, frame = log_tree_model(f"{flavor}-classifier")
    loaded = shipyard.load_model(info.uri)
    raw = telco()[0].head(40)  # text, as a client sends it
    raw.loc[raw.index[:3], "contract"] = "Three year"  # a level the model never saw
    raw.loc[raw.index[3], "payment_method"] = None
    answered = loaded.predict_proba(raw).to_numpy()
    assert loaded.last_report.unseen_levels["contract"] == {"Three year": 3}
    expected = raw.copy()
    expected.loc[expected.index[:3], "contract"] = None  # the library's own reading of an unseen level: missing
    expected = expected.astype({name: frame[name].dtype for name in frame if str(frame[name].dtype) == "category"})
    np.testing.assert_array_equal(answered, model.predict_proba(expected))
    shuffled = as_categories(telco()[0].head(40))  # categories in another order: re-coded by value
    shuffled["contract"] = shuffled["contract"].cat.reorder_categories(
        list(reversed(shuffled["contract"].cat.categories)))
    np.testing.assert_array_equal(loaded.predict_proba(shuffled).to_numpy(), model.predict_proba(frame.head(40)))


def test_early_stopping_keeps_the_best_iteration() -> None:
    import lightgbm
    import xgboost

    frame, target = as_categories(telco()[0]), telco()[1]
    train, valid = slice(0, 1000), slice(1000, None)
    boosted = xgboost.XGBClassifier(n_estimators=300, learning_rate=0.3, early_stopping_rounds=5, n_jobs=1,
                                    enable_categorical=True)
    boosted.fit(frame[train], target[train], eval_set=[(frame[valid], target[valid])], verbose=False)
    light = lightgbm.LGBMClassifier(n_estimators=300, learning_rate=0.3, verbose=-1, n_jobs=1)
    light.fit(frame[train], target[train], eval_X=(frame[valid],), eval_y=(target[valid],),
              callbacks=[lightgbm.early_stopping(5, verbose=False)])
    assert boosted.best_iteration < 299 and light.best_iteration_ < 300  # both stopped early
    for model in (boosted, light):
        with shipyard.start_run():
            info = shipyard.log_model(model, input_example=frame)
        loaded = shipyard.load_model(info.uri)
        np.testing.assert_array_equal(loaded.predict_proba(frame).to_numpy(), model.predict_proba(frame))


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm"])
def test_a_swapped_in_model_file_never_runs_code(flavor: str, tmp_path: Path) -> None:
    marker, control = tmp_path / "ran", tmp_path / "control"

    class Payload:
        def __init__(self, path: Path) -> None:
            self.path = path

        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(self.path), "w"))  # unpickling creates the file

    pickle.loads(pickle.dumps(Payload(control))).close()
    assert control.exists()  # the payload does run when unpickled
    info, _, _ = log_tree_model(f"{flavor}-classifier")
    swapped = relog(info.uri, "swapped", files={NATIVE_FILES[flavor]: pickle.dumps(Payload(marker))})
    for trust in ((), True):
        with pytest.raises(shipyard.ValidationError) as refused:
            shipyard.load_model(swapped, trust=trust)
        message = str(refused.value)
        assert "\n" not in message and flavor in message.lower() and "cannot read" in message, message
    assert not marker.exists()


def test_a_pipeline_s_preprocessing_keeps_the_skops_trust_rules() -> None:
    info, _, _ = log_tree_model("xgboost-pipeline")
    listed = relog(info.uri, "listed", manifest={"untrusted_types": ["mypackage.Unknown"]})
    with pytest.raises(shipyard.ValidationError, match="mypackage.Unknown"):
        shipyard.load_model(listed)


def test_formats_this_version_cannot_read_are_refused_in_one_line() -> None:
    info, _, _ = log_tree_model("lightgbm-classifier")
    meta = json.loads(package.run_artifacts.read_artifact(package.current_store(), info.run_id, "model/native.json"))
    newer = relog(info.uri, "newer", files={"native.json": json.dumps({**meta, "format": 99}).encode()})
    with pytest.raises(shipyard.ValidationError, match="format 99, newer than this Shipyard reads") as refused:
        shipyard.load_model(newer)
    assert "upgrade shipyard-ml" in str(refused.value)
    odd = relog(info.uri, "odd", files={"native.json": json.dumps({**meta, "estimator": "os.system"}).encode()})
    with pytest.raises(shipyard.ValidationError, match="'os.system', which Shipyard does not rebuild"):
        shipyard.load_model(odd)
    unknown = relog(info.uri, "unknown", manifest={"serializer": "catboost-cbm"})
    with pytest.raises(shipyard.ValidationError, match="serializer 'catboost-cbm', which this Shipyard cannot read"):
        shipyard.load_model(unknown)


def test_a_damaged_model_file_names_the_flavor_and_both_versions() -> None:
    import xgboost

    info, _, _ = log_tree_model("xgboost-classifier")
    damaged = relog(info.uri, "damaged", files={"model.ubj": b"{not ubjson"})
    message = refusal(damaged)
    assert message.startswith(f"{damaged} is an XGBoost model written with xgboost {xgboost.__version__} that "
                              f"xgboost {xgboost.__version__} cannot read ("), message
    assert "[xgboost]" in message and "\n" not in message


def test_a_package_from_another_minor_version_warns_naming_both() -> None:
    import xgboost

    info, model, frame = log_tree_model("xgboost-classifier")
    libraries = {**shipyard.load_model(info.uri).manifest["libraries"]}
    del libraries["xgboost-cpu"]
    older = relog(info.uri, "older", manifest={"libraries": {**libraries, "xgboost": "2.1.4"}})
    loaded, messages = load_with_warnings(older, "xgboost")
    assert any(f"saved with xgboost 2.1.4 but xgboost {xgboost.__version__} is installed" in text
               for text in messages), messages
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_pickle_stays_available_when_asked_for() -> None:
    model, frame = TREE_MODELS["lightgbm-classifier"]()
    with shipyard.start_run():
        info = shipyard.log_model(model, input_example=frame, serializer="pickle")
    loaded = shipyard.load_model(info.uri, trust=True)
    assert loaded.manifest["serializer"] == "pickle"
    np.testing.assert_array_equal(loaded.predict_proba(frame).to_numpy(), model.predict_proba(frame))


def test_a_custom_lightgbm_objective_is_refused_with_the_way_out() -> None:
    import lightgbm

    frame, target = as_categories(telco()[0]), telco()[1]

    def squared(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return y_pred - y_true, np.ones_like(y_pred)

    model = lightgbm.LGBMRegressor(n_estimators=3, objective=squared, verbose=-1).fit(frame, target)
    with shipyard.start_run(), pytest.raises(shipyard.ValidationError, match="serializer='pickle'"):
        shipyard.log_model(model, input_example=frame)


def test_a_frame_with_category_columns_is_read_like_text() -> None:
    info, model, frame = log_tree_model("lightgbm-pipeline")
    loaded = shipyard.load_model(info.uri)
    as_text = pd.DataFrame(frame.head(30))
    np.testing.assert_array_equal(loaded.predict(as_categories(as_text)), model.predict(as_text))


@pytest.mark.parametrize("flavor", ["xgboost", "lightgbm"])
def test_a_multiclass_booster_is_refused_and_its_classifier_logs(flavor: str) -> None:
    import lightgbm
    import xgboost
    from sklearn.datasets import load_iris

    frame, target = load_iris(return_X_y=True, as_frame=True)
    if flavor == "xgboost":
        booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "nthread": 1},
                                xgboost.DMatrix(frame, target), 5)
        classifier = xgboost.XGBClassifier(n_estimators=5, n_jobs=1).fit(frame, target)
    else:
        booster = lightgbm.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
                                 lightgbm.Dataset(frame, target), 5)
        classifier = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1).fit(frame, target)
    with shipyard.start_run():
        with pytest.raises(shipyard.ValidationError, match="several numbers per row"):
            shipyard.log_model(booster, input_example=frame)
        info = shipyard.log_model(classifier, input_example=frame)
    loaded = shipyard.load_model(info.uri)
    assert loaded.signature.output.classes == (0, 1, 2)
    np.testing.assert_array_equal(loaded.predict_proba(frame).to_numpy(), classifier.predict_proba(frame))
    np.testing.assert_array_equal(loaded.predict(frame), classifier.predict(frame))
