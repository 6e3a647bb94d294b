"""Batch scoring on a real local Spark (``local[2]``, one session for the module: the JVM takes seconds to start):
the engine gives the local engine's rows, order and numbers, and ``predict_udf`` its answers inside a DataFrame."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from tests.integration.engines.conftest import Churn, RecordingEngine, assert_same_output, write_parts

pytest.importorskip("pyspark", reason="the Spark engine needs the spark extra (pyspark)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from shipyard.engines.spark_engine import import_pyspark, quiet_pyspark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    sql = import_pyspark()
    with quiet_pyspark():
        session = (sql.SparkSession.builder.master("local[2]").appName("shipyard-tests")
                   .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()



def test_the_spark_engine_scores_a_folder_as_the_local_engine_scores_the_file(spark: Any, churn: Churn,
                                                                             tmp_path: Path) -> None:
    from shipyard.engines.run import predict_on
    from shipyard.engines.spark_engine import SparkEngine

    live = churn.live.astype({"tenure": "float64"})
    live.loc[[10, 2500], "tenure"] = 7.5  # bad rows, skipped and listed as the local engine lists them
    live.to_parquet(tmp_path / "all.parquet")
    local = shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet",
                                   id_columns=["customer_id"], on_error="skip")
    write_parts(live, tmp_path / "live")
    engine = RecordingEngine(SparkEngine(spark))
    result = predict_on(engine, churn.uri, str(tmp_path / "live"), str(tmp_path / "spark.parquet"),
                        id_columns=["customer_id"], on_error="skip", batch_size=200, runtime="python")
    assert (result.rows_in, result.rows_out) == (local.rows_in, local.rows_out) == (len(live), len(live) - 2)
    assert result.skipped == local.skipped
    assert_same_output(tmp_path / "spark.parquet", tmp_path / "local.parquet")
    per_process: dict[int, int] = {}
    for summary in engine.summaries:
        per_process[summary.process] = per_process.get(summary.process, 0) + 1
    assert max(per_process.values()) > 1  # a Python worker scored several pieces...
    assert {summary.builds for summary in engine.summaries} == {1}  # ...and built the model once


def test_predict_udf_answers_inside_a_dataframe_as_the_local_engine(spark: Any, churn: Churn, tmp_path: Path) -> None:
    churn.live.to_parquet(tmp_path / "all.parquet")
    shipyard.predict_batch(churn.uri, tmp_path / "all.parquet", tmp_path / "local.parquet", id_columns=["customer_id"])
    reference = pd.read_parquet(tmp_path / "local.parquet").set_index("customer_id")
    frame = spark.read.parquet(str(tmp_path / "all.parquet"))
    probabilities = shipyard.spark.predict_udf(spark, churn.uri, result="probabilities", runtime="python")
    label = shipyard.spark.predict_udf(spark, churn.uri, runtime="python")
    frame.select("customer_id", label().alias("prediction"),
                 probabilities("tenure", "monthly_charges", "contract").alias("p")) \
        .select("customer_id", "prediction", "p.proba_0", "p.proba_1").write.parquet(str(tmp_path / "scored"))
    scored = pd.read_parquet(tmp_path / "scored").set_index("customer_id").loc[reference.index]
    assert scored["prediction"].tolist() == reference["prediction"].tolist()
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]].to_numpy(), reference[["proba_0", "proba_1"]].to_numpy(),
                               rtol=0, atol=1e-12)
    with pytest.raises(shipyard.ValidationError, match="takes 3 columns"):
        label("tenure")
