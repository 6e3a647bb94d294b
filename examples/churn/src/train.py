"""train: fit two candidates, logistic regression and gradient boosting, and log both as model packages.

``shipyard.start_run()`` joins the run ``shipyard repro`` opened for this stage (it passes its id in
``SHIPYARD_RUN_ID``), so the packages, the per-iteration validation curve and the stage's dep/out
hashes all sit on one run: registering a package later links the model version to this stage and,
through its inputs' hashes, to the data. Each candidate is a scikit-learn Pipeline that carries its
own preprocessing, so the package scores raw rows.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard

TARGET = "churn"
ID = "customer_id"  # who the row is, not something the model should learn from


def build(features: pd.DataFrame, model: Any) -> Pipeline:
    numeric = [name for name in features if features[name].dtype.kind in "if"]
    categorical = [name for name in features if name not in numeric]
    prepare = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
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
candidates = {
    "logreg": LogisticRegression(C=params["logreg"]["C"], max_iter=2000),
    "boosting": GradientBoostingClassifier(**params["boosting"], random_state=params["seed"]),
}

results: dict[str, dict[str, float]] = {}
packages: dict[str, dict[str, str]] = {}
with shipyard.start_run():  # joins this stage's run
    for name, estimator in candidates.items():
        pipeline = build(x_train, estimator).fit(x_train, y_train)
        results[name] = scores(y_test, pipeline.predict_proba(x_test)[:, 1])
        if name == "boosting":  # the validation curve, one point per boosting iteration
            prepared = pipeline.named_steps["prepare"].transform(x_test)
            for step, probability in enumerate(estimator.staged_predict_proba(prepared)):
                shipyard.log_metric("boosting.val_roc_auc", roc_auc_score(y_test, probability[:, 1]), step=step)
        info = shipyard.log_model(pipeline, name, input_example=x_train, y_example=y_train)
        packages[name] = {"uri": info.uri, "estimator": type(estimator).__name__}
        print(f"train: {name} test ROC AUC {results[name]['roc_auc']:.4f}, logged as {info.uri}")

pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/candidates.json").write_text(json.dumps(packages, indent=1) + "\n")
pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/metrics.json").write_text(json.dumps(results, indent=1) + "\n")
