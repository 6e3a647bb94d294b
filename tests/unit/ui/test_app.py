"""The UI shell in process: host allow-list, security headers on every answer, paging input, query links.

The app is the real ``create_app`` over a real store, called through httpx's ASGI transport; the one
addition is a page that fails, the only honest way to get a 500 here, to show that the security headers
wrap even Starlette's error middleware (the server tests see the same headers on 400, 404 and 422 pages).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.requests import Request

import shipyard
from shipyard.errors import ValidationError
from shipyard.store import current_store
from shipyard.ui._paging import ceil_div, page_count, whole_number
from shipyard.ui._render import query
from shipyard.ui.app import create_app
from shipyard.ui.settings import UISettings


class Client:
    """GETs against the app in this process, as a browser on this machine would send them."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def fetch() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:5711") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(fetch())


@pytest.fixture
def client() -> Client:
    with shipyard.start_run(experiment="churn", name="r"):
        shipyard.log_metric("auc", 0.8)
    app = create_app(UISettings(store=current_store(), allowed_hosts=("ui.example",)))

    def broken(request: Request) -> None:
        raise RuntimeError("a bug in a page")

    app.add_route("/broken", broken)
    return Client(app)


def test_a_500_page_carries_the_security_headers(client: Client) -> None:
    answer = client.get("/broken")
    assert answer.status_code == 500 and "this is a bug in Shipyard" in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["127.0.0.1:5711", "localhost:5711", "[::1]:5711", "ui.example", "UI.example:80"])
def test_loopback_and_allowed_host_names_are_answered(client: Client, host: str) -> None:
    assert client.get("/", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:5711", "127.0.0.1.evil.example", "0.0.0.0:5711", ""])
def test_other_host_names_are_refused_with_the_headers(client: Client, host: str) -> None:
    answer = client.get("/runs", headers={"host": host})
    assert answer.status_code == 400
    assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_trusted_hosts_brackets_ipv6_and_skips_wildcards() -> None:
    settings = UISettings(store=current_store(), allowed_hosts=("::", "0.0.0.0", "fd00::5", "Box.Local", "localhost"))
    assert settings.trusted_hosts() == ["127.0.0.1", "localhost", "[::1]", "[fd00::5]", "box.local"]


@pytest.mark.parametrize("text", ["²", "\u0661", "-1", "1.0", "1e3", " ", "0x10", "9" * 10, "99999999999999999999999"])
def test_whole_numbers_are_one_to_nine_ascii_digits(text: str) -> None:
    if not text.strip():
        assert whole_number(text, "page", 7) == 7
        return
    with pytest.raises(ValidationError, match="whole number of at most 9 digits") as caught:
        whole_number(text, "page", 1)
    assert caught.value.field == "page"


def test_page_numbers_and_counts(client: Client) -> None:
    assert whole_number("999999999", "page", 1) == 999_999_999 and whole_number(None, "size", 50) == 50
    assert [ceil_div(n, 50) for n in (0, 1, 50, 51)] == [0, 1, 1, 2]
    assert [page_count(n, 50) for n in (0, 1, 50, 51)] == [1, 1, 1, 2]
    for bad in ("0", "-1", "x", "²"):  # every paged page answers a bad page the same way
        assert client.get(f"/runs?page={bad}").status_code == 422, bad
    assert client.get("/runs?page=999999").status_code == 200  # past the end: the last page


def test_query_keeps_repeated_keys_and_replaces_changed_ones() -> None:
    scope = {"type": "http", "query_string": b"cols=params.a&cols=metrics.b&page=3&order=x", "headers": []}
    request = Request(scope)
    assert query(request, page=4) == "?cols=params.a&cols=metrics.b&order=x&page=4"
    assert query(request, page=None, order=None) == "?cols=params.a&cols=metrics.b"
    assert query(request, cols=None, page=None, order=None) == "?"
