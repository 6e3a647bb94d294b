"""Fixtures of the monitoring tests: models trained once per session, a store of their own per test.

``template`` trains ``churn`` v1 (logistic regression) and v2 (a one-split tree) on the seeded world of
``_traffic.py`` into a session store; ``churn_store`` (in ``tests/integration/conftest.py``) copies it into the
test's own ``SHIPYARD_STORE``, whose prediction log is empty until the test writes traffic into it.
"""

from __future__ import annotations

import pytest

from tests.integration.monitoring._traffic import Template, build_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("monitoring-template") / ".shipyard")
