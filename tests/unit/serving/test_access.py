"""The access rules of a server as values: who may start without a token, which Host names, types and tokens pass."""

from __future__ import annotations

import pytest

from shipyard.errors import (
    ConfigError,
    ForbiddenError,
    MalformedRequestError,
    UnsupportedMediaTypeError,
)
from shipyard.serving.access import Access, check_exposure, host_names

TOKEN = "s3cret"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.9", "localhost", "LocalHost", "::1", "[::1]"])
def test_loopback_needs_no_token(host: str) -> None:
    assert check_exposure(host, token=None, insecure_no_auth=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "[::]", "192.168.1.20", "10.0.0.1", "models.example.com"])
def test_beyond_loopback_a_token_is_needed(host: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_exposure(host, token=None, insecure_no_auth=False)
    assert "--token" in refused.value.message and "--insecure-no-auth" in refused.value.message
    assert check_exposure(host, token=TOKEN, insecure_no_auth=False) is None
    warning = check_exposure(host, token=None, insecure_no_auth=True)
    assert warning is not None and "--insecure-no-auth" in warning and "\n" not in warning


def test_insecure_no_auth_with_a_token_is_a_contradiction() -> None:
    with pytest.raises(ConfigError):
        check_exposure("0.0.0.0", token=TOKEN, insecure_no_auth=True)


def test_host_names_add_the_listening_name_and_for_a_wildcard_this_machines_name() -> None:
    import socket

    assert host_names("models.example.com", ["proxy.example"]) == ("models.example.com", "proxy.example")
    assert host_names("127.0.0.1", []) == ()  # an address needs no listing
    assert socket.gethostname().lower() in host_names("0.0.0.0", [])


def scope(method: str = "POST", **headers: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": "/predict/churn",
            "headers": [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]}


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:8000", "10.2.3.4:80",
                                  "[2001:db8::1]:443", "models.example.com:8000", "models.example.com.", ""])
def test_accepted_hosts(host: str) -> None:
    access = Access(token=None, allowed_hosts=["models.example.com"])
    assert access.screen(scope("GET", host=host)) is True


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "localhost.evil",
                                  "models.example.com.evil", "0x7f000001", "[::1", "a b"])
def test_refused_hosts(host: str) -> None:
    access = Access(token=None, allowed_hosts=["models.example.com"])
    with pytest.raises(MalformedRequestError) as refused:
        access.screen(scope("GET", host=host))
    assert refused.value.http_status == 400 and "--allowed-host" in refused.value.message


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "TEXT/PLAIN", "application/xml", "foo"])
def test_a_body_that_is_not_json_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as refused:
        Access(token=None).screen(scope(host="localhost", content_type=content_type))
    assert refused.value.http_status == 415 and refused.value.field == "content-type"


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON",
                                          "application/vnd.api+json", None])
def test_json_and_no_content_type_pass(content_type: str | None) -> None:
    headers = {"host": "localhost"} if content_type is None else {"host": "localhost", "content_type": content_type}
    assert Access(token=None).screen(scope(**headers)) is True


def test_a_get_is_not_checked_for_content_type() -> None:
    assert Access(token=None).screen(scope("GET", host="localhost", content_type="text/plain")) is True


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {"origin": "null"},
                                     {"origin": "http://localhost:9999"}, {"sec_fetch_site": "cross-site"}])
def test_a_cross_site_post_is_403(headers: dict[str, str]) -> None:
    with pytest.raises(ForbiddenError):
        Access(token=None).screen(scope(host="localhost:8000", **headers))


def test_a_same_origin_post_passes() -> None:
    assert Access(token=None).screen(scope(host="localhost:8000", origin="http://localhost:8000",
                                           sec_fetch_site="same-origin")) is True


@pytest.mark.parametrize(("authorization", "expected"), [
    (None, False), ("Bearer s3cret", True), ("bearer s3cret", True), ("Bearer s3cre", False),
    ("Bearer s3cretX", False), ("s3cret", False), ("Basic s3cret", False), ("Bearer ", False)])
def test_the_token_is_compared_whole(authorization: str | None, expected: bool) -> None:
    headers = {"host": "localhost"} if authorization is None else {"host": "localhost",
                                                                   "authorization": authorization}
    assert Access(token=TOKEN).screen(scope(**headers)) is expected


def test_without_a_token_every_client_may_write() -> None:
    assert Access(token=None).screen(scope(host="localhost")) is True
