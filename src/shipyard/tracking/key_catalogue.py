"""Which param and metric keys each experiment's runs have (the ``experiment_keys`` table), read and kept.

The UI's column picker needs the keys of one experiment on every page. Finding them in the key tables is a
DISTINCT over every run's params and latest metrics: 450 ms over 100,000 runs on PostgreSQL. The catalogue
answers from its primary key instead. It stays exact because every write of a param or metric
(:func:`~shipyard.tracking.runs.write_params`, :func:`~shipyard.tracking.metrics.insert_points`, a model
export's copy of its runs) calls :func:`record_keys` in the same transaction, and runs are never deleted nor
moved to another experiment. Migration 0013 filled it from the key tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from sqlalchemy import Connection, bindparam, select

from ..store.dialect import insert_ignore
from ..store.schema import experiment_keys, runs

Section = Literal["params", "metrics"]

_RUN_EXPERIMENTS = select(runs.c.id, runs.c.experiment_id).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_ID_CHUNK = 900  # stays under every driver's limit on bound parameters


def record_keys(conn: Connection, section: Section, run_keys: Iterable[tuple[str, str]]) -> None:
    """Add the (run id, key) pairs' keys to their runs' experiments, inside the caller's transaction.

    Rows go in sorted, so two transactions adding overlapping keys on PostgreSQL take their row locks in the same
    order and cannot deadlock.
    """
    pairs = set(run_keys)
    if not pairs:
        return
    run_ids = sorted({run_id for run_id, _ in pairs})
    experiment_of: dict[str, int] = {}
    for start in range(0, len(run_ids), _ID_CHUNK):
        experiment_of.update(conn.execute(_RUN_EXPERIMENTS, {"ids": run_ids[start : start + _ID_CHUNK]}).all())
    wanted = sorted({(experiment_of[run_id], key) for run_id, key in pairs if run_id in experiment_of})
    insert_ignore(conn, experiment_keys,
                  [{"experiment_id": experiment, "section": section, "key": key} for experiment, key in wanted])


def keys_of(conn: Connection, section: Section, experiment_ids: Sequence[int], *, limit: int) -> list[str]:
    """The first ``limit`` keys (sorted) of the section that runs of these experiments have; all experiments
    when ``experiment_ids`` is empty."""
    query = (select(experiment_keys.c.key).where(experiment_keys.c.section == section)
             .distinct().order_by(experiment_keys.c.key).limit(limit))
    if experiment_ids:
        query = query.where(experiment_keys.c.experiment_id.in_(list(experiment_ids)))
    return list(conn.execute(query).scalars())
