"""One client process of bench_mlflow_compat: plain MLflow client code, timed call by call (runs in MLflow's venv).

    python mlflow_compat_workload.py SECONDS EXPERIMENT OUT.json

Writes OUT.json.ready once started, then waits for the file named by ``MLFLOW_COMPAT_GO`` (so every client starts
at once), then logs one metric per call with ``mlflow.log_metric(key, value, step=i)`` for SECONDS, inside one run,
and writes the call count, each call's latency and the client's own CPU time to OUT.json. The server is whatever
``MLFLOW_TRACKING_URI`` names: only that changes between the two sides.
"""

import json
import os
import sys
import time

import mlflow


def main() -> None:
    seconds, experiment, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    mlflow.set_experiment(experiment)
    with open(out + ".ready", "w"):
        pass  # started (imports and set_experiment done): the benchmark starts every client at once
    go = os.environ.get("MLFLOW_COMPAT_GO")
    deadline = time.monotonic() + 120
    while go and not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.01)  # the start signal: every client begins logging together
    latencies = []
    with mlflow.start_run() as run:
        started = time.perf_counter()
        cpu_started = time.process_time()
        end = started + seconds
        step = 0
        while time.perf_counter() < end:
            before = time.perf_counter()
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            latencies.append(time.perf_counter() - before)
            step += 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    with open(out, "w") as handle:
        json.dump({"run_id": run.info.run_id, "calls": step, "elapsed_s": elapsed, "cpu_s": cpu,
                   "latencies_s": latencies}, handle)


if __name__ == "__main__":
    main()
