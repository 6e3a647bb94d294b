"""Who may write to a server, and from where: token, Host allow-list, browser content types, request ids.

A web page can make a browser send a POST to any address it names, without asking the server first, as long as
the body is ``text/plain``, a form or multipart, or has no type at all (a ``Blob``); it cannot read the answer, but
the write happens. A page can also point a DNS name of its own at this machine (DNS rebinding) and then talk to
the server as if it were its own site. These tests send exactly the headers such a browser sends (``Origin``,
``Content-Type``, ``Host``) to a real ``shipyard serve`` on 127.0.0.1 and check that nothing reaches the
prediction or feedback logs.

Two servers: ``main_server`` (conftest: loopback with a token) and ``open_server`` (loopback, no token, one
``--allowed-host`` name), which mirrors ``shipyard ui``: on loopback without a token local clients may write.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shipyard.predlog.readers import feedback_log
from tests._support import wait_until
from tests.integration.serving._serving import (
    TOKEN,
    Server,
    Template,
    log_rows,
    records,
    running_server,
    unique_id,
    v2_body,
)

AUTH = {"authorization": f"Bearer {TOKEN}"}
EVIL = "http://evil.example"
ALLOWED_NAME = "models.internal.example"
BROWSER_TYPES = ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.fixture(scope="module")
def open_server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("open-server")
    store = template.copy_to(folder / ".shipyard")
    with running_server(["models:/churn@champion", "--allowed-host", ALLOWED_NAME], cwd=folder, store=store) as server:
        yield server


def _predict_body(template: Template, **extra: Any) -> dict[str, Any]:
    return {"records": records(template.holdout(rows=1)), **extra}


def _logged_request(server: Server, template: Template) -> str:
    response = server.post("/predict/churn", json=_predict_body(template))
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


def _host(server: Server) -> str:
    return server.url.removeprefix("http://")


@pytest.mark.parametrize("content_type", BROWSER_TYPES)
def test_a_cross_site_form_type_body_is_refused_with_415_and_nothing_is_logged(
        main_server: Server, template: Template, content_type: str) -> None:
    """What ``fetch(url, {method: "POST", body: JSON.stringify(...)})`` on another site sends: no preflight."""
    request_id = _logged_request(main_server, template)
    browser = {"origin": EVIL, "content-type": content_type}
    feedback = orjson.dumps({"request_id": request_id, "label": 1})
    for path, body in (("/predict/churn", orjson.dumps(_predict_body(template))),
                       ("/feedback/churn", feedback),
                       ("/v2/models/churn/infer", orjson.dumps(v2_body(template.holdout(rows=1))))):
        response = httpx.post(main_server.url + path, content=body, headers={**browser, **AUTH})
        assert response.status_code == 415, (path, response.text)
        error = response.json()["error"]
        message = error if path.startswith("/v2") else error["message"]
        assert "application/json" in message, message
        if not path.startswith("/v2"):
            assert error["type"] == "UnsupportedMediaTypeError" and error["field"] == "content-type"
    # the same feedback as JSON from a program is stored: only then is the refused one known to be absent
    fine = httpx.post(main_server.url + "/feedback/churn", json={"request_id": request_id, "label": 0}, headers=AUTH)
    assert fine.status_code == 200, fine.text
    assert main_server.log_dir is not None
    labels = wait_until(lambda: _labels(main_server, request_id), timeout=10, what="the JSON feedback in the log")
    assert labels == ["0"]


def _labels(server: Server, request_id: str) -> list[Any]:
    frame = feedback_log("churn", log_dir=str(server.log_dir), request_id=request_id)
    return [str(label) for label in frame["label"]] if len(frame) else []


def test_a_same_site_form_type_body_is_refused_too(open_server: Server, template: Template) -> None:
    """No Origin at all (curl, a script): text/plain is still not JSON, so the answer says what to send."""
    response = httpx.post(open_server.url + "/predict/churn", content=orjson.dumps(_predict_body(template)),
                          headers={"content-type": "text/plain"})
    assert response.status_code == 415, response.text


@pytest.mark.parametrize("headers", [{"content-type": "application/json; charset=utf-8"},
                                     {"content-type": "Application/JSON"}, {}],
                         ids=["json with charset", "json in capitals", "no content type (tritonclient)"])
def test_json_and_a_missing_content_type_are_accepted(open_server: Server, template: Template,
                                                      headers: dict[str, str]) -> None:
    for path, body in (("/predict/churn", _predict_body(template)),
                       ("/v2/models/churn/infer", v2_body(template.holdout(rows=1)))):
        response = httpx.post(open_server.url + path, content=orjson.dumps(body), headers=headers)
        assert response.status_code == 200, (path, response.text)


def test_a_cross_site_page_cannot_post_a_body_without_a_type(open_server: Server, template: Template) -> None:
    """``fetch(url, {method: "POST", body: new Blob([json])})`` sends no Content-Type and still needs no
    preflight: the Origin header, which every browser sends on a cross-site POST, is what gives it away."""
    request_id = _logged_request(open_server, template)
    for path, body in (("/predict/churn", _predict_body(template)),
                       ("/feedback/churn", {"request_id": request_id, "label": 1}),
                       ("/v2/models/churn/infer", v2_body(template.holdout(rows=1)))):
        for origin in (EVIL, "null"):
            response = httpx.post(open_server.url + path, content=orjson.dumps(body), headers={"origin": origin})
            assert response.status_code == 403, (path, origin, response.text)
    same_site = httpx.post(open_server.url + "/predict/churn", content=orjson.dumps(_predict_body(template)),
                           headers={"origin": open_server.url, "content-type": "application/json"})
    assert same_site.status_code == 200, same_site.text  # the server's own /docs page calls it like this


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil"])
def test_a_request_for_an_unknown_host_name_is_refused(open_server: Server, template: Template, host: str) -> None:
    """DNS rebinding: the page's own name now resolves to 127.0.0.1, so the browser sends ``Host: evil.example``."""
    body = orjson.dumps(_predict_body(template))
    for method, path in (("POST", "/predict/churn"), ("POST", "/feedback/churn"), ("GET", "/deployments"),
                         ("GET", "/openapi.json"), ("POST", "/v2/models/churn/infer")):
        response = httpx.request(method, open_server.url + path, headers={"host": host},
                                 content=body if method == "POST" else None)
        assert response.status_code == 400, (method, path, response.text)
        error = response.json()["error"]
        message = error if path.startswith("/v2") else error["message"]
        assert "--allowed-host" in message, message


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", ALLOWED_NAME, "10.1.2.3"])
def test_loopback_names_allowed_names_and_ip_addresses_are_answered(open_server: Server, template: Template,
                                                                    name: str) -> None:
    """An address is no DNS name, so it cannot be rebound: a client (or a kubelet probe) may use any."""
    port = _host(open_server).rsplit(":", 1)[1]
    response = httpx.post(open_server.url + "/predict/churn", json=_predict_body(template),
                          headers={"host": f"{name}:{port}"})
    assert response.status_code == 200, response.text


