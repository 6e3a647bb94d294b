"""Batch scoring on Spark and Dask: the Spark engine against MLflow's ``spark_udf``, Dask against the local engine.

    python -m benchmarks.bench_engines [--rows N]

One Parquet file of ``--rows`` churn rows (5,000,000 by default; 100,000-row row groups) and one fitted
scikit-learn pipeline (imputer, scaler, one-hot, logistic regression), used by every side:

- MLflow 3 (its own venv with pyspark, ``benchmarks/_mlflow_spark.py``) saves that pipeline with
  ``pyfunc_predict_fn="predict_proba"`` and scores the file with ``mlflow.pyfunc.spark_udf`` on ``local[2]``:
  ``spark.read.parquet`` -> the UDF -> ``write.parquet`` of the id and the probabilities.
- Shipyard logs the same fitted pipeline and scores the same file on ``local[2]`` with its Spark engine
  (``shipyard.spark.predict_file``: one output file with ids, label and probabilities), with the Python runtime
  and with the verified ONNX export, and with ``shipyard.spark.predict_udf`` in MLflow's read -> UDF -> write form.
- The local engine (``shipyard.predict_batch``) and the Dask engine on a 2-process LocalCluster score it too.

Each side runs once after a warm-up on a small file (sessions, clusters and Python workers started, the model
loaded), so the figure is the job, not the start of a JVM. The goal is the Spark engine at >= 2x MLflow's rows/s.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks._results import machine, write_section

ROW_GROUP = 100_000
TARGET_RATIO = 2.0
NUMERIC = ["tenure", "monthly_charges", "total_charges", "senior"]
CATEGORICAL = ["contract", "payment", "internet"]

# Runs in the MLflow venv: save the pickled pipeline as an MLflow model, score the warm-up file, then time the big one.
MLFLOW_SCORE = textwrap.dedent("""
    import json, os, pickle, sys, time
    import mlflow.pyfunc, mlflow.sklearn
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import struct
    pipeline_file, model_dir, small, big, out, columns = sys.argv[1:7]
    columns = columns.split(",")
    with open(pipeline_file, "rb") as handle:
        pipe = pickle.load(handle)
    mlflow.sklearn.save_model(pipe, model_dir, pyfunc_predict_fn="predict_proba",
                              skops_trusted_types=["numpy.dtype"])
    spark = (SparkSession.builder.master("local[2]").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    udf = mlflow.pyfunc.spark_udf(spark, model_dir, result_type="array<double>", env_manager="local")
    def score(source, target):
        frame = spark.read.parquet(source)
        scored = udf(struct(*columns)).alias("probabilities")  # a struct: the UDF reads the columns by name
        frame.select("customer_id", scored).write.mode("overwrite").parquet(target)
    score(small, out + "-warm")
    started = time.perf_counter()
    score(big, out)
    seconds = time.perf_counter() - started
    rows = spark.read.parquet(out).count()
    print(json.dumps({"seconds": seconds, "rows": rows}))
    spark.stop()
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows in the scored file")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave out the MLflow anchor (no venv build)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-engines-") as folder:
        work = Path(folder)
        figures = run(work, args.rows, skip_mlflow=args.skip_mlflow)
    report(figures, args.rows)
    return 0


def run(work: Path, rows: int, *, skip_mlflow: bool) -> dict[str, Any]:
    import shipyard

    shipyard.set_store(work / ".shipyard")
    pipeline, training = _fit(work)
    with shipyard.start_run(experiment="bench-engines"):
        info = shipyard.log_model(pipeline, input_example=training)
    shipyard.register_model(info, "churn")
    python_uri = "models:/churn/1"
    with shipyard.start_run(experiment="bench-engines"):
        info = shipyard.log_model(pipeline, input_example=training)
    shipyard.register_model(info, "churn")
    onnx_uri = "models:/churn/2"
    shipyard.export_onnx(onnx_uri, work / "churn.onnx")  # attached: runtime auto runs it
    small, big = work / "small.parquet", work / "big.parquet"
    _write_rows(small, 20_000, seed=1)
    _write_rows(big, rows, seed=2)
    figures: dict[str, Any] = {}
    if not skip_mlflow:
        figures["mlflow"] = _mlflow(work, pipeline, small, big)
    figures.update(_shipyard_spark(work, python_uri, onnx_uri, small, big))
    figures.update(_local_and_dask(work, python_uri, small, big))
    shipyard.set_store(None)
    return figures


