"""The Dask engine: pieces as tasks on a ``dask.distributed`` cluster, the model scattered to every worker once.

Without ``--scheduler`` a LocalCluster of worker processes (one thread each, as many as cores) is started on
127.0.0.1 for the run and stopped after it; with it, the client joins that scheduler, whose workers must have
Shipyard installed and reach the input and output (``s3://`` on a real cluster).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ConfigError
from ..extras import require
from ..models.batch import DEFAULT_BATCH_SIZE, BatchResult
from .pieces import Job, Summary, score_piece
from .plan import Piece
from .run import predict_on
from .shipment import Shipment


class DaskEngine:
    """Scores pieces with a ``distributed.Client``'s workers."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def parallelism(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def score(self, shipment: Shipment, pieces: list[Piece], job: Job) -> list[Summary]:
        shipped = self.client.scatter(shipment, broadcast=True, hash=False)
        try:
            futures = self.client.map(score_piece, pieces, shipment=shipped, job=job, pure=False)
            return list(self.client.gather(futures))
        finally:
            shipped.release()


@contextmanager
def dask_engine(scheduler: str | None = None, *, workers: int | None = None) -> Iterator[DaskEngine]:
    """A :class:`DaskEngine` on the scheduler at ``scheduler`` (``tcp://host:8786``), or on a LocalCluster."""
    require("distributed", "The Dask engine")
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"Cannot reach the Dask scheduler at {scheduler} ({exc}); check --scheduler.") from exc
        with client:
            yield DaskEngine(client)
        return
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None, scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield DaskEngine(client)


def predict_file(client: Any, model_uri: str, source: str, output: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 id_columns: list[str] | None = None, on_error: str = "fail", runtime: str = "auto",
                 trust: bool | Iterable[str] = ()) -> BatchResult:
    """Score the Parquet file or folder ``source`` (a path or ``s3://`` URL) into the Parquet file ``output``.

    The same options and output as :func:`shipyard.predict_batch`: id columns, ``prediction`` and one
    ``proba_<class>`` per class in input order, the model's metadata in the file, bad rows failing the run or
    listed in ``<output>.errors.csv`` (``on_error="skip"``). ``runtime`` is ``"auto"`` (the verified ONNX export
    when attached), ``"python"`` or ``"onnx"``.

    Args:
        client: the ``distributed.Client`` whose workers score.
    """
    return predict_on(DaskEngine(client), model_uri, source, output, batch_size=batch_size, id_columns=id_columns,
                      on_error=on_error, runtime=runtime, trust=trust)
