"""The landing page: experiments with their run counts and latest activity."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store.schema import experiments, runs
from ._render import page


def home(request: Request) -> Response:
    latest = func.max(runs.c.start_time)
    query = (
        select(experiments.c.name, func.count(runs.c.id).label("runs"), latest.label("latest"))
        .select_from(experiments.outerjoin(runs, runs.c.experiment_id == experiments.c.id))
        .group_by(experiments.c.name).order_by(latest.desc().nulls_last(), experiments.c.name)
    )
    rows: list[Any] = request.app.state.ui.store.db.read(lambda conn: list(conn.execute(query).all()))
    return page(request, "home.html", experiments=rows)


ROUTES = [Route("/", home, name="home")]