def _fit(work: Path) -> tuple[Any, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    training = _rows(20_000, seed=0)
    target = training.pop("churn")
    training = training.drop(columns=["customer_id"])
    prepare = ColumnTransformer([("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                                       ("scale", StandardScaler())]), NUMERIC),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    pipeline = Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=2000))]).fit(training, target)
    with open(work / "pipeline.pkl", "wb") as handle:
        pickle.dump(pipeline, handle)
    return pipeline, training


def _rows(count: int, *, seed: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 73, count)
    monthly = rng.uniform(18, 120, count).round(2)
    frame = pd.DataFrame({
        "customer_id": np.arange(count, dtype="int64"), "tenure": tenure, "monthly_charges": monthly,
        "total_charges": (monthly * tenure * rng.uniform(0.9, 1.1, count)).round(2),
        "senior": rng.integers(0, 2, count),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], count),
        "payment": rng.choice(["Electronic check", "Mailed check", "Bank transfer", "Credit card"], count),
        "internet": rng.choice(["DSL", "Fiber optic", "No"], count)})
    logit = -1.5 + 0.03 * (monthly - 60) - 0.04 * (tenure - 30) + 1.2 * (frame["contract"] == "Month-to-month")
    frame["churn"] = (rng.uniform(size=count) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _write_rows(path: Path, count: int, *, seed: int) -> None:
    """Written in slices so 5 million rows never sit in memory twice."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, count, 1_000_000):
        frame = _rows(min(1_000_000, count - start), seed=seed + start).drop(columns=["churn"])
        frame["customer_id"] += start
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    if writer is not None:
        writer.close()


def _mlflow(work: Path, pipeline: Any, small: Path, big: Path) -> dict[str, Any]:
    from benchmarks._mlflow_spark import MLFLOW_ENV, MLFLOW_VERSION, mlflow_spark_python

    python = mlflow_spark_python()
    script = work / "mlflow_score.py"
    script.write_text(MLFLOW_SCORE)
    env = {**os.environ, **MLFLOW_ENV, "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python)}
    done = subprocess.run([str(python), str(script), str(work / "pipeline.pkl"), str(work / "mlflow-model"),
                           str(small), str(big), str(work / "mlflow-scores"), ",".join([*NUMERIC, *CATEGORICAL])],
                          capture_output=True, text=True, env=env, timeout=7200, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the MLflow side failed:\n{done.stderr[-4000:]}")
    import json

    found = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": found["seconds"], "rows": found["rows"], "version": MLFLOW_VERSION}


def _shipyard_spark(work: Path, python_uri: str, onnx_uri: str, small: Path, big: Path) -> dict[str, Any]:
    import shipyard
    from shipyard.engines.spark_engine import import_pyspark, quiet_pyspark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    sql = import_pyspark()
    with quiet_pyspark():
        spark = (sql.SparkSession.builder.master("local[2]").config("spark.driver.host", "127.0.0.1")
                 .config("spark.driver.bindAddress", "127.0.0.1").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    figures: dict[str, Any] = {}
    try:
        for name, uri in (("spark_python", python_uri), ("spark_onnx", onnx_uri)):
            shipyard.spark.predict_file(spark, uri, str(small), str(work / f"{name}-warm.parquet"),
                                        id_columns=["customer_id"])
            started = time.perf_counter()
            result = shipyard.spark.predict_file(spark, uri, str(big), str(work / f"{name}.parquet"),
                                                 id_columns=["customer_id"])
            figures[name] = {"seconds": time.perf_counter() - started, "rows": result.rows_out}
        udf = shipyard.spark.predict_udf(spark, python_uri, result="probabilities")

        def score(source: Path, target: Path) -> None:
            frame = spark.read.parquet(str(source))
            frame.select("customer_id", udf().alias("probabilities")).write.mode("overwrite").parquet(str(target))

        score(small, work / "udf-warm")
        started = time.perf_counter()
        score(big, work / "udf")
        figures["spark_udf"] = {"seconds": time.perf_counter() - started,
                                "rows": spark.read.parquet(str(work / "udf")).count()}
    finally:
        spark.stop()
    return figures


def _local_and_dask(work: Path, uri: str, small: Path, big: Path) -> dict[str, Any]:
    import distributed

    import shipyard

    figures: dict[str, Any] = {}
    shipyard.predict_batch(uri, small, work / "local-warm.parquet", id_columns=["customer_id"])
    started = time.perf_counter()
    result = shipyard.predict_batch(uri, big, work / "local.parquet", id_columns=["customer_id"])
    figures["local"] = {"seconds": time.perf_counter() - started, "rows": result.rows_out}
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        shipyard.dask.predict_file(client, uri, str(small), str(work / "dask-warm.parquet"), id_columns=["customer_id"])
        started = time.perf_counter()
        result = shipyard.dask.predict_file(client, uri, str(big), str(work / "dask.parquet"),
                                            id_columns=["customer_id"])
        figures["dask"] = {"seconds": time.perf_counter() - started, "rows": result.rows_out}
    return figures


def report(figures: dict[str, Any], rows: int) -> None:
    def rate(name: str) -> float:
        return figures[name]["rows"] / figures[name]["seconds"]

    lines = ["| side | what runs | rows | seconds | rows/s | vs anchor |", "|---|---|---|---|---|---|"]
    anchor = rate("mlflow") if "mlflow" in figures else None
    sides = [
        ("mlflow", f"MLflow {figures.get('mlflow', {}).get('version', '')} `spark_udf` (predict_proba), local[2]",
         "anchor"),
        ("spark_python", "Shipyard Spark engine, Python runtime, local[2]", "mlflow"),
        ("spark_onnx", "Shipyard Spark engine, verified ONNX runtime, local[2]", "mlflow"),
        ("spark_udf", "Shipyard `predict_udf` (probabilities), read -> UDF -> write, local[2]", "mlflow"),
        ("local", "Shipyard local engine (`shipyard predict`), one process", "anchor"),
        ("dask", "Shipyard Dask engine, LocalCluster of 2 processes", "local"),
    ]
    for name, title, versus in sides:
        if name not in figures:
            continue
        base = anchor if versus == "mlflow" else rate("local") if versus == "local" else None
        ratio = "anchor" if base is None else f"{rate(name) / base:.2f}x"
        lines.append(f"| {name} | {title} | {figures[name]['rows']:,} | {figures[name]['seconds']:.1f} | "
                     f"{rate(name):,.0f} | {ratio} |")
    table = "\n".join(lines)
    verdict = ""
    if anchor is not None:
        best = rate("spark_python") / anchor
        verdict = (f"\n\n- Spark engine (Python runtime) vs MLflow spark_udf: {best:.2f}x rows/s (target >= "
                   f"{TARGET_RATIO:g}x: {'pass' if best >= TARGET_RATIO else 'FAIL'})")
    print(table + verdict)
    write_section("Batch scoring on Spark and Dask",
                  f"## Batch scoring on Spark and Dask\n\n{time.strftime('%Y-%m-%d')}, {machine()}; {rows:,} rows, "
                  f"one run each after a warm-up (the 2 cores are shared).\n\n{table}{verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
