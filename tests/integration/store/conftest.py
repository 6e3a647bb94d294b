"""One PostgreSQL cluster per test process for the store's tests, and a fresh database in it per test.

``initdb`` and a start cost seconds; a database in a running cluster costs milliseconds. The cluster is
started the first time a test asks for it and skipped, with the reason, where PostgreSQL is not installed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from tests._servers.postgres import create_database, postgres_server, unavailable_reason


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT`` of a cluster this test process started."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


def new_database(postgres_url: str) -> str:
    """The URL of an empty database of its own in the cluster."""
    return create_database(postgres_url, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pg_store(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database made the current store (objects in ``tmp_path``); returns its URL."""
    url = new_database(postgres_url)
    monkeypatch.setenv("SHIPYARD_STORE", url)
    monkeypatch.setenv("SHIPYARD_OBJECTS", str(tmp_path / "objects"))
    shipyard.set_store(None)
    return url
