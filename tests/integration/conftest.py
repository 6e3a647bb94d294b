"""Fixtures of the integration tests (the helpers themselves live in ``_children.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._children import Children


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    group = Children(tmp_path)
    yield group
    group.kill_leftovers()


@pytest.fixture
def meta_db(isolated_store: Path) -> Path:
    """The test store's SQLite file (it exists once the store has been opened)."""
    return isolated_store / "meta.db"