def test_a_client_chosen_request_id_needs_the_token(main_server: Server, template: Template) -> None:
    """Otherwise anyone who can reach the port could take an id first and plant the prediction feedback joins to."""
    chosen = unique_id("planted")
    refused = httpx.post(main_server.url + "/predict/churn", json=_predict_body(template, request_id=chosen))
    assert refused.status_code == 401, refused.text
    error = refused.json()["error"]
    assert error["type"] == "UnauthorizedError" and error["field"] == "request_id"
    wrong = httpx.post(main_server.url + "/predict/churn", json=_predict_body(template, request_id=chosen),
                       headers={"authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401, wrong.text
    v2 = httpx.post(main_server.url + "/v2/models/churn/infer", json=v2_body(template.holdout(rows=1), id=chosen))
    assert v2.status_code == 401 and "'id'" in v2.json()["error"], v2.text

    generated = httpx.post(main_server.url + "/predict/churn", json=_predict_body(template))
    assert generated.status_code == 200 and len(generated.json()["request_id"]) == 32
    own = unique_id("idempotent")
    allowed = httpx.post(main_server.url + "/predict/churn", json=_predict_body(template, request_id=own),
                         headers=AUTH)
    assert allowed.status_code == 200 and allowed.json()["request_id"] == own
    v2_own = httpx.post(main_server.url + "/v2/models/churn/infer",
                        json=v2_body(template.holdout(rows=1), id=own + "-v2"), headers=AUTH)
    assert v2_own.status_code == 200 and v2_own.json()["id"] == own + "-v2"
    assert main_server.log_dir is not None
    logged = log_rows(main_server.log_dir, {own, generated.json()["request_id"]}, deployment="churn")
    assert chosen not in set(logged["request_id"])
    from shipyard.predlog.readers import prediction_log

    everything = prediction_log("churn", log_dir=str(main_server.log_dir))
    assert chosen not in set(everything["request_id"])  # written after `own`, which is there: never written


def test_on_loopback_without_a_token_local_programs_may_write(open_server: Server, template: Template) -> None:
    """The rule of ``shipyard ui``: a server only this machine can reach needs no token for writes."""
    own = unique_id("local")
    answer = open_server.post("/predict/churn", json=_predict_body(template, request_id=own))
    assert answer.status_code == 200 and answer.json()["request_id"] == own
    feedback = open_server.post("/feedback/churn", json={"request_id": own, "label": 1})
    assert feedback.status_code == 200 and feedback.json()["accepted"] == 1, feedback.text


def test_feedback_names_unknown_rows_and_stores_none_of_them(main_server: Server, template: Template) -> None:
    """A row past the end of its request is no prediction: reported like an unknown id, never stored."""
    request_id = _logged_request(main_server, template)  # one record: row 0 only
    response = main_server.post("/feedback/churn", headers=AUTH, json=[
        {"request_id": request_id, "row": 0, "label": 1}, {"request_id": request_id, "row": 3, "label": 0}])
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "unknown": [], "unknown_rows": [{"request_id": request_id, "row": 3}]}
    only_unknown = main_server.post("/feedback/churn", headers=AUTH, json={"request_id": request_id, "row": 5,
                                                                            "label": 0})
    assert only_unknown.status_code == 404, only_unknown.text
    assert main_server.log_dir is not None
    stored = wait_until(lambda: _stored_rows(main_server, request_id), timeout=10, what="the stored label")
    assert stored == [0]


def _stored_rows(server: Server, request_id: str) -> list[int]:
    frame = feedback_log("churn", log_dir=str(server.log_dir), request_id=request_id)
    return sorted(int(row) for row in frame["row"]) if len(frame) else []


@pytest.mark.slow
def test_feedback_for_a_prediction_only_in_the_log_is_checked_row_by_row(template: Template, tmp_path: Path) -> None:
    """After a restart the server knows a request only from the log: a row beyond it is still refused."""
    store = template.copy_to(tmp_path / ".shipyard")
    with running_server(["models:/churn@champion"], cwd=tmp_path, store=store) as first:
        request_id = _logged_request(first, template)
        assert first.stop() == 0, first.describe()  # SIGTERM flushes the log
    with running_server(["models:/churn@champion"], cwd=tmp_path, store=store) as second:
        answer = second.post("/feedback/churn", json=[{"request_id": request_id, "row": 0, "label": 1},
                                                      {"request_id": request_id, "row": 1, "label": 1}])
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 1, "unknown": [], "unknown_rows": [{"request_id": request_id, "row": 1}]}


