"""Fixtures of the serving tests: the models train once per session, one shared server for request checks.

``main_server`` serves a copy of the template store with two deployments:

- ``churn``: one live variant ``champion`` (``models:/churn@champion``, version 1) and a shadow
  (``models:/churn/2``), so every answer comes from v1 while v2's answers only reach the log;
- ``ab``: ``champion`` (weight 80) and ``challenger`` (``models:/churn@challenger``, version 2, weight 20),
  sticky by the ``customer_id`` column.

It requires ``TOKEN`` for feedback, accepts bodies up to 8 KiB and flushes its log every 0.2 s into its
own ``log_dir``. Tests that move aliases or stop the server start servers of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.serving._serving import (
    TOKEN,
    Server,
    Template,
    build_template,
    running_server,
    write_config,
)

MAX_BODY = 8192


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("churn-template") / ".shipyard")


@pytest.fixture(scope="session")
def main_server(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("main-server")
    store = template.copy_to(folder / ".shipyard")
    log_dir = folder / "logs"
    config = write_config(folder / "serving.yaml", {
        "token": TOKEN,
        "max_body_bytes": MAX_BODY,
        "flush_interval_s": 0.2,
        "log_dir": str(log_dir),
        "deployments": {
            "churn": {"variants": [{"name": "champion", "model": "models:/churn@champion"}],
                      "shadow": ["models:/churn/2"]},
            "ab": {"variants": [{"name": "champion", "model": "models:/churn@champion", "weight": 80},
                                {"name": "challenger", "model": "models:/churn@challenger", "weight": 20}],
                   "sticky_key": "customer_id"},
        },
    })
    with running_server(["--config", str(config)], cwd=folder, store=store, log_dir=log_dir) as server:
        yield server
        assert server.stop() == 0, server.describe()  # SIGTERM is a clean stop
