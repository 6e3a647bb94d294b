"""train: fit two candidates, a logistic regression and a LightGBM model, and log both as model packages.

``shipyard.start_run()`` joins the run ``shipyard repro`` opened for this stage (it passes its id in
``SHIPYARD_RUN_ID``), so both packages and the stage's dep/out hashes sit on one run: registering a package
later links the model version to this stage and, through its inputs' hashes, to the data. Each candidate is
a scikit-learn Pipeline that carries its own preprocessing, so the package scores raw rows.

The logistic regression is logged by hand (``log_model``). LightGBM is logged by ``shipyard.autolog()``,
switched on just before its fit: the pipeline's params, its training metrics, the training data's hash and
shape, and the package (path ``model``, LightGBM's own text format for the trees) land on this stage's run
with no logging code. Trees need no scaling, so LightGBM's numbers are only imputed.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import lightgbm
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard

TARGET = "churn"
ID = "customer_id"  # who the row is, not something the model should learn from
AUTOLOGGED = "model"  # the path autolog gives the package it logs


def build(features: pd.DataFrame, model: Any, *, scale: bool) -> Pipeline:
    numeric = [name for name in features if features[name].dtype.kind in "if"]
    categorical = [name for name in features if name not in numeric]
    numbers = [("impute", SimpleImputer(strategy="median")), *([("scale", StandardScaler())] if scale else [])]
    prepare = ColumnTransformer([
        ("numeric", Pipeline(numbers), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    return Pipeline([("prepare", prepare), ("model", model)])


def scores(y_true: pd.Series, probability: Any) -> dict[str, float]:
    predicted = (probability >= 0.5).astype(int)
    return {"roc_auc": roc_auc_score(y_true, probability), "log_loss": log_loss(y_true, probability),
            "f1": f1_score(y_true, predicted), "accuracy": accuracy_score(y_true, predicted)}


params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["train"]
train, test = pd.read_parquet("data/train.parquet"), pd.read_parquet("data/test.parquet")
x_train, y_train = train.drop(columns=[TARGET, ID]), train[TARGET]
x_test, y_test = test.drop(columns=[TARGET, ID]), test[TARGET]

results: dict[str, dict[str, float]] = {}
packages: dict[str, dict[str, str]] = {}
with shipyard.start_run() as run:  # joins this stage's run
    logreg = build(x_train, LogisticRegression(C=params["logreg"]["C"], max_iter=2000), scale=True)
    logreg.fit(x_train, y_train)
    info = shipyard.log_model(logreg, "logreg", input_example=x_train, y_example=y_train)
    packages["logreg"] = {"uri": info.uri, "estimator": "LogisticRegression", "logged_by": "log_model"}
    results["logreg"] = scores(y_test, logreg.predict_proba(x_test)[:, 1])

    shipyard.autolog()  # from here on, fits log themselves: the first one onto this stage's run
    # One thread: LightGBM's result then cannot depend on how many cores the machine has.
    booster = lightgbm.LGBMClassifier(**params["lightgbm"], random_state=params["seed"], n_jobs=1, verbose=-1)
    boosted = build(x_train, booster, scale=False).fit(x_train, y_train)
    shipyard.flush()  # write autolog's record now, so the package exists before candidates.json names it
    if f"shipyard.model.{AUTOLOGGED}" not in shipyard.get_run(run.id).tags:
        raise SystemExit("train: autolog did not log the LightGBM package; its warning above says why.")
    packages["lightgbm"] = {"uri": f"runs:/{run.id}/{AUTOLOGGED}", "estimator": "LGBMClassifier",
                            "logged_by": "autolog"}
    results["lightgbm"] = scores(y_test, boosted.predict_proba(x_test)[:, 1])

for name, entry in packages.items():
    print(f"train: {name} test ROC AUC {results[name]['roc_auc']:.4f}, logged as {entry['uri']}")
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/candidates.json").write_text(json.dumps(packages, indent=1) + "\n")
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/metrics.json").write_text(json.dumps(results, indent=1) + "\n")
