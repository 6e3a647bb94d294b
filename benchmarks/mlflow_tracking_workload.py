"""MLflow side of the tracking benchmark; run by the MLflow anchor venv's python.

Run as a file (not a module) so it imports nothing from the project but its sibling
``tracking_values``. Setup (imports, schema creation, untimed seeding) happens before the
clock starts; one JSON line with the timed seconds goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

from tracking_values import SEARCH_FILTER, SEARCH_ORDER_BY, run_values


def log_metric_loop(experiment_id: str, n: int) -> float:
    """n fluent log_metric calls in one run; the clock includes starting and ending it."""
    start = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment_id, run_name="r"):
        for i in range(n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    return time.perf_counter() - start


def log_batch(experiment_id: str, n: int) -> float:
    """One MlflowClient.log_batch call carrying n metric points (run created untimed)."""
    client = MlflowClient()
    run_id = client.create_run(experiment_id, run_name="r").info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric("loss", 1.0 / (i + 1), now, i) for i in range(n)]
    start = time.perf_counter()
    client.log_batch(run_id, metrics=metrics)
    seconds = time.perf_counter() - start
    client.set_terminated(run_id)
    return seconds


def _create_runs(experiment_id: str, n: int) -> None:
    """n runs with 10 params and 10 metrics each, through the fluent API as a user would."""
    for i in range(n):
        params, metrics = run_values(i)
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"r{i}"):
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)


def create_runs(experiment_id: str, n: int) -> float:
    start = time.perf_counter()
    _create_runs(experiment_id, n)
    return time.perf_counter() - start


def search_runs(experiment_id: str, n: int) -> tuple[float, int]:
    """Filtered, ordered search over n runs (seeded untimed); also returns the row count."""
    _create_runs(experiment_id, n)
    start = time.perf_counter()
    frame = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string=SEARCH_FILTER,
        order_by=SEARCH_ORDER_BY,
        max_results=n,
    )
    return time.perf_counter() - start, len(frame)


WORKLOADS: dict[str, Callable[[str, int], float | tuple[float, int]]] = {
    "log_metric_loop": log_metric_loop,
    "log_batch": log_batch,
    "create_runs": create_runs,
    "search_runs": search_runs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri", required=True, help="sqlite:///path/to/mlflow.db")
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()

    mlflow.set_tracking_uri(args.tracking_uri)
    # Creates the sqlite schema (seconds of migrations) before anything is timed.
    experiment_id = mlflow.set_experiment("bench").experiment_id
    result = WORKLOADS[args.workload](experiment_id, args.n)
    seconds, rows = result if isinstance(result, tuple) else (result, None)
    line: dict[str, object] = {"workload": args.workload, "n": args.n, "seconds": seconds}
    if rows is not None:
        line["rows"] = rows
    print(json.dumps(line))


if __name__ == "__main__":
    main()
