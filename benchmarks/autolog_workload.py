"""One side of the autolog benchmark, run in a fresh process: small scikit-learn fits with and without autolog.

    python benchmarks/autolog_workload.py --tool {shipyard,shipyard-nomodels,mlflow} --fits 200 --blocks 4 --store DIR

The loop: a StandardScaler + LogisticRegression pipeline refitted on the breast-cancer set (569 rows, 30
columns) over a grid of C, outside any run, so each autologged fit makes its own run. Blocks of plain fits
and blocks of autologged fits take turns in the same process (autolog switched on and off between them,
untimed), so both see the same machine: on a shared box, load drifts more between two processes than
between two neighbouring blocks. After each autologged block, ``shipyard.flush()`` writes what Shipyard
deferred, timed apart (MLflow writes during the fit; it has nothing left to write). Every timed block
starts from a collected heap: the garbage of switching autolog on and off (and of the writes) would
otherwise be collected inside whichever block came next, charged to fits that made none of it.

Prints one JSON line: ``plain_s`` and ``loop_s`` (the fits without and with autolog, as the user waits for
them), ``drain_s`` (Shipyard's deferred writes), ``fits`` (per side), ``runs`` (runs in the store) and, for
Shipyard, ``capture_ms``: the work its patched fit adds to each fit, timed alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import warnings
from collections.abc import Callable


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True, choices=["shipyard", "shipyard-nomodels", "mlflow"])
    parser.add_argument("--fits", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X, y)  # warm caches and lazy imports before anything is timed
    on, off, drain, count = _switches(args.tool, args.store)
    per_block = args.fits // args.blocks
    grid = [10 ** (-2 + 4 * index / max(per_block - 1, 1)) for index in range(per_block)]
    plain = loop = drained = 0.0
    for _ in range(args.blocks):
        gc.collect()
        started = time.perf_counter()
        for c in grid:
            model.set_params(logisticregression__C=c).fit(X, y)
        plain += time.perf_counter() - started
        on()
        gc.collect()
        started = time.perf_counter()
        for c in grid:
            model.set_params(logisticregression__C=c).fit(X, y)
        loop += time.perf_counter() - started
        off()
        started = time.perf_counter()
        drain()
        drained += time.perf_counter() - started
    capture_ms = _capture_ms(model, X, y) if args.tool.startswith("shipyard") else None
    print(json.dumps({"tool": args.tool, "fits": per_block * args.blocks, "plain_s": plain, "loop_s": loop,
                      "drain_s": drained, "runs": count(), "capture_ms": capture_ms}))


def _capture_ms(model: object, X: object, y: object, repeat: int = 200) -> float:
    """What Shipyard's patched fit adds to each fit, timed alone: the snapshot of the fitted model, the
    fingerprint of the data and the choice of run (the block timings carry the machine's noise; this does not)."""
    from shipyard.models.autolog._record import Snapshot, TrainingData, destination

    started = time.perf_counter()
    for _ in range(repeat):
        Snapshot.of(model), TrainingData.of(X, y), destination()
    return 1000 * (time.perf_counter() - started) / repeat


def _switches(tool: str, store: str) -> tuple[Callable[[], None], Callable[[], None], Callable[[], object],
                                              Callable[[], int]]:
    if tool == "mlflow":
        import mlflow

        mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
        mlflow.autolog(silent=True)  # the first call imports its integrations: not timed
        mlflow.autolog(disable=True)
        return (lambda: mlflow.autolog(silent=True), lambda: mlflow.autolog(disable=True, silent=True),
                lambda: None, lambda: len(mlflow.search_runs(search_all_experiments=True, max_results=100_000)))
    import shipyard

    shipyard.set_store(store)
    log_models = tool == "shipyard"
    shipyard.autolog(log_models=log_models)
    shipyard.autolog(disable=True)
    return (lambda: shipyard.autolog(log_models=log_models), lambda: shipyard.autolog(disable=True),
            shipyard.flush, lambda: len(shipyard.search_runs(max_results=100_000)))


if __name__ == "__main__":
    main()
