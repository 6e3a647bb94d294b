"""Scoring one piece on a worker: read its row groups, score each batch, write one part file, report a summary.

Workers always score with bad rows set aside (``on_error="skip"``) and report them: whether a bad row stops the
run is the driver's decision (:mod:`.assemble`), made over the whole input, so the row it names is the input's
first bad row whatever order the engine ran the pieces in. A Shipyard error on a worker (a column of the wrong
type in one of several files, an answer that is not finite) travels back inside the summary and is raised again,
unchanged, on the driver; the engines' own error wrapping would turn it into a traceback.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import ShipyardError
from ..models.batch import BatchResult, score_batch
from ..models.datafile import check_column_types
from .plan import Piece, filesystem, open_input, open_output
from .shipment import Shipment, builds_in_this_process, model_for


@dataclass(frozen=True)
class Job:
    """What every piece of one run shares."""

    source_name: str
    columns: tuple[str, ...]
    id_columns: tuple[str, ...]
    parts_url: str  # the folder the parts go to, beside the output
    batch_size: int


@dataclass
class Summary:
    """What a piece reports: its rows, its part file (None when no row was scored) and what was set aside."""

    start: int
    rows: int
    rows_in: int = 0
    rows_out: int = 0
    part: str | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unseen_levels: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    error: CarriedError | None = None
    process: int = 0  # the worker process's id, and how many times it had built this model when done (1 is
    builds: int = 0  # the design: a process builds each model once, whatever number of pieces it scores)
    seconds: float = 0.0


@dataclass(frozen=True)
class CarriedError:
    """A ShipyardError as plain data: its class, message and attributes, raised again on the driver as itself."""

    module: str
    name: str
    message: str
    attributes: dict[str, Any]

    @classmethod
    def of(cls, exc: ShipyardError) -> CarriedError:
        return cls(type(exc).__module__, type(exc).__qualname__, str(exc), dict(vars(exc)))

    def rebuild(self) -> ShipyardError:
        from importlib import import_module

        kind = getattr(import_module(self.module), self.name)
        rebuilt: ShipyardError = kind.__new__(kind)
        Exception.__init__(rebuilt, self.message)
        vars(rebuilt).update(self.attributes)
        return rebuilt


def part_name(start: int) -> str:
    """Parts sort by name in input order."""
    return f"part-{start:015d}.parquet"


def score_piece(piece: Piece, shipment: Shipment, job: Job) -> Summary:
    """Score ``piece`` into ``<parts_url>/part-<start>.parquet``; never raises a ShipyardError (it is carried)."""
    started = time.perf_counter()
    summary = Summary(piece.start, piece.rows, process=os.getpid())
    try:
        _score(piece, shipment, job, summary)
    except ShipyardError as exc:
        summary.error = CarriedError.of(exc)
    summary.builds = builds_in_this_process(shipment)
    summary.seconds = time.perf_counter() - started
    return summary


def _score(piece: Piece, shipment: Shipment, job: Job, summary: Summary) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = model_for(shipment)
    kinds = {spec.name: spec.kind for spec in model.signature.inputs}
    result = BatchResult(output=job.parts_url)
    parts_fs, parts_path = filesystem(job.parts_url)
    writer: Any = None
    sink: Any = None
    try:
        with open_input(piece.url) as handle:
            batches = pq.ParquetFile(handle).iter_batches(batch_size=job.batch_size, row_groups=list(piece.row_groups),
                                                          columns=list(job.columns))
            for batch in batches:
                check_column_types(batch.schema, kinds, job.source_name, values=batch)
                frame = batch.to_pandas()
                start = piece.start + result.rows_in
                result.rows_in += len(frame)
                frame.index = range(start, start + len(frame))
                scored = score_batch(model, frame, list(job.id_columns), "skip", result, job.source_name)
                if scored is None or not len(scored):
                    continue
                table = pa.Table.from_pandas(scored, preserve_index=False)
                if writer is None:
                    parts_fs.makedirs(parts_path, exist_ok=True)
                    sink = open_output(job.parts_url.rstrip("/") + "/" + part_name(piece.start))
                    writer = pq.ParquetWriter(sink, table.schema)
                writer.write_table(table)
                result.rows_out += len(scored)
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.close()
    summary.rows_in, summary.rows_out, summary.skipped = result.rows_in, result.rows_out, result.skipped
    summary.unseen_levels, summary.out_of_range = result.unseen_levels, result.out_of_range
    summary.part = job.parts_url.rstrip("/") + "/" + part_name(piece.start) if writer is not None else None
