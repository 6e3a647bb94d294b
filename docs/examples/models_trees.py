"""XGBoost and LightGBM models in their own formats: native categoricals, a Pipeline, exact answers after loading.
Executed by the tests."""

import lightgbm
import numpy as np
import pandas as pd
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard

rng = np.random.default_rng(0)
customers = pd.DataFrame({"tenure": rng.integers(1, 72, 2000),
                          "contract": rng.choice(["Month-to-month", "One year", "Two year"], 2000)})
churn = ((customers["contract"] == "Month-to-month") & (customers["tenure"] < 24)).astype(int)

# Native categorical support: the text column as pandas' category dtype.
categorical = customers.astype({"contract": "category"})
boosted = xgboost.XGBClassifier(n_estimators=20, enable_categorical=True).fit(categorical, churn)
# LightGBM behind scikit-learn preprocessing: skops stores the preprocessing, LightGBM's text file the model.
prepare = ColumnTransformer([("contract", OneHotEncoder(handle_unknown="ignore"), ["contract"])],
                            remainder="passthrough")
light = Pipeline([("prepare", prepare), ("model", lightgbm.LGBMClassifier(n_estimators=20, verbose=-1))])
light.fit(customers, churn)

with shipyard.start_run(experiment="trees"):
    for name, model, example in (("xgb", boosted, categorical), ("lgbm", light, customers)):
        info = shipyard.log_model(model, name, input_example=example)
        loaded = shipyard.load_model(info.uri)  # clients send text: it reaches XGBoost as the training categories
        same = np.array_equal(loaded.predict_proba(customers).to_numpy(), model.predict_proba(example))
        print(f"{name}: {loaded.manifest['flavor']} ({loaded.manifest['serializer']}),",
              f"files {sorted(loaded.manifest['files'])}, same probabilities: {same}")