# TEST-NET-1 (RFC 5737): an address beyond loopback that no machine has, so the start goes as far as the bind and
# fails there when the exposure rule lets it through; nothing ever listens beyond 127.0.0.1 in these tests.
UNREACHABLE = "192.0.2.1"


def _serve(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_STORE": str(store), "COLUMNS": "300"}
    env.pop("SHIPYARD_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "shipyard", "serve", "models:/churn@champion", "--port", "0", *args],
                          capture_output=True, text=True, cwd=store.parent, env=env, timeout=60, check=False)


@pytest.mark.slow
def test_serving_beyond_loopback_without_a_token_is_refused_before_listening(churn_store: Path) -> None:
    """The wildcard addresses follow the same rule (tests/unit/serving/test_access.py), without listening here."""
    done = _serve(churn_store, "--host", UNREACHABLE)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), done.stderr
    assert "--token" in lines[0] and "--insecure-no-auth" in lines[0] and UNREACHABLE in lines[0], lines[0]
    assert "Serving" not in done.stdout


@pytest.mark.slow
def test_a_token_or_insecure_no_auth_lets_it_start_the_latter_with_one_warning(churn_store: Path) -> None:
    with_token = _serve(churn_store, "--host", UNREACHABLE, "--token", "t0ken")
    assert "Cannot listen on 192.0.2.1" in with_token.stderr, with_token.stderr  # past the rule, up to the bind
    insecure = _serve(churn_store, "--host", UNREACHABLE, "--insecure-no-auth")
    assert "Cannot listen on 192.0.2.1" in insecure.stderr, insecure.stderr
    output = insecure.stdout + insecure.stderr
    warnings = [line for line in output.splitlines() if "insecure-no-auth" in line]
    assert len(warnings) == 1 and "Warning" in warnings[0] and "anyone" in warnings[0], output
