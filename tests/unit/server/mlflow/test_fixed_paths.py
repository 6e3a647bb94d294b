"""The one route that answers the MLflow API's fixed paths by a dict lookup behaves as the ``Route``s it replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shipyard.server.mlflow.fixed import FixedPaths


async def _named(request: Request) -> Response:
    return JSONResponse({"answered": f"{request.method} {request.url.path}"})


async def _catch_all(request: Request) -> Response:
    return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND"}, status_code=404)


def _app(*extra: Any) -> Starlette:
    return Starlette(routes=[FixedPaths({"/api/a": {"POST": _named}, "/api/b": {"GET": _named}}), *extra])


def _call(app: Starlette, method: str, path: str) -> httpx.Response:
    """One request through the app itself (its ASGI interface), as uvicorn would make it."""
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_a_known_path_and_method_reaches_its_endpoint_and_get_answers_head() -> None:
    app = _app()
    assert _call(app, "POST", "/api/a").json() == {"answered": "POST /api/a"}
    assert _call(app, "GET", "/api/b").json() == {"answered": "GET /api/b"}
    assert _call(app, "HEAD", "/api/b").status_code == 200


def test_another_method_falls_through_to_a_later_route_that_takes_it() -> None:
    app = _app(Route("/api/{rest:path}", _catch_all, methods=["GET", "POST", "DELETE"]))
    answer = _call(app, "DELETE", "/api/a")
    assert answer.status_code == 404 and answer.json() == {"error_code": "ENDPOINT_NOT_FOUND"}
    assert _call(app, "GET", "/api/unknown").status_code == 404


def test_another_method_with_no_later_route_is_405_naming_the_allowed_ones() -> None:
    answer = _call(_app(), "DELETE", "/api/a")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert _call(_app(), "GET", "/api/nothing").status_code == 404
