"""Models quickstart: package, register, promote through the gate, batch-score. Executed by the tests."""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard

rng = np.random.default_rng(0)
customers = pd.DataFrame({"tenure": rng.integers(1, 72, 2000),
                          "contract": rng.choice(["Month-to-month", "One year", "Two year"], 2000)})
churn = ((customers["contract"] == "Month-to-month") & (customers["tenure"] < 24)).astype(int)
train, holdout = customers.iloc[:1500], customers.iloc[1500:]

for c_value in (0.001, 10.0):
    prepare = ColumnTransformer([("contract", OneHotEncoder(handle_unknown="ignore"), ["contract"])],
                                remainder="passthrough")
    pipeline = Pipeline([("prepare", prepare), ("model", LogisticRegression(C=c_value, max_iter=1000))])
    with shipyard.start_run(experiment="models-quickstart", name=f"C={c_value}"):
        shipyard.log_params({"C": c_value})
        info = shipyard.log_model(pipeline.fit(train, churn[:1500]), input_example=train)
    shipyard.register_model(info, "churn")

folder = Path(tempfile.mkdtemp())
holdout.assign(churn=churn[1500:]).to_parquet(folder / "holdout.parquet")
shipyard.set_alias("churn", "champion", 1, reason="first model")
decision = shipyard.promote_model("churn", candidate=2, data=folder / "holdout.parquet", target="churn",
                                  metric="roc_auc", min_delta=0.005)
print("promoted:", decision.promoted, "| champion is now", shipyard.load_model("models:/churn@champion").version)

result = shipyard.predict_batch("models:/churn@champion", folder / "holdout.parquet", folder / "scores.parquet")
print("scored rows:", result.rows_out)
print("trained on:", shipyard.lineage("models:/churn@champion")["training_data"]["rows"], "rows")
