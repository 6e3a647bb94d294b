"""``shipyard predict --engine spark|dask``: plan on the driver, score the pieces on the engine, join the parts.

An :class:`Engine` is anything that can run :func:`.pieces.score_piece` over a list of pieces with one shipment
sent to its workers once; :mod:`.spark_engine` and :mod:`.dask_engine` are the two. The order of work is chosen
so that bad input costs nothing: the model is read and the input's footers checked before an engine starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ..errors import ValidationError
from ..models.batch import DEFAULT_BATCH_SIZE, ON_ERROR, BatchResult
from ..models.package import LoadedModel
from .assemble import combine, finish, parts_url_for, remove_parts
from .pieces import Job, Summary
from .plan import Piece, Plan, is_parquet_name, plan_input
from .shipment import Shipment, prepare_shipment


class Engine(Protocol):
    """Runs pieces on a cluster. ``parallelism`` is how many pieces it scores at once (its task slots)."""

    @property
    def parallelism(self) -> int: ...

    def score(self, shipment: Shipment, pieces: list[Piece], job: Job) -> list[Summary]:
        """:func:`.pieces.score_piece` on every piece, ``shipment`` sent to each worker once; any order."""
        ...


@dataclass
class Prepared:
    """A run checked and ready for an engine: everything that can be refused was refused before one started."""

    shipment: Shipment
    model: LoadedModel
    plan: Plan
    output: str
    id_columns: list[str]
    on_error: str
    batch_size: int

    @property
    def label(self) -> str:
        return f"{self.model.name} v{self.model.version}" if self.model.name else self.model.uri


def prepare(uri: str, source: str, output: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
            id_columns: list[str] | None = None, on_error: str = "fail", runtime: str = "auto",
            trust: bool | Iterable[str] = ()) -> Prepared:
    """Check the options, read and verify the model, and check the input's columns (footers only)."""
    if on_error not in ON_ERROR:
        raise ValidationError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}.", field="on_error")
    if batch_size < 1:
        raise ValidationError(f"batch_size must be positive, got {batch_size}.", field="batch_size")
    if not is_parquet_name(output):
        raise ValidationError(f"The output {os.path.basename(output)!r} must be a .parquet file for the Spark and Dask "
                              "engines.", field="output")
    source, output = _absolute(source), _absolute(output)
    ids = list(id_columns or [])
    shipment, model = prepare_shipment(uri, runtime=runtime, trust=trust)
    plan = plan_input(source, model.signature, ids)
    return Prepared(shipment, model, plan, output, ids, on_error, batch_size)


def run(engine: Engine, prepared: Prepared) -> BatchResult:
    """Score the prepared run's pieces on ``engine`` and write its output (see :func:`predict_on`)."""
    plan = prepared.plan
    pieces = plan.pieces(batch_size=prepared.batch_size, parallelism=engine.parallelism)
    parts_url = parts_url_for(prepared.output)
    job = Job(plan.source_name, tuple(plan.columns), tuple(prepared.id_columns), parts_url, prepared.batch_size)
    try:
        summaries = engine.score(prepared.shipment, pieces, job) if pieces else []
        result = combine(plan, pieces, summaries, prepared.output)
        return finish(plan, summaries, result, prepared.model, prepared.on_error, prepared.id_columns)
    finally:
        remove_parts(parts_url)


def predict_on(engine: Engine, uri: str, source: str, output: str, *, batch_size: int = DEFAULT_BATCH_SIZE,
               id_columns: list[str] | None = None, on_error: str = "fail", runtime: str = "auto",
               trust: bool | Iterable[str] = ()) -> BatchResult:
    """Score the Parquet file or folder ``source`` into the Parquet file ``output`` (local paths or ``s3://``).

    The same options and the same answer as :func:`shipyard.predict_batch` (with the Python runtime): ids,
    ``prediction`` and ``proba_<class>`` in input order, the model's metadata in the file, bad rows failing the
    run or listed in ``<output>.errors.csv``. ``runtime`` is ``auto`` (the version's verified ONNX export when
    attached), ``python`` or ``onnx``.
    """
    return run(engine, prepare(uri, source, output, batch_size=batch_size, id_columns=id_columns,
                               on_error=on_error, runtime=runtime, trust=trust))


def _absolute(location: str) -> str:
    """Workers may not share the driver's working directory: local paths go to them absolute."""
    return location if "://" in location else os.path.abspath(location)
