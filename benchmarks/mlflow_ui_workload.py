"""MLflow side of the UI benchmark: a sqlite store with N runs; run by the MLflow anchor venv's python.

Run as a file (it imports only its sibling ``ui_values`` from the project). One run is logged through
``MlflowClient`` (so every table has MLflow's own rows for it); the other N-1 are clones of its rows made
by SQL with their own ids, names and values, because logging 10,000 runs through MLflow's API takes
minutes. Prints one JSON line: the experiment id and the seconds the fill took.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid

from ui_values import run_values

RUN_TABLES = ("runs", "params", "metrics", "latest_metrics", "tags")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, required=True)
    args = parser.parse_args()

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    started = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{args.db}")
    experiment = client.create_experiment("bench")
    params, metrics = run_values(0)
    template = client.create_run(experiment, run_name="r0", start_time=1_700_000_000_000).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(template, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
    client.set_terminated(template, end_time=1_700_000_000_500)

    with sqlite3.connect(args.db) as db:
        db.row_factory = sqlite3.Row
        templates = {table: [dict(row) for row in db.execute(f"SELECT * FROM {table} WHERE run_uuid = ?",
                                                             (template,))] for table in RUN_TABLES}
        for index in range(1, args.runs):
            run_id = uuid.uuid4().hex
            params, metrics = run_values(index)
            for table, rows in templates.items():
                copies = []
                for row in rows:
                    copy = {key: value.replace(template, run_id) if isinstance(value, str) else value
                            for key, value in row.items()}
                    if table == "runs":
                        copy.update(name=f"r{index}", start_time=1_700_000_000_000 + index * 1000,
                                    end_time=1_700_000_000_500 + index * 1000)
                    elif table == "params":
                        copy["value"] = params[row["key"]]
                    elif table in ("metrics", "latest_metrics"):
                        copy["value"] = metrics[row["key"]]
                    elif table == "tags" and row["key"] == "mlflow.runName":
                        copy["value"] = f"r{index}"
                    copies.append(copy)
                if copies:
                    columns = list(copies[0])
                    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                    db.executemany(statement, [tuple(copy[key] for key in columns) for copy in copies])
    found = len(client.search_runs([experiment], max_results=50_000))
    if found != args.runs:
        raise SystemExit(f"MLflow holds {found} runs, expected {args.runs}")
    print(json.dumps({"experiment_id": experiment, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
