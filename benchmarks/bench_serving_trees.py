"""Serving throughput of the tree flavors: XGBoost and LightGBM next to the demo's scikit-learn pipeline.

    python -m benchmarks.bench_serving_trees [--seconds 10]

Each model is trained on the real Telco data and served alone by ``shipyard serve --workers 2 --runtime python``
with micro-batching (the default); wrk sends single-row JSON requests on 64 connections, so requests/s is rows/s.
Models: the demo's logistic-regression pipeline (the anchor of bench_serving), XGBoost and LightGBM on native
categorical features, and both behind the demo's preprocessing. wrk shares the 2 cores with the server: compare
the rows in one run, not across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._load import load_table, serve_single_rows
from benchmarks._results import machine, write_section


def _models() -> dict[str, tuple[Any, Any]]:
    """name -> (fitted model, the input example it is logged with)."""
    import lightgbm
    import xgboost
    from sklearn.linear_model import LogisticRegression

    from shipyard.demo.telco import TARGET, build_pipeline, load_churn

    frame = load_churn()
    features, target = frame.drop(columns=[TARGET]), frame[TARGET]
    text = [name for name in features if features[name].dtype.kind not in "if"]
    categorical = features.astype(dict.fromkeys(text, "category"))
    return {
        "sklearn pipeline (LogisticRegression)": (
            build_pipeline(frame, LogisticRegression(max_iter=2000)).fit(features, target), features),
        "xgboost XGBClassifier, native categoricals": (xgboost.XGBClassifier(
            n_estimators=100, max_depth=5, enable_categorical=True).fit(categorical, target), categorical),
        "lightgbm LGBMClassifier, native categoricals": (lightgbm.LGBMClassifier(
            n_estimators=100, num_leaves=31, verbose=-1).fit(categorical, target), categorical),
        "xgboost in a sklearn Pipeline": (
            build_pipeline(frame, xgboost.XGBClassifier(n_estimators=100, max_depth=5)).fit(features, target),
            features),
        "lightgbm in a sklearn Pipeline": (
            build_pipeline(frame, lightgbm.LGBMClassifier(n_estimators=100, verbose=-1)).fit(features, target),
            features),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load run")
    args = parser.parse_args(argv)
    import shipyard

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-trees-") as folder:
        work = Path(folder)
        shipyard.set_store(work / ".shipyard")
        names = {}
        for index, (name, (model, example)) in enumerate(_models().items(), start=1):
            with shipyard.start_run(experiment="bench-trees"):
                info = shipyard.log_model(model, input_example=example)
            shipyard.register_model(info, f"m{index}")
            names[name] = (f"m{index}", json.loads(example.head(1).to_json(orient="records"))[0])
        shipyard.set_store(None)
        env = {**os.environ, "SHIPYARD_STORE": str(work / ".shipyard")}
        for name, (registered, row) in names.items():
            results[name] = serve_single_rows(registered, "python", row, env=env, cwd=work, seconds=args.seconds)
    print(json.dumps(results, indent=1))
    lines = [f"## Serving the tree flavors\n\n{machine()}; `shipyard serve --workers 2 --runtime python`, "
             f"micro-batching, single-row requests, 64 connections, {args.seconds} s each. wrk and other work "
             "share the cores: compare the rows of one run.\n",
             *load_table(results)]
    write_section("Serving the tree flavors", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
