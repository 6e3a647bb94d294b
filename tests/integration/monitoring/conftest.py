"""Fixtures of the monitoring tests: models trained once per session, a store of their own per test.

``template`` trains ``churn`` v1 (logistic regression) and v2 (a one-split tree) on the seeded world of
``_traffic.py`` into a session store; ``churn_store`` copies it into the test's own ``SHIPYARD_STORE``, whose
prediction log is empty until the test writes traffic into it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard
from tests.integration.monitoring._traffic import Template, build_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("monitoring-template") / ".shipyard")


@pytest.fixture
def churn_store(template: Template, isolated_store: Path) -> Path:
    """This test's store (``SHIPYARD_STORE``) holding a copy of the template's registered models."""
    shipyard.set_store(None)  # close it before its files are replaced
    return template.copy_to(isolated_store)
