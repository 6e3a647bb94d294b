"""Experiments: named groups of runs, created on first use."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from ..errors import NotFoundError
from ..store import Store
from ..store.dialect import insert_ignore
from ..store.schema import experiments, runs
from .validation import check_name

DEFAULT_EXPERIMENT = "Default"


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at_ms: int
    run_count: int


def experiment_id(store: Store, name: str, *, create: bool = True) -> int:
    """The id of experiment ``name``, creating it when ``create`` (cached per process and store)."""
    check_name(name, "experiment")
    ids: dict[str, int] = store.cache.setdefault("experiment_ids", {})
    if name in ids:
        return ids[name]

    def find(conn: Connection) -> int | None:
        return conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar()

    found = store.db.read(find)
    if found is None:
        if not create:
            raise NotFoundError(f"There is no experiment named {name!r}; `shipyard experiments list` shows them.")

        def create_it(conn: Connection) -> int:
            # Another process may be creating it right now: on PostgreSQL both transactions run at once and
            # the second insert would hit the unique name. Insert-if-absent waits for the other one instead,
            # and the read after it sees whichever row won.
            insert_ignore(conn, experiments, [{"name": name, "created_at": int(time.time() * 1000)}])
            created = find(conn)
            assert created is not None
            return created

        found = store.db.write(create_it)
    ids[name] = found
    return found


def list_experiments(store: Store) -> list[Experiment]:
    def query(conn: Connection) -> list[Experiment]:
        counts = (
            select(runs.c.experiment_id, func.count().label("n")).group_by(runs.c.experiment_id).subquery()
        )
        rows = conn.execute(
            select(experiments.c.id, experiments.c.name, experiments.c.created_at, counts.c.n)
            .outerjoin(counts, counts.c.experiment_id == experiments.c.id)
            .order_by(experiments.c.name)
        )
        return [Experiment(row.id, row.name, row.created_at, row.n or 0) for row in rows]

    return store.db.read(query)


def find_experiment(store: Store, *, id_: int | None = None, name: str | None = None) -> Experiment:
    """The experiment with this id or name (its ``run_count`` is not counted: 0).

    Raises:
        NotFoundError: there is none.
    """
    condition = experiments.c.id == id_ if id_ is not None else experiments.c.name == name
    row = store.db.read(lambda conn: conn.execute(
        select(experiments.c.id, experiments.c.name, experiments.c.created_at).where(condition)).first())
    if row is None:
        what = f"id {id_}" if id_ is not None else f"name {name!r}"
        raise NotFoundError(f"There is no experiment with the {what}; `shipyard experiments list` shows them.")
    return Experiment(row.id, row.name, row.created_at, 0)
