"""Tokens and roles against a running ``shipyard server``: 401 without a valid token, 403 naming the role needed.

MLflow paths answer in MLflow's error shape (``error_code``, ``message``), which the MLflow client raises as is.
"""

from __future__ import annotations

import sqlite3
import time

import httpx

from shipyard.server.cache import TOKEN_TTL_S
from tests._support import wait_until
from tests.integration.server._server import create_token, shipyard
from tests.integration.server.conftest import Team

CREATE_EXPERIMENT = "/api/2.0/mlflow/experiments/create"
SEARCH_EXPERIMENTS = "/api/2.0/mlflow/experiments/search"


def test_no_token_is_401_in_mlflow_shape(team: Team) -> None:
    for method, path in (("POST", SEARCH_EXPERIMENTS), ("GET", "/api/2.0/mlflow/runs/get?run_id=" + "0" * 32),
                         ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/" + "0" * 32 + "/artifacts/a.txt"),
                         ("GET", "/api/2.0/mlflow/no-such-endpoint")):
        answer = team.server.call(method, path, json={} if method == "POST" else None)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error_code"] == "UNAUTHENTICATED"
        assert "MLFLOW_TRACKING_TOKEN" in answer.json()["message"]
    garbage = team.server.call("POST", SEARCH_EXPERIMENTS, "not-a-token", json={})
    assert garbage.status_code == 401 and garbage.json()["error_code"] == "UNAUTHENTICATED"


def test_each_role_does_what_it_may_and_403_names_the_role_needed(team: Team) -> None:
    reader, writer, admin = team.tokens["reader"], team.tokens["writer"], team.tokens["admin"]
    assert team.server.call("POST", SEARCH_EXPERIMENTS, reader, json={}).status_code == 200
    refused = team.server.call("POST", CREATE_EXPERIMENT, reader, json={"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["error_code"] == "PERMISSION_DENIED"
    assert "needs the writer role" in refused.json()["message"] and "reader" in refused.json()["message"]
    created = team.server.call("POST", CREATE_EXPERIMENT, writer, json={"name": "x"})
    assert created.status_code == 200, created.text
    run = team.server.call("POST", "/api/2.0/mlflow/runs/create", writer,
                           json={"experiment_id": created.json()["experiment_id"]}).json()["run"]
    assert run["info"]["user_id"] == "writer-person"  # the token's name is the run's user
    tags = {tag["key"]: tag["value"] for tag in run["data"]["tags"]}
    assert tags["mlflow.user"] == "writer-person"
    delete = team.server.call("POST", "/api/2.0/mlflow/runs/delete", writer, json={"run_id": run["info"]["run_id"]})
    assert delete.status_code == 403 and "needs the admin role" in delete.json()["message"]
    by_admin = team.server.call("POST", "/api/2.0/mlflow/runs/delete", admin, json={"run_id": run["info"]["run_id"]})
    assert by_admin.status_code == 501 and by_admin.json()["error_code"] == "NOT_IMPLEMENTED"
    assert "keeps every run" in by_admin.json()["message"]


def test_a_revoked_token_is_refused_within_the_cache_ttl(team: Team) -> None:
    token = create_token(team.database, "bob", "reader")
    assert team.server.call("POST", SEARCH_EXPERIMENTS, token, json={}).status_code == 200
    shipyard("server", "token", "revoke", "bob", "--backend-store-uri", team.database)
    answer = _refused_within_the_ttl(team, token)
    assert "revoked" in answer.json()["message"]


def test_an_expired_token_is_refused_saying_so(team: Team) -> None:
    token = create_token(team.database, "dave", "writer", "--expires", "1h")
    assert team.server.call("POST", SEARCH_EXPERIMENTS, token, json={}).status_code == 200
    token_id = token.split("_")[1]
    with sqlite3.connect(team.database.removeprefix("sqlite:///")) as conn:  # an hour later, as the database sees it
        conn.execute("UPDATE api_tokens SET expires_at = ? WHERE id = ?", (int(time.time() * 1000) - 1, token_id))
    answer = _refused_within_the_ttl(team, token)  # a real expiry is seen on every request (tests/unit/server)
    assert "expired" in answer.json()["message"]


def _refused_within_the_ttl(team: Team, token: str) -> httpx.Response:
    """The 401 a token changed behind the server's back gets once the server stops remembering it (server/cache.py:
    a verified token is remembered for TOKEN_TTL_S seconds; the change was made by another process)."""
    changed = time.monotonic()

    def refused() -> httpx.Response | None:
        answer = team.server.call("POST", SEARCH_EXPERIMENTS, token, json={})
        return answer if answer.status_code == 401 else None

    answer = wait_until(refused, timeout=TOKEN_TTL_S + 10, what="the server to refuse the token")
    assert time.monotonic() - changed < TOKEN_TTL_S + 3  # the TTL, plus one request on a loaded machine
    return answer


def test_the_ui_is_behind_the_login_and_the_cookie_is_httponly_and_samesite_strict(team: Team) -> None:
    page = team.server.call("GET", "/", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert team.server.call("GET", "/").status_code == 401
    wrong = team.server.call("POST", "/login", data={"token": "shy_000000000000_" + "x" * 43})
    assert wrong.status_code == 401 and "not known" in wrong.text
    login = team.server.call("POST", "/login", data={"token": team.tokens["reader"]}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    signed_in = team.server.call("GET", "/", headers={"accept": "text/html"},
                                 cookies={"shipyard_token": team.tokens["reader"]})
    assert signed_in.status_code == 200 and "Shipyard" in signed_in.text
    assert team.server.call("GET", "/health").json() == {"status": "ok"}  # probes need no token


def test_the_login_cookie_reads_but_never_writes(team: Team) -> None:
    """A page of the same site on another port makes the browser send the cookie with a text/plain POST."""
    cookies = {"shipyard_token": team.tokens["admin"]}
    read = team.server.call("GET", "/api/2.0/mlflow/experiments/search", cookies=cookies)
    assert read.status_code == 200
    write = team.server.call("POST", CREATE_EXPERIMENT, cookies=cookies, content=b'{"name": "csrf"}',
                             headers={"content-type": "text/plain"})
    assert write.status_code == 401 and write.json()["error_code"] == "UNAUTHENTICATED"
    assert team.server.call("GET", "/api/2.0/mlflow/experiments/get-by-name", team.tokens["reader"],
                            params={"experiment_name": "csrf"}).status_code == 404
