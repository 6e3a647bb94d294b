"""Run by the real MLflow client (its own venv): fill a server with runs, metric histories, artifacts and registered
models, and print as JSON what was logged, for the import tests to compare against."""

import hashlib
import json
import os

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric
from sklearn.linear_model import LogisticRegression

BASE_MS = 1_700_000_000_000
client = MlflowClient()
out: dict = {"runs": {}, "info": {}}
mlflow.set_experiment("churn")
for index in range(int(os.environ.get("FILL_RUNS", "6"))):
    with mlflow.start_run(run_name=f"lr-{index}") as run:
        mlflow.log_params({"C": str(0.1 * (index + 1)), "penalty": "l2"})
        mlflow.set_tags({"team": "risk", "idx": str(index)})
        # Two values at step 5 (MLflow keeps both) and explicit timestamps, to check histories point for point.
        history = [(step, float(np.sin(step / 7) + index), BASE_MS + index * 10_000 + step * 13) for step in range(40)]
        history.append((5, -1.5, BASE_MS + 999))
        client.log_batch(run.info.run_id, metrics=[Metric("loss", v, t, s) for s, v, t in history])
        payload = os.urandom(3000 + index)
        with open("blob.bin", "wb") as handle:
            handle.write(payload)
        mlflow.log_artifact("blob.bin", artifact_path="data")
        mlflow.log_dict({"index": index}, "meta/info.json")
        if index == 0:
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("acc", 0.5, step=1)
            out["child"] = child.info.run_id
    out["runs"][run.info.run_id] = {"loss": sorted([s, v, t] for s, v, t in history),
                                    "blob": hashlib.sha256(payload).hexdigest()}
mlflow.set_experiment("other")
with mlflow.start_run(run_name="broken") as run:
    mlflow.log_metric("x", 1.0)
client.set_terminated(run.info.run_id, "FAILED", end_time=BASE_MS + 999_999)
out["failed"] = run.info.run_id

mlflow.set_experiment("churn")
rng = np.random.default_rng(0)
X = pd.DataFrame({"tenure": rng.normal(size=60), "charges": rng.normal(size=60)})
y = (X["tenure"] + rng.normal(scale=0.3, size=60) > 0).astype(int)
model = LogisticRegression().fit(X, y)
with mlflow.start_run(run_name="train") as run:
    mlflow.sklearn.log_model(model, name="model", input_example=X.head(5), registered_model_name="churn",
                             serialization_format="skops", skops_trusted_types=["numpy.dtype"])
with mlflow.start_run(run_name="train-pickle") as run2:
    mlflow.sklearn.log_model(model, name="model", input_example=X.head(5), registered_model_name="churn",
                             serialization_format="cloudpickle")
client.set_registered_model_alias("churn", "champion", 1)
client.set_registered_model_alias("churn", "challenger", 2)
out["models"] = {"train_run": run.info.run_id, "pickle_run": run2.info.run_id,
                 "probabilities": model.predict_proba(X)[:, 1].tolist(), "X": X.to_dict(orient="list")}
for found in client.search_runs([e.experiment_id for e in client.search_experiments()]):
    out["info"][found.info.run_id] = {"start": found.info.start_time, "end": found.info.end_time,
                                      "status": found.info.status, "user": found.info.user_id,
                                      "experiment": client.get_experiment(found.info.experiment_id).name,
                                      "params": found.data.params, "tags": found.data.tags}
print(json.dumps(out))
