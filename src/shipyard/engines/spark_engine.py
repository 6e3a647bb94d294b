"""The Spark engine: pieces as the tasks of one Spark job, the model sent to the executors as one broadcast.

Each task reads its row groups straight from the file with pyarrow (over fsspec, so ``s3://`` needs no Hadoop
connector), scores them in the executor's Python worker, which builds the model once and keeps it for the
following tasks (Spark reuses its Python workers), and writes its part. Spark schedules, retries and ships; a
retried task rewrites the same part, named by its first row.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from ..extras import require
from ..models.batch import DEFAULT_BATCH_SIZE, BatchResult
from .pieces import Job, Summary, score_piece
from .plan import Piece
from .run import predict_on
from .shipment import Shipment


class SparkEngine:
    """Scores pieces with a SparkSession's executors."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @property
    def parallelism(self) -> int:
        return max(1, int(self.session.sparkContext.defaultParallelism))

    def score(self, shipment: Shipment, pieces: list[Piece], job: Job) -> list[Summary]:
        context = self.session.sparkContext
        shipped = context.broadcast(shipment)
        try:
            tasks = context.parallelize(pieces, len(pieces))
            return list(tasks.map(partial(_score_broadcast, shipped=shipped, job=job)).collect())
        finally:
            shipped.destroy()


def _score_broadcast(piece: Piece, shipped: Any, job: Job) -> Summary:
    return score_piece(piece, shipped.value, job)


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Hide pyspark's notice that it does not yet fully support pandas 3: it is not the user's to act on, and what
    Shipyard uses of pyspark's pandas support is tested here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark does not yet fully support pandas", category=FutureWarning)
        yield


def import_pyspark() -> Any:
    """pyspark.sql, or MissingExtraError naming the spark extra."""
    with quiet_pyspark():
        require("pyspark", "The Spark engine")
        import pyspark.sql

        return pyspark.sql


def is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[")


@contextmanager
def spark_engine(master: str | None = None) -> Iterator[SparkEngine]:
    """A :class:`SparkEngine` on a session for ``master`` (``local[*]`` when None), stopped afterwards.

    Executors run the Python that runs this (``PYSPARK_PYTHON`` unless set); a local session listens on
    127.0.0.1 only and starts no web UI.
    """
    sql = import_pyspark()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    master = master or "local[*]"
    builder = (sql.SparkSession.builder.appName("shipyard predict").master(master)
               .config("spark.ui.showConsoleProgress", "false"))
    if is_local_master(master):
        builder = (builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.ui.enabled", "false"))
    with quiet_pyspark():
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield SparkEngine(session)
    finally:
        session.stop()


def predict_file(spark: Any, model_uri: str, source: str, output: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 id_columns: list[str] | None = None, on_error: str = "fail", runtime: str = "auto",
                 trust: bool | Iterable[str] = ()) -> BatchResult:
    """Score the Parquet file or folder ``source`` (a path or ``s3://`` URL) into the Parquet file ``output``.

    The same options and output as :func:`shipyard.predict_batch`: id columns, ``prediction`` and one
    ``proba_<class>`` per class in input order, the model's metadata in the file, bad rows failing the run or
    listed in ``<output>.errors.csv`` (``on_error="skip"``). ``runtime`` is ``"auto"`` (the verified ONNX export
    when attached), ``"python"`` or ``"onnx"``.

    Args:
        spark: the SparkSession whose executors score (``local[*]`` or a cluster).
    """
    return predict_on(SparkEngine(spark), model_uri, source, output, batch_size=batch_size, id_columns=id_columns,
                      on_error=on_error, runtime=runtime, trust=trust)
