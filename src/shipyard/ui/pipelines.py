"""The pipelines page: the project's stage DAG with each stage up to date or stale, and why.

The project is the folder the UI was started in (``UISettings.project_dir``). Status is what ``shipyard
status`` computes (:func:`shipyard.pipeline.status.pipeline_status`) but strictly read-only: no workspace
lock is taken, nothing is written to ``shipyard.lock``, and the stat cache of the hashes is read but never
saved (``save_cache=False``), so a page load cannot race a running ``repro``. The price is that files whose
stat changed are re-hashed on every load.

No ``shipyard.yaml`` is not an error but an empty state that says how to make one; a broken one shows its
ConfigError message with the error's 4xx status, and the rest of the UI is unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import ShipyardError
from ..pipeline.dag import Graph, build_graph
from ..pipeline.lock import read_lock
from ..pipeline.spec import PIPELINE_FILE, load_pipeline
from ..pipeline.status import StageStatus, pipeline_status
from ..store.schema import experiments, runs
from ._graph import GraphEdge, GraphNode, Layout, layout
from ._render import page


@dataclass(frozen=True)
class LastRun:
    run_id: str
    status: str
    start_time: int  # epoch ms


async def pipelines_page(request: Request) -> Response:
    settings = request.app.state.ui
    root: Path | None = settings.project_dir
    if root is None or not (root / PIPELINE_FILE).is_file():
        return page(request, "pipelines.html", root=root, pipeline=None, error=None)
    try:
        pipeline = load_pipeline(root)
        graph = build_graph(pipeline)
        statuses = pipeline_status(root, store=settings.store, save_cache=False)
    except ShipyardError as exc:  # a broken shipyard.yaml, params.yaml or shipyard.lock: say which and why
        return page(request, "pipelines.html", status=exc.http_status, root=root, pipeline=None, error=exc)
    last = last_runs(settings.store, pipeline.name, [status.name for status in statuses], read_lock(pipeline.root))
    return page(request, "pipelines.html", root=root, pipeline=pipeline, error=None, statuses=statuses,
                last_runs=last, dag=dag_layout(graph, statuses, last))


def last_runs(store: Any, pipeline: str, stages: list[str], lock: dict[str, dict[str, Any]]) -> dict[str, LastRun]:
    """Each stage's last execution: the run its lock entry names, else the newest run named after the stage in
    the experiment named after the pipeline (where ``repro`` logs them). One query."""
    from sqlalchemy import or_

    locked = {stage: str(lock[stage]["run_id"]) for stage in stages if (lock.get(stage) or {}).get("run_id")}
    query = (select(runs.c.id, runs.c.name, runs.c.status, runs.c.start_time)
             .select_from(runs.join(experiments, runs.c.experiment_id == experiments.c.id))
             .where(or_(runs.c.id.in_(sorted(locked.values())),
                        (experiments.c.name == pipeline) & runs.c.name.in_(stages)))
             .order_by(runs.c.start_time.desc()))
    rows = store.db.read(lambda conn: conn.execute(query).all())
    by_id = {row.id: row for row in rows}
    found: dict[str, LastRun] = {}
    for stage in stages:
        row = by_id.get(locked.get(stage, ""))
        if row is None:
            row = next((candidate for candidate in rows if candidate.name == stage), None)
        if row is not None:
            found[stage] = LastRun(row.id, row.status, row.start_time)
    return found


def dag_layout(graph: Graph, statuses: list[StageStatus], last: dict[str, LastRun]) -> Layout:
    """The stage DAG for the SVG: a box per stage coloured by state, the reasons in its tooltip, edges named
    after the paths that link two stages."""
    nodes = []
    for status in statuses:
        stage = graph.pipeline.stages[status.name]
        reasons = "\n".join(f"• {reason}" for reason in status.reasons)
        run = last.get(status.name)
        nodes.append(GraphNode(status.name, status.name, "stage", status.state, state=status.state,
                               href=f"/runs/{run.run_id}" if run else None,
                               title=f"{status.name}: {status.state}" + (f"\n{reasons}" if reasons else "")
                               + f"\n$ {stage.command}"))
    edges = []
    for stage in graph.pipeline.stages.values():
        for parent in graph.upstream[stage.name]:
            made = set(graph.pipeline.stages[parent].produced)
            paths = [dep for dep in stage.deps if dep in made or any(dep.startswith(out + "/") for out in made)]
            edges.append(GraphEdge(parent, stage.name, ", ".join(paths)))
    return layout(nodes, edges)


ROUTES = [Route("/pipelines", pipelines_page, name="pipelines")]
