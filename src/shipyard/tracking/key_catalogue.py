"""Which param and metric keys each experiment's runs have (the ``experiment_keys`` table), read and kept.

The UI's column picker needs the keys of one experiment on every page. Finding them in the key tables is a
DISTINCT over every run's params and latest metrics: 450 ms over 100,000 runs on PostgreSQL. The catalogue
answers from its primary key instead. It stays exact because every write of a param or metric
(:func:`~shipyard.tracking.runs.write_params`, :func:`~shipyard.tracking.metrics.insert_points`, a model
export's copy of its runs) calls :func:`record_keys` in the same transaction, and runs are never deleted nor
moved to another experiment. The one write that skips it, the MLflow API's one-statement metric write, does so
only when :func:`known_keys` says every key is already there. Migration 0013 filled it from the key tables.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, select

from ..store.dialect import insert_ignore_returning
from ..store.schema import experiment_keys, runs

Section = Literal["params", "metrics"]

_RUN_EXPERIMENTS = select(runs.c.id, runs.c.experiment_id).where(runs.c.id.in_(bindparam("ids", expanding=True)))
_ID_CHUNK = 900  # stays under every driver's limit on bound parameters
_MAX_REMEMBERED = 200_000  # entries per database before the memory below starts over


@dataclass
class _Remembered:
    """What one process knows for certain about one database, so that a write of known keys costs no statement.

    A run's experiment never changes. A catalogue row is remembered only once an insert found it already there,
    that is committed (by this process or another), never when this transaction inserted it: a rollback cannot
    leave a remembered key missing.
    """

    experiment_of: dict[str, int] = field(default_factory=dict)
    present: set[tuple[int, str, str]] = field(default_factory=set)  # (experiment id, section, key)


_remembered: weakref.WeakKeyDictionary[Engine, _Remembered] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def record_keys(conn: Connection, section: Section, run_keys: Iterable[tuple[str, str]]) -> None:
    """Add the (run id, key) pairs' keys to their runs' experiments, inside the caller's transaction.

    Keys this process already saw committed cost nothing (a metric batch of known keys runs no extra statement).
    Rows go in sorted, so two transactions adding overlapping keys on PostgreSQL take their row locks in the same
    order and cannot deadlock.
    """
    pairs = set(run_keys)
    if not pairs:
        return
    with _lock:
        remembered = _remembered.setdefault(conn.engine, _Remembered())
        if len(remembered.present) > _MAX_REMEMBERED or len(remembered.experiment_of) > _MAX_REMEMBERED:
            remembered.present.clear()
            remembered.experiment_of.clear()
        unknown_runs = sorted({run_id for run_id, _ in pairs} - remembered.experiment_of.keys())
    found: dict[str, int] = {}
    for start in range(0, len(unknown_runs), _ID_CHUNK):
        found.update(conn.execute(_RUN_EXPERIMENTS, {"ids": unknown_runs[start : start + _ID_CHUNK]}).all())
    with _lock:
        remembered.experiment_of.update(found)
        experiment_of = {run_id: remembered.experiment_of.get(run_id) for run_id, _ in pairs}
        wanted = sorted({(experiment, section, key) for run_id, key in pairs
                         if (experiment := experiment_of[run_id]) is not None} - remembered.present)
    if not wanted:
        return
    inserted = insert_ignore_returning(
        conn, experiment_keys,
        [{"experiment_id": experiment, "section": section, "key": key} for experiment, section, key in wanted],
        ("experiment_id", "section", "key"))
    with _lock:
        remembered.present.update(set(wanted) - inserted)


def known_keys(engine: Engine, section: Section, run_keys: Iterable[tuple[str, str]]) -> bool:
    """Whether this process already saw every (run id, key) pair's key committed in the catalogue, so a write may
    skip :func:`record_keys` (the MLflow API's one-statement metric write relies on it)."""
    with _lock:
        remembered = _remembered.get(engine)
        if remembered is None:
            return False
        for run_id, key in run_keys:
            experiment = remembered.experiment_of.get(run_id)
            if experiment is None or (experiment, section, key) not in remembered.present:
                return False
    return True


def keys_of(conn: Connection, section: Section, experiment_ids: Sequence[int], *, limit: int) -> list[str]:
    """The first ``limit`` keys (sorted) of the section that runs of these experiments have; all experiments
    when ``experiment_ids`` is empty."""
    query = (select(experiment_keys.c.key).where(experiment_keys.c.section == section)
             .distinct().order_by(experiment_keys.c.key).limit(limit))
    if experiment_ids:
        query = query.where(experiment_keys.c.experiment_id.in_(list(experiment_ids)))
    return list(conn.execute(query).scalars())
