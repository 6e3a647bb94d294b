"""The registry pages: every model, one model's versions and audit log, and moving an alias from the browser.

``/models`` lists registered models; ``/models/{name}`` shows the versions (a page at a time), the aliases
and the audit log of alias moves and promotion decisions with their scores. Moving an alias is the UI's
only write: the form is drawn only when the UI was started with ``--allow-write``, and the POST is checked
three times before the registry is touched: same-origin (a page on another site cannot post it from a
visitor's browser), write mode and token (:func:`~shipyard.ui.settings.require_write`). The version page lives
in :mod:`shipyard.ui._version`; its URL takes only 1 to 9 ASCII digits as the version (the ``version``
route convertor registered here), so ``/models/m/99999999999999999999999`` is a plain 404 and never an
integer too large for the database.

The pages are plain functions (Starlette runs them in its thread pool): reading the registry and one
manifest per version shown is blocking work that must not stall the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ..errors import ForbiddenError, MalformedRequestError, NotFoundError, PayloadTooLargeError, ValidationError
from ..models import registry
from ..models.manifest import read_manifest
from ..store.schema import model_versions, runs
from ._paging import WHOLE_NUMBER, page_count, requested_page
from ._render import page
from ._version import version_page
from .settings import require_write

VERSIONS_PER_PAGE = 50
AUDIT_EVENTS_SHOWN = 500
MAX_FORM_BYTES = 64 * 1024



def models_page(request: Request) -> Response:
    store = request.app.state.ui.store
    models = registry.list_models(store)
    counts: dict[str, int] = dict(store.db.read(lambda conn: conn.execute(
        select(model_versions.c.name, func.count()).group_by(model_versions.c.name)).all()))
    rows = [{**model, "versions": counts.get(model["name"], 0),
             "updated": datetime.fromisoformat(model["updated_at"]),
             "aliases": sorted(model["aliases"].items())} for model in models]
    return page(request, "models.html", models=rows)


def model_page(request: Request) -> Response:
    store = request.app.state.ui.store
    name = request.path_params["name"]
    versions = registry.list_versions(store, name)  # NotFoundError (404 page) for an unknown model
    pages = page_count(len(versions), VERSIONS_PER_PAGE)
    page_number = min(requested_page(request), pages)
    shown = versions[(page_number - 1) * VERSIONS_PER_PAGE: page_number * VERSIONS_PER_PAGE]
    run_names = _run_names(store, {version.run_id for version in shown})
    rows = [{"version": version, "flavor": _flavor(store, version), "run_name": run_names.get(version.run_id)}
            for version in shown]
    events = registry.alias_history(store, name)
    aliases = sorted((alias, version.version) for version in versions for alias in version.aliases)
    return page(request, "models_detail.html", name=name, rows=rows, aliases=aliases,
                events=[_event_row(event) for event in reversed(events[-AUDIT_EVENTS_SHOWN:])],
                events_total=len(events), versions_total=len(versions), page_number=page_number, pages=pages,
                version_numbers=[version.version for version in versions], moved=_moved(request, events))


def _moved(request: Request, events: list[registry.AliasEvent]) -> registry.AliasEvent | None:
    """After a move from this UI (``?moved=1``), the newest audit event if it is such a move, for the notice.

    The notice is drawn from the audit log, never from the URL, so a crafted link cannot make the page
    announce a change that did not happen.
    """
    if "moved" not in request.query_params or not events:
        return None
    newest = events[-1]
    return newest if (newest.details or {}).get("via") == "shipyard ui" and _event_row(newest)["moved"] else None


async def move_alias(request: Request) -> Response:
    """POST ``/models/{name}/aliases``: point an alias at a version, then back to the model page (303)."""
    name = request.path_params["name"]
    _require_same_origin(request)
    form = await _form(request)
    require_write(request, form.get("token") or None)
    alias = form.get("alias", "").strip()
    version = _version_number(form.get("version", ""))
    reason = form.get("reason", "").strip() or None
    await run_in_threadpool(registry.set_alias, request.app.state.ui.store, name, alias, version, reason=reason,
                            details={"via": "shipyard ui"})
    return RedirectResponse(f"/models/{quote(name, safe='')}?moved=1#audit", status_code=303)


def _require_same_origin(request: Request) -> None:
    """Refuse a post a browser sent on behalf of another site (CSRF): its Origin must be this host."""
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
            origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")):
        raise ForbiddenError("This change came from a page of another site, so it was refused; move aliases "
                               "from this UI's own model page.")


async def _form(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form post (first value of each); other bodies are refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise MalformedRequestError("Send the alias form as application/x-www-form-urlencoded (the model page's "
                                    f"form does), not {kind or 'an empty content type'}.")
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isascii() and declared.isdigit() else 0
    body = b"" if size > MAX_FORM_BYTES else await request.body()  # never read a body declared too large
    if max(size, len(body)) > MAX_FORM_BYTES:
        raise PayloadTooLargeError(f"The form is {max(size, len(body))} bytes; at most {MAX_FORM_BYTES} are "
                                   "accepted.", limit=MAX_FORM_BYTES)
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _version_number(text: str) -> int:
    value = text.strip().removeprefix("v")
    if not WHOLE_NUMBER.fullmatch(value):
        raise ValidationError(f"{text!r} is not a version number; pick one of the model's versions.",
                              field="version")
    return int(value)


class _VersionConvertor(Convertor[int]):
    """``{version:version}`` in a route: 1 to 9 ASCII digits (Starlette's ``int`` takes any length)."""

    regex = WHOLE_NUMBER.pattern

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


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
                  "rows": details.get("rows"), "test": details.get("test"), "p_value": details.get("p_value"),
                  "ci_low": details.get("ci_low"), "ci_high": details.get("ci_high"), "alpha": details.get("alpha"),
                  "min_detectable_effect": details.get("min_detectable_effect"),
                  "too_small_to_tell": details.get("too_small_to_tell")}
    return {"event": event, "scores": scores, "via": details.get("via"),
            "moved": event.action not in ("held_back", "unchanged")}


register_url_convertor("version", _VersionConvertor())  # before the routes below compile their paths
ROUTES = [
    Route("/models", models_page, name="models"),
    Route("/models/{name}", model_page, name="model"),
    Route("/models/{name}/aliases", move_alias, methods=["POST"], name="move-alias"),
    Route("/models/{name}/{version:version}", version_page, name="model-version"),
]
