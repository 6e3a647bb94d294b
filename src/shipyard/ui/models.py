"""The registry pages: every model, one model's versions and audit log, and moving an alias from the browser.

``/models`` lists registered models; ``/models/{name}`` shows the versions (a page at a time), the aliases
and the audit log of alias moves and promotion decisions with their scores. Moving an alias is the UI's
only write: the form is drawn only when the UI was started with ``--allow-write``, and the POST is checked
three times before the registry is touched: same-origin (a page on another site cannot post it from a
visitor's browser), write mode and token (:func:`~shipyard.ui.app.require_write`). The version page lives
in :mod:`shipyard.ui._version`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import MalformedRequestError, NotFoundError, PayloadTooLargeError, ShipyardError, ValidationError
from ..models import registry
from ..models.package import read_manifest
from ..store.schema import model_versions, runs
from ._render import page
from ._version import version_page
from .app import require_write

VERSIONS_PER_PAGE = 50
AUDIT_EVENTS_SHOWN = 500
MAX_FORM_BYTES = 64 * 1024


class CrossSiteRefused(ShipyardError, PermissionError):
    """A change posted from a page of another site (its Origin is not this UI's host)."""

    exit_code = 2
    http_status = 403


async def models_page(request: Request) -> Response:
    store = request.app.state.ui.store
    models = registry.list_models(store)
    counts: dict[str, int] = dict(store.db.read(lambda conn: conn.execute(
        select(model_versions.c.name, func.count()).group_by(model_versions.c.name)).all()))
    rows = [{**model, "versions": counts.get(model["name"], 0),
             "updated": datetime.fromisoformat(model["updated_at"]),
             "aliases": sorted(model["aliases"].items())} for model in models]
    return page(request, "models.html", models=rows)


async def model_page(request: Request) -> Response:
    store = request.app.state.ui.store
    name = request.path_params["name"]
    versions = registry.list_versions(store, name)  # NotFoundError (404 page) for an unknown model
    page_number = _page_number(request, len(versions))
    shown = versions[(page_number - 1) * VERSIONS_PER_PAGE: page_number * VERSIONS_PER_PAGE]
    run_names = _run_names(store, {version.run_id for version in shown})
    rows = [{"version": version, "flavor": _flavor(store, version), "run_name": run_names.get(version.run_id)}
            for version in shown]
    events = registry.alias_history(store, name)
    aliases = sorted((alias, version.version) for version in versions for alias in version.aliases)
    return page(request, "models_detail.html", name=name, rows=rows, aliases=aliases,
                events=[_event_row(event) for event in reversed(events[-AUDIT_EVENTS_SHOWN:])],
                events_total=len(events), versions_total=len(versions), page_number=page_number,
                pages=max(1, -(-len(versions) // VERSIONS_PER_PAGE)),
                version_numbers=[version.version for version in versions])


async def move_alias(request: Request) -> Response:
    """POST ``/models/{name}/aliases``: point an alias at a version, then back to the model page (303)."""
    name = request.path_params["name"]
    _require_same_origin(request)
    form = await _form(request)
    require_write(request, form.get("token") or None)
    alias = form.get("alias", "").strip()
    version = _version_number(form.get("version", ""))
    reason = form.get("reason", "").strip() or None
    registry.set_alias(request.app.state.ui.store, name, alias, version, reason=reason,
                       details={"via": "shipyard ui"})
    return RedirectResponse(f"/models/{quote(name, safe='')}?moved={quote(alias, safe='')}#audit", status_code=303)


def _require_same_origin(request: Request) -> None:
    """Refuse a post a browser sent on behalf of another site (CSRF): its Origin must be this host."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
            origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")):
        raise CrossSiteRefused("This change came from a page of another site, so it was refused; move aliases "
                               "from this UI's own model page.")


async def _form(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form post (first value of each); other bodies are refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise MalformedRequestError("Send the alias form as application/x-www-form-urlencoded (the model page's "
                                    f"form does), not {kind or 'an empty content type'}.")
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else 0
    body = b"" if size > MAX_FORM_BYTES else await request.body()  # never read a body declared too large
    if max(size, len(body)) > MAX_FORM_BYTES:
        raise PayloadTooLargeError(f"The form is {max(size, len(body))} bytes; at most {MAX_FORM_BYTES} are "
                                   "accepted.", limit=MAX_FORM_BYTES)
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _version_number(text: str) -> int:
    value = text.strip().lstrip("v")
    if not value.isdigit():
        raise ValidationError(f"{text!r} is not a version number; pick one of the model's versions.",
                              field="version")
    return int(value)


def _page_number(request: Request, total: int) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError(f"page must be a whole number from 1, not {raw!r}.", field="page")
    return min(int(raw), max(1, -(-total // VERSIONS_PER_PAGE)))


def _run_names(store: Any, run_ids: set[str]) -> dict[str, str]:
    if not run_ids:
        return {}
    return dict(store.db.read(lambda conn: conn.execute(
        select(runs.c.id, runs.c.name).where(runs.c.id.in_(sorted(run_ids)))).all()))


def _flavor(store: Any, version: registry.ModelVersion) -> str:
    """``sklearn (skops)``, plus ``+ onnx`` when a verified ONNX file is attached; ``?`` if the package is gone."""
    try:
        manifest = read_manifest(store, version.run_id, version.path)
    except (NotFoundError, ValidationError):
        return "?"
    text = f"{manifest.get('flavor', '?')} ({manifest.get('serializer', '?')})"
    return text + (" + onnx" if "onnx.path" in version.tags and manifest.get("flavor") != "onnx" else "")


def _event_row(event: registry.AliasEvent) -> dict[str, Any]:
    """One audit-log line: a decision's scores pulled out of its details so the template shows them as columns."""
    details = event.details or {}
    scores = None
    if "metric" in details:
        scores = {"metric": details["metric"], "candidate": details.get("candidate_score"),
                  "current": details.get("current_score"), "min_delta": details.get("min_delta"),
                  "rows": details.get("rows")}
    return {"event": event, "scores": scores, "via": details.get("via"),
            "moved": event.action not in ("held_back", "unchanged")}


ROUTES = [
    Route("/models", models_page, name="models"),
    Route("/models/{name}", model_page, name="model"),
    Route("/models/{name}/aliases", move_alias, methods=["POST"], name="move-alias"),
    Route("/models/{name}/{version:int}", version_page, name="model-version"),
]
