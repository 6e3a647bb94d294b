"""A real model that answers NaN for some finite inputs once it runs in float32, for the "never return a non-finite
probability" tests.

``tiny``: standard scaling then logistic regression over two float columns whose training values are below 0.001,
so the scaler multiplies by about 3,500. In float32 (an ONNX graph) ``x1 = 3e38`` becomes +inf and ``x2 = -3e38``
becomes -inf, and the linear part adds them: NaN, for inputs that are themselves inside the float32 range. In
float64 (scikit-learn) the same inputs stay finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["x1", "x2"]
NAN_ROW = {"x1": 3e38, "x2": -3e38}  # finite, inside float32, and NaN out of the ONNX graph
GOOD_ROW = {"x1": 0.0004, "x2": 0.0007}


def tiny_frame(rows: int = 400, seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.uniform(0, 0.001, rows), "x2": rng.uniform(0, 0.001, rows)})
    return frame, (frame["x1"] + frame["x2"] > 0.001).astype(int)


def tiny_pipeline() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target = tiny_frame()
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(frame, target)


def tiny_tree() -> Any:
    """The same columns, answered by a tree: finite for any finite input, in any runtime."""
    from sklearn.tree import DecisionTreeClassifier

    frame, target = tiny_frame()
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(frame, target)


def tiny_graph(pipeline: Any) -> Any:
    """The pipeline converted by skl2onnx (one float32 input per column, plain probability tensor)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    inputs = [(name, FloatTensorType([None, 1])) for name in COLUMNS]
    return convert_sklearn(pipeline, initial_types=inputs, options={"zipmap": False}, target_opset=17)


def register_tiny_pair(experiment: str, *, challenger: bool = True) -> None:
    """Register ``tiny`` v1 (the pipeline) and v2 (the tree) in the current store, each logged in its own run of
    ``experiment``; ``champion`` is v1 and, unless told otherwise, ``challenger`` v2: what a rollout starts from."""
    import shipyard

    inputs, target = tiny_frame()
    for model in (tiny_pipeline(), tiny_tree()):
        with shipyard.start_run(experiment=experiment):
            info = shipyard.log_model(model, input_example=inputs, y_example=target)
        shipyard.register_model(info.uri, "tiny")
    shipyard.set_alias("tiny", "champion", 1)
    if challenger:
        shipyard.set_alias("tiny", "challenger", 2)
