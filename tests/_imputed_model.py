"""A Telco-like table with missing text and the pipeline people write for it, for the ONNX export and serving tests.

``telco_like``: two numeric columns (one with NaN) and three text columns with about 8% NaN, one of them with 60
levels: 66 one-hot levels in all. ``imputed_pipeline``: median imputing and scaling of the numbers, the given
imputer then one-hot encoding of the text, logistic regression.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

REGIONS = [f"region-{index:02d}" for index in range(60)]
TEXT_COLUMNS = ["contract", "payment", "region"]
ONE_HOT_LEVELS = 3 + 3 + len(REGIONS)


def telco_like(size: int = 600, seed: int = 5) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)

    def text(levels: list[str]) -> np.ndarray:
        values = rng.choice(np.array(levels, dtype=object), size)
        values[rng.random(size) < 0.08] = np.nan
        return values

    data = pd.DataFrame({
        "tenure": rng.integers(1, 72, size).astype(float),
        "charges": np.where(rng.random(size) < 0.05, np.nan, rng.uniform(18, 120, size)),
        "contract": text(["Month-to-month", "One year", "Two year"]),
        "payment": text(["card", "check", "transfer"]),
        "region": text(REGIONS),
    })
    target = ((data["contract"] == "Month-to-month") & (data["tenure"] < 30)
              | data["region"].isin(REGIONS[:10])).astype(int)
    return data, target


def imputed_pipeline(text_imputer: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("imp", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    text = Pipeline([("imp", text_imputer), ("hot", OneHotEncoder(handle_unknown="ignore"))])
    prepare = ColumnTransformer([("num", numeric, ["tenure", "charges"]), ("cat", text, TEXT_COLUMNS)])
    return Pipeline([("pre", prepare), ("model", LogisticRegression(max_iter=1000))])
