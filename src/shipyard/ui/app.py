"""``create_app``: the UI as one Starlette app, built from the routes of each page module.

Each page module (``runs``, ``compare``, ``models``, ``pipelines``, ``deployments``) owns its routes in a
``ROUTES`` list and its templates; this module adds the shell around them: the settings (a
:class:`~shipyard.ui.settings.UISettings`, in a module of their own so that no page imports this one) on
``app.state.ui``, static files (the UI's own and the shared chart assets), and one place that turns errors into pages. A
``ShipyardError`` (a bad filter, an unknown run) becomes its own HTTP status with the message shown; any
other exception is a bug of ours and gets a 500 page (with the traceback in the server log). Bad input is
meant to be a ``ShipyardError``; where a page still lets one through as a 500, that page has the bug.

Two layers wrap every request. Outermost, the security headers (a strict Content-Security-Policy and
friends), outside even Starlette's own error middleware so that 500 pages carry them too. Inside them,
a ``Host`` allow-list (loopback names, the ``--host`` address, ``--allowed-host`` names): a page of another
site that resolves its own name to this machine (DNS rebinding) is refused with 400 before any page runs,
so it can neither read the UI nor post a change that would look same-origin.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ShipyardError
from .settings import UISettings

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

_log = logging.getLogger(__name__)


def create_app(settings: UISettings) -> Starlette:
    """The UI's ASGI app for ``settings``."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from . import compare, deployments, home, models, pipelines, runs

    class _UIApp(Starlette):
        """Starlette with the security headers outside its whole stack, error middleware included."""

        def build_middleware_stack(self) -> Any:
            return _SecurityHeaders(super().build_middleware_stack())

    static = Path(__file__).with_name("static")
    chart_assets = Path(__file__).parent.parent / "charts" / "assets"
    routes: list[Any] = [
        *home.ROUTES, *runs.ROUTES, *compare.ROUTES, *models.ROUTES, *pipelines.ROUTES, *deployments.ROUTES,
        Route("/health", _health),
        Mount("/static/charts", StaticFiles(directory=chart_assets), name="chart-assets"),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = _UIApp(routes=routes,
                 middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts(),
                                        www_redirect=False)],
                 exception_handlers={ShipyardError: _shipyard_error, HTTPException: _http_error, Exception: _bug})
    app.state.ui = settings
    return app


# Scripts only from our own static files: even if a page forgot to escape something, injected markup cannot run.
# uPlot sets inline styles, hence 'unsafe-inline' for styles only.
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class _SecurityHeaders:
    """Adds the security headers to every response (a plain ASGI wrapper: no buffering of bodies).

    It wraps the app's whole middleware stack (see ``create_app``), so the 500 page that Starlette's
    outermost error middleware sends for a bug carries the headers as well.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _health(request: Request) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"ok": True})


async def _shipyard_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ShipyardError)
    return _error_page(request, exc.http_status, type(exc).__name__, exc.message, getattr(exc, "hint", None))


async def _http_error(request: Request, exc: Exception) -> Response:
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    message = "No such page." if exc.status_code == 404 else str(exc.detail)
    return _error_page(request, exc.status_code, "Not found" if exc.status_code == 404 else "Error", message, None)


async def _bug(request: Request, exc: Exception) -> Response:
    _log.exception("UI page %s failed", request.url.path)
    return _error_page(request, 500, "Internal error", f"This page failed ({type(exc).__name__}); this is a bug in "
                       "Shipyard, please report it with the server log.", None)


def _error_page(request: Request, status: int, title: str, message: str, hint: str | None) -> Response:
    from starlette.responses import JSONResponse

    from ._render import page

    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": {"type": title, "message": message}}, status_code=status)
    return page(request, "error.html", status=status, title=title, message=message, hint=hint)
