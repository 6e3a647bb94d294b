"""Shipyard side of the tracking benchmark; run by the project's python.

Mirrors ``mlflow_tracking_workload.py`` workload for workload so the two compare like for
like, with the same params/metrics from ``tracking_values``. Setup (imports, store
creation, untimed seeding) happens before the clock starts; one JSON line with the timed
seconds goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import shipyard
from tracking_values import SEARCH_FILTER, SEARCH_ORDER_BY, run_values


def log_metric_loop(n: int) -> float:
    """n log_metric calls in one run; the clock includes starting and ending it (the flush)."""
    start = time.perf_counter()
    with shipyard.start_run(experiment="bench", name="r"):
        for i in range(n):
            shipyard.log_metric("loss", 1.0 / (i + 1), step=i)
    return time.perf_counter() - start


# Shipyard has no batch call for many steps of one metric (log_metrics logs one step), so
# the counterpart of MLflow's log_batch is n log_metric calls at distinct steps, timed
# including the end of the run, when buffered points are written.
log_batch = log_metric_loop


def log_metric_million(n: int) -> float:
    """Shipyard-only scale check: the same loop at 1,000,000 calls, flush included."""
    return log_metric_loop(n)


def _create_runs(n: int) -> None:
    """n runs with 10 params and 10 metrics each, as a user would log them."""
    for i in range(n):
        params, metrics = run_values(i)
        with shipyard.start_run(experiment="bench", name=f"r{i}"):
            shipyard.log_params(params)
            shipyard.log_metrics(metrics)


def create_runs(n: int) -> float:
    start = time.perf_counter()
    _create_runs(n)
    return time.perf_counter() - start


def search_runs(n: int) -> tuple[float, int]:
    """Filtered, ordered search over n runs (seeded untimed); also returns the row count."""
    _create_runs(n)
    # Untimed first search on the warm-up experiment: loads pandas and the search code,
    # which `import mlflow` has already done before MLflow's clock starts.
    shipyard.search_runs(experiment="warmup", filter=SEARCH_FILTER, order_by=SEARCH_ORDER_BY, max_results=1)
    start = time.perf_counter()
    frame = shipyard.search_runs(
        experiment="bench",
        filter=SEARCH_FILTER,
        order_by=SEARCH_ORDER_BY,
        max_results=n,
    )
    return time.perf_counter() - start, len(frame)


WORKLOADS: dict[str, Callable[[int], float | tuple[float, int]]] = {
    "log_metric_loop": log_metric_loop,
    "log_batch": log_batch,
    "log_metric_million": log_metric_million,
    "create_runs": create_runs,
    "search_runs": search_runs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", required=True, help="empty directory for the Shipyard store")
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()

    shipyard.set_store(args.store)
    # Untimed warm-up in another experiment: creates the store's schema and loads lazy
    # imports, as MLflow's untimed set_experiment does on its side.
    with shipyard.start_run(experiment="warmup", name="warmup"):
        pass
    result = WORKLOADS[args.workload](args.n)
    seconds, rows = result if isinstance(result, tuple) else (result, None)
    line: dict[str, object] = {"workload": args.workload, "n": args.n, "seconds": seconds}
    if rows is not None:
        line["rows"] = rows
    print(json.dumps(line))


if __name__ == "__main__":
    main()
