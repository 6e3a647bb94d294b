"""Choosing a tracking server, and what a client does when it is away or asked for what it does not take."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from shipyard.errors import TrackingServerError
from shipyard.tracking import remote


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A tracking URI on a port nothing listens on, retried for a fraction of a second."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", url)
    monkeypatch.setenv("SHIPYARD_HTTP_RETRY_S", "0.3")
    yield url
    remote.set_tracking_uri(None)


def test_a_server_that_is_away_is_one_error_naming_it_and_nothing_goes_to_a_local_store(
        nowhere: str, isolated_store: Path) -> None:
    with pytest.raises(TrackingServerError) as away:
        shipyard.start_run("exp")
    assert away.value.url == nowhere and shipyard.active_run() is None
    assert not isolated_store.exists()


def test_set_tracking_uri_empty_keeps_runs_local_even_with_the_variable_set(nowhere: str, isolated_store: Path) -> None:
    shipyard.set_tracking_uri("")
    with shipyard.start_run("exp") as run:
        shipyard.log_metric("m", 1.0)
    assert shipyard.get_run(run.id).metrics == {"m": 1.0} and isolated_store.exists()
    assert remote.get_tracking_uri() is None


def test_onnx_export_goes_to_the_server_rather_than_write_a_local_store(nowhere: str, isolated_store: Path) -> None:
    pytest.importorskip("skl2onnx")
    with pytest.raises(TrackingServerError) as away:
        shipyard.export_onnx("models:/churn@champion", "model.onnx")
    assert away.value.url == nowhere and not isolated_store.exists()


def test_a_tracking_uri_that_is_no_server_address_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_TRACKING_URI", "ftp://host")
    with pytest.raises(shipyard.ShipyardError, match="not a server address"):
        shipyard.start_run("exp")
