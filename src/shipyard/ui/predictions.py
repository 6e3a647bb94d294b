"""One logged prediction and its lineage back to data: ``/predictions/{request_id}``.

The chain is :func:`shipyard.lineage_query.prediction_lineage`, the same answer as ``shipyard lineage
REQUEST_ID``: the request's answers (live and shadow) with inputs, outputs, variant and latency, the
feedback it got, and for each model version that answered, its run, training data hash, git commit and,
for a pipeline stage run, the stages and raw data behind it. The page lays that out as links:
request -> deployment/variant -> model version (``/models/{name}/{version}``) -> run (``/runs/{id}``) -> data.

The request is looked up directly in the prediction log (not through ``lineage(target)``, which first tries
the text as a run id), so a request id that happens to look like a run id prefix still finds its prediction.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import NotFoundError
from ..lineage_query import prediction_lineage
from ..predlog.readers import find_prediction
from ._render import page
from ._serving_log import project_serving
from ._version import pipeline_stages

if TYPE_CHECKING:
    from .settings import UISettings


async def prediction_page(request: Request) -> Response:
    settings: UISettings = request.app.state.ui
    request_id = request.path_params["request_id"]
    chain = await run_in_threadpool(_chain, settings, request_id)
    answers = [{**answer, "timestamp": datetime.fromisoformat(answer["timestamp"])} for answer in chain["prediction"]]
    chain["feedback"] = [{**item, "received": datetime.fromisoformat(item["received"])} for item in chain["feedback"]]
    live = [answer for answer in answers if not answer["shadow"]] or answers
    inputs = [name for answer in live for name in answer["inputs"]]
    return page(request, "prediction.html", request_id=request_id, chain=chain, answers=answers, live=live,
                input_names=list(dict.fromkeys(inputs)), models=[_model_link(uri, found)
                                                                   for uri, found in chain["models"].items()])


def _chain(settings: UISettings, request_id: str) -> dict[str, Any]:
    serving = project_serving(settings)
    rows = find_prediction(request_id, log_dir=serving.log_dir)
    if not len(rows):
        raise NotFoundError(f"No logged prediction has the request id {request_id!r}; the deployment pages list "
                            "recent ones (/deployments), `shipyard predictions DEPLOYMENT` lists them all.")
    return prediction_lineage(settings.store, rows, log_dir=serving.log_dir)


def _model_link(uri: str, found: dict[str, Any]) -> dict[str, Any]:
    """One model version's part of the chain, flattened for the template (links, commit, data hashes)."""
    version = found.get("model_version") or {}
    run = found.get("run") or {}
    git = found.get("git") or {}
    sources = [{"path": item["path"], "hash": item["hash"], "stage": item.get("read_by")}
               for item in found.get("sources") or []]
    return {
        "uri": uri, "error": found.get("error"), "name": version.get("name"), "version": version.get("version"),
        "aliases": found.get("alias_holders") or [], "run": run, "git": git,
        "training_data": found.get("training_data"), "stages": pipeline_stages(found), "sources": sources,
        "package": found.get("package") or {},
    }


ROUTES = [Route("/predictions/{request_id}", prediction_page, name="prediction")]
