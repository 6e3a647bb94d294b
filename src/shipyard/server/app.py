"""``create_app``: the team server as one Starlette app: the MLflow-compatible API, a login page, and the web UI.

The UI (:func:`shipyard.ui.app.create_app`, read-only here) is mounted at ``/`` behind the same token check as
the API: a browser logs in once at ``/login``, which keeps the token in an HttpOnly, SameSite=Strict cookie. A
page asked for without a valid token is sent to the login page; anything else gets 401 in JSON. ``/health``
answers without a token, for load balancers and probes.

Each worker process builds its app with :func:`create_app_from_env` (uvicorn starts workers by import string),
from the settings the ``shipyard server`` command put in the environment; it opens the store only after checking
that the database's schema is this version's (:mod:`.database`).
"""

from __future__ import annotations

import html
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..errors import ShipyardError, UnauthorizedError
from .auth import COOKIE, identify
from .settings import ServerSettings
from .tokens import authenticate

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

ENV_DATABASE = "SHIPYARD_SERVER_BACKEND_STORE_URI"
ENV_OBJECTS = "SHIPYARD_SERVER_ARTIFACTS_DESTINATION"
ENV_AUTH = "SHIPYARD_SERVER_AUTH"
ENV_HOSTS = "SHIPYARD_SERVER_ALLOWED_HOSTS"
_LOGIN_MAX_BYTES = 4096


def create_app(settings: ServerSettings) -> Starlette:
    """The server's ASGI app over ``settings``."""
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route

    from ..ui.app import create_app as create_ui
    from ..ui.settings import UISettings
    from .api.routes import routes as shipyard_routes
    from .mlflow.routes import fixed_paths, routes as mlflow_routes

    ui = create_ui(UISettings(store=settings.store, allow_write=False, allowed_hosts=settings.allowed_hosts))
    app = Starlette(routes=[
        fixed_paths(),  # first: the MLflow endpoints a client calls per logged metric, by one dict lookup
        Route("/health", _health, methods=["GET"]),
        Route("/login", _login_page, methods=["GET"]),
        Route("/login", _login, methods=["POST"]),
        Route("/logout", _logout, methods=["POST"]),
        *shipyard_routes(),  # before the MLflow API: its catch-all answers the rest of /api
        *mlflow_routes(),
        Mount("/", app=_SignedIn(ui)),
    ])
    app.state.server = settings
    return app


def create_app_from_env() -> Starlette:
    """The app of one worker, from the environment ``shipyard server`` set (see the module doc)."""
    from ..store.location import location_for
    from ..store.store import Store
    from ..tracking.heartbeat import keep_server_runs_alive
    from .database import open_current

    uri = os.environ[ENV_DATABASE]
    open_current(uri).dispose()  # refuses a database whose schema is not this version's, before Store migrates it
    store = Store(location_for(uri, objects=os.environ[ENV_OBJECTS]))
    keep_server_runs_alive(store)  # the runs remote clients log here are this server's to keep alive
    hosts = tuple(name for name in os.environ.get(ENV_HOSTS, "").split(",") if name)
    return create_app(ServerSettings(store=store, auth=os.environ.get(ENV_AUTH, "1") != "0", allowed_hosts=hosts))


class _SignedIn:
    """The UI behind the token check: a page without a valid token goes to ``/login``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import HTTPConnection
        from starlette.responses import JSONResponse, RedirectResponse

        if scope["type"] == "http":
            connection = HTTPConnection(scope)
            settings: ServerSettings = connection.app.state.server
            try:
                await run_in_threadpool(identify, connection, settings)
            except ShipyardError as exc:
                response: Any
                if "text/html" in connection.headers.get("accept", ""):
                    response = RedirectResponse("/login", status_code=303)
                else:
                    response = JSONResponse({"error": {"type": type(exc).__name__, "message": exc.message,
                                                       "field": "token"}}, status_code=exc.http_status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _health(request: Request) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"status": "ok"})


async def _login_page(request: Request, message: str = "", status: int = 200) -> Response:
    from starlette.responses import HTMLResponse

    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Shipyard: sign in</title></head><body>"
        f"<main><h1>Sign in to Shipyard</h1>{note}<form method=post action=/login>"
        "<label>Token <input type=password name=token autocomplete=off required></label> "
        "<button type=submit>Sign in</button></form>"
        "<p>An admin makes tokens with <code>shipyard server token create</code>.</p></main></body></html>",
        status_code=status, headers={"cache-control": "no-store"})


async def _login(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse

    settings: ServerSettings = request.app.state.server
    body = await request.body()
    token = (parse_qs(body[:_LOGIN_MAX_BYTES].decode("utf-8", "replace")).get("token") or [""])[0]
    try:
        if not token:
            raise UnauthorizedError("Enter a token.")
        await run_in_threadpool(authenticate, settings.store.db, token)
    except ShipyardError as exc:
        return await _login_page(request, exc.message, 401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


async def _logout(request: Request) -> Response:
    from starlette.responses import RedirectResponse

    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
