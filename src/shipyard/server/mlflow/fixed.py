"""A Starlette route for many fixed paths at once: one dict lookup instead of one regular expression per path.

It behaves as the plain ``Route`` objects it replaces: a known path with a method it does not take is a partial
match (so a later route that takes the method, such as the MLflow API's catch-all, answers it, else 405), and
each endpoint is wrapped as ``Route`` wraps a function endpoint (``request_response``: Starlette's exception
handlers apply). A GET endpoint answers HEAD too, as ``Route`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute, Match, request_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send


class FixedPaths(BaseRoute):
    """Endpoints by exact path and method: ``{path: {method: endpoint function}}``."""

    def __init__(self, table: dict[str, dict[str, Any]]) -> None:
        self._apps: dict[str, dict[str, ASGIApp]] = {}
        for path, methods in table.items():
            apps = {method: request_response(function) for method, function in methods.items()}
            if "GET" in apps and "HEAD" not in apps:
                apps["HEAD"] = apps["GET"]
            self._apps[path] = apps

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        apps = self._apps.get(_route_path(scope))
        if apps is None:
            return Match.NONE, {}
        app = apps.get(scope["method"])
        return (Match.FULL if app is not None else Match.PARTIAL), {"endpoint": app, "path_params": {}}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._apps.get(_route_path(scope), {}).get(scope["method"])
        if app is None:
            from starlette.responses import PlainTextResponse

            allowed = ", ".join(self._apps.get(_route_path(scope), {}))
            await PlainTextResponse("Method Not Allowed", status_code=405, headers={"Allow": allowed})(
                scope, receive, send)
            return
        await app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        from starlette.routing import NoMatchFound

        raise NoMatchFound(name, path_params)


def _route_path(scope: Scope) -> str:
    """The path the router matches: the request's path below the app's ``root_path``, as Starlette's own routes."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path
