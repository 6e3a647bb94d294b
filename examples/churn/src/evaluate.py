"""evaluate: score every candidate on the holdout, which neither fitting nor model choice has seen.

The candidates are loaded back from their packages (the URIs train wrote to models/candidates.json),
so this checks what will be registered and served, not an object still in memory. The top-level
``roc_auc`` is the best candidate's, the number the runs table sorts the pipeline's runs by.
"""

from __future__ import annotations

import json
import pathlib

import pandas as pd
import yaml
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score

import shipyard

TARGET = "churn"
ID = "customer_id"

threshold = yaml.safe_load(pathlib.Path("params.yaml").read_text())["evaluate"]["threshold"]
candidates = json.loads(pathlib.Path("models/candidates.json").read_text())
holdout = pd.read_parquet("data/holdout.parquet")
x_holdout, y_holdout = holdout.drop(columns=[TARGET, ID]), holdout[TARGET]

results: dict[str, float | dict[str, float]] = {}
with shipyard.start_run():  # joins this stage's run
    for name, entry in candidates.items():
        probability = shipyard.load_model(entry["uri"]).predict_proba(x_holdout)["proba_1"].to_numpy()
        predicted = (probability >= threshold).astype(int)
        results[name] = {"roc_auc": roc_auc_score(y_holdout, probability), "log_loss": log_loss(y_holdout, probability),
                         "f1": f1_score(y_holdout, predicted), "accuracy": accuracy_score(y_holdout, predicted)}
        shipyard.log_dict({"labels": [0, 1], "matrix": confusion_matrix(y_holdout, predicted).tolist()},
                          f"confusion_matrix/{name}.json")
        print(f"evaluate: {name} holdout ROC AUC {results[name]['roc_auc']:.4f}")
results["roc_auc"] = max(scores["roc_auc"] for scores in results.values() if isinstance(scores, dict))

pathlib.Path("reports").mkdir(exist_ok=True)
pathlib.Path("reports/holdout.json").write_text(json.dumps(results, indent=1) + "\n")
