"""The deployments pages: every deployment with its traffic, and one deployment's monitoring.

``/deployments`` lists what ``serving.yaml`` names and what has a prediction log, with variants and
weights, predictions in the last 24 hours and the latest answer. ``/deployments/{name}`` runs monitoring
over a window (``?since=24h`` or ``?from=...&to=...``) and shows it with the report's own section
renderers, so the page and ``shipyard monitor report`` can never disagree, followed by the latest logged
predictions, each linking to its lineage (``/predictions/{request_id}``, in :mod:`.predictions`).

Monitoring a big log takes seconds, so the log reads and the monitoring pass run in a worker thread
(``run_in_threadpool``): the event loop keeps serving other pages meanwhile. A window is at most
``MAX_WINDOW_DAYS`` long (a 422 page beyond, naming the query parameters): a link can then never ask one
page load for years of log. ``shipyard monitor report`` takes any window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import NotFoundError, ValidationError
from ..monitoring.monitor import MonitoringResult, monitor
from ..monitoring.report import report_sections, report_summary
from ..monitoring.source import Window, window_from
from . import predictions
from ._render import page
from ._serving_log import LatestHour, ProjectServing, latest_hour, live_rows, project_serving, recent_predictions

if TYPE_CHECKING:
    from ..serving.spec import Deployment
    from .settings import UISettings

DAY_MS = 86_400_000
MAX_WINDOW_DAYS = 90
PARAMETERS = ("'since'", "'from'", "'to'")  # the query parameters, as this page's messages name them
RECENT_ROWS = 50
WINDOWS = ("1h", "6h", "24h", "7d")  # the quick choices above the monitoring
Seen = dict[tuple[str, bool], tuple[int, list[str]]]  # (variant, shadow) -> (live rows, models) in the log


@dataclass
class VariantRow:
    """One line of a deployment's variants table: as ``serving.yaml`` sets it, and as the log saw it."""

    name: str
    models: list[str]
    weight_share: float | None  # the variant's share of the weights in serving.yaml; None if it is not there
    shadow: bool
    rows: int | None = None  # live rows in the window shown (detail page) or in the newest hour (list)


@dataclass
class DeploymentSummary:
    name: str
    configured: bool
    variants: list[VariantRow]
    rows_24h: int
    latest: LatestHour | None


async def deployments_list(request: Request) -> Response:
    settings: UISettings = request.app.state.ui
    serving, summaries = await run_in_threadpool(_overview, settings)
    return page(request, "deployments.html", serving=serving, deployments=summaries)


async def deployment_page(request: Request) -> Response:
    settings: UISettings = request.app.state.ui
    name = request.path_params["name"]
    params = request.query_params
    since, start, end = params.get("since") or None, params.get("from") or None, params.get("to") or None
    window = page_window(since, start, end)  # a bad range is a 422 page at once
    context = await run_in_threadpool(_deployment, settings, name, window, since, start, end)
    return page(request, "deployment.html", since=since, start=start, end=end, windows=WINDOWS, **context)


def _overview(settings: UISettings) -> tuple[ProjectServing, list[DeploymentSummary]]:
    serving = project_serving(settings)
    now_ms = int(time.time() * 1000)
    summaries = []
    for name in serving.deployment_names():
        deployment = serving.config.deployment(name) if serving.config else None
        logged = serving.has_log(name)
        latest = latest_hour(serving.root, name) if logged else None
        seen = {(item.name, item.shadow): (item.rows, item.models) for item in latest.variants} if latest else {}
        variants = _configured(deployment, seen) if deployment else _seen_only(seen)
        rows = live_rows(serving.root, name, now_ms - DAY_MS, now_ms + 1) if logged else 0
        summaries.append(DeploymentSummary(name, deployment is not None, variants, rows, latest))
    return serving, summaries


def page_window(since: str | None, start: str | None, end: str | None) -> Window:
    """The window the query names (monitoring's own parsing), at most ``MAX_WINDOW_DAYS`` long.

    Raises:
        ValidationError: a bad or empty range, or a longer one; the message names ``since``/``from``/``to``.
    """
    window = window_from(since, start, end, names=PARAMETERS)
    days = math.ceil((window.end_ms - window.start_ms) / DAY_MS)
    if days > MAX_WINDOW_DAYS:
        raise ValidationError(
            f"The window is {days:,} days long; this page monitors at most {MAX_WINDOW_DAYS} days: give "
            f"'since' up to {MAX_WINDOW_DAYS}d, or 'from' and 'to' at most {MAX_WINDOW_DAYS} days apart. "
            "`shipyard monitor report --from ... --to ...` takes a longer window.",
            field="from" if start else "to" if end else "since")
    return window


def _deployment(settings: UISettings, name: str, window: Window, since: str | None, start: str | None,
                end: str | None) -> dict[str, Any]:
    serving = project_serving(settings)
    deployment = serving.config.deployment(name) if serving.config else None
    if deployment is None and not serving.has_log(name):
        known = ", ".join(serving.deployment_names()) or "none yet"
        raise NotFoundError(f"No deployment named {name!r}: serving.yaml does not define it and it has no "
                            f"prediction log (deployments: {known}).")
    rows = live_rows(serving.root, name, window.start_ms, window.end_ms) if serving.has_log(name) else 0
    result: MonitoringResult | None = None
    problem = None
    if rows:
        try:
            result = monitor(name, since=since, start=start, end=end, log_dir=serving.log_dir, store=settings.store)
        except NotFoundError as exc:  # e.g. the serving model version was deleted: say so, show the rest
            problem = exc.message
    seen = {(key, False): (info.get("rows", 0), [f"version {version}" for version in sorted(info.get("versions", {}))])
            for key, info in (result.current.variants.items() if result else [])}
    variants = _configured(deployment, seen) if deployment is not None else _seen_only(seen)
    return {
        "name": name, "serving": serving, "window": window, "rows": rows, "variants": variants,
        "result": result, "problem": problem,
        "summary": _markup(report_summary(result, heading_level=2)) if result else None,
        "sections": _markup(report_sections(result)) if result else None,
        "recent": recent_predictions(serving.root, name, window, RECENT_ROWS) if rows else [],
    }


def _configured(deployment: Deployment, seen: Seen) -> list[VariantRow]:
    """The variants and shadows of ``serving.yaml``, then any variant the log saw that it does not name."""
    total = sum(variant.weight for variant in deployment.variants) or 1.0
    rows = [VariantRow(item.name, [item.model], None if item.shadow else item.weight / total, item.shadow,
                       seen.get((item.name, item.shadow), (None, []))[0])
            for item in (*deployment.variants, *deployment.shadows)]
    named = {(row.name, row.shadow) for row in rows}
    return rows + _seen_only({key: value for key, value in seen.items() if key not in named})


def _seen_only(seen: Seen) -> list[VariantRow]:
    return [VariantRow(name, models, None, shadow, rows) for (name, shadow), (rows, models) in sorted(seen.items())]


def _markup(html: str) -> Any:
    """Report HTML as markup: :mod:`shipyard.monitoring.report` escapes every name and message itself."""
    from markupsafe import Markup

    return Markup(html)


ROUTES = [
    Route("/deployments", deployments_list, name="deployments"),
    Route("/deployments/{name}", deployment_page, name="deployment"),
    *predictions.ROUTES,
]
