"""Fixtures of the integration tests (the helpers themselves live in ``_children.py`` and ``tests/_support.py``).

``churn_store`` serves every folder that trains its models once per session: the folder's own ``template``
fixture builds them, and ``churn_store`` gives each test a copy in its own store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard
from tests._support import StoreTemplate
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


@pytest.fixture
def churn_store(template: StoreTemplate, isolated_store: Path) -> Path:
    """This test's own store (``SHIPYARD_STORE``) holding a copy of the template's models and aliases."""
    shipyard.set_store(None)  # close it before its files are replaced
    return template.copy_to(isolated_store)
