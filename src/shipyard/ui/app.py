"""``create_app``: the UI as one Starlette app, built from the routes of each page module.

Each page module (``runs``, ``compare``, ``models``, ``pipelines``, ``deployments``) owns its routes in a
``ROUTES`` list and its templates; this module adds the shell around them: settings on ``app.state.ui``,
static files (the UI's own and the shared chart assets), and one place that turns errors into pages. A
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

import hmac
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ForbiddenError, ShipyardError, UnauthorizedError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from ..store import Store

_log = logging.getLogger(__name__)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")  # names a browser on this machine uses for the UI


@dataclass(frozen=True)
class UISettings:
    """What every page may need: the store, where the project and the prediction log are, and write rights.

    Attributes:
        store: the store every page reads.
        project_dir: the folder holding ``shipyard.yaml`` (pipelines page), or None outside a project.
        log_dir: the prediction log's folder when ``serving.yaml`` sets one; None for the store's default.
        allow_write: the UI was started with ``--allow-write``; without it every write is refused (403).
        token: when set, a write must also carry it (form field ``token`` or ``Authorization: Bearer``).
        allowed_hosts: ``Host`` names accepted besides :data:`LOOPBACK_HOSTS`: the address the UI listens on
            and the names a proxy in front of it forwards (``shipyard ui --allowed-host``).
    """

    store: Store
    project_dir: Path | None = None
    log_dir: str | None = None
    allow_write: bool = False
    token: str | None = field(default=None, repr=False)
    allowed_hosts: tuple[str, ...] = ()

    def trusted_hosts(self) -> list[str]:
        """Every ``Host`` name (without port) this UI answers: loopback, then ``allowed_hosts``.

        An IPv6 address is written in brackets, as it appears in a ``Host`` header (``[::1]``). A wildcard
        address (``0.0.0.0``, ``::``) is not a name any browser sends, so it adds nothing: behind it, list the
        machine's names with ``--allowed-host``.
        """
        names = list(LOOPBACK_HOSTS)
        for host in self.allowed_hosts:
            name = host.strip().lower()
            if ":" in name and not name.startswith("["):
                name = f"[{name}]"
            if name and name not in ("0.0.0.0", "[::]") and name not in names:
                names.append(name)
        return names


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


def require_write(request: Request, token: str | None) -> None:
    """Refuse a write unless the UI allows writes and, when it has a token, ``token`` (or the header) matches it."""
    settings: UISettings = request.app.state.ui
    if not settings.allow_write:
        raise ForbiddenError("This UI is read-only; restart it with `shipyard ui --allow-write` to change aliases.")
    if settings.token:
        header = request.headers.get("authorization", "")
        given = token or (header[7:] if header.lower().startswith("bearer ") else "")
        if not given or not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise UnauthorizedError("This UI needs its token for changes: enter the token given to "
                                    "`shipyard ui --token` (or SHIPYARD_TOKEN).")


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
