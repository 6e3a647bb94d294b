"""Fixtures of the deployment tests: the serving tests' two churn models, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.serving._serving import Template, build_template


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("k8s-template") / ".shipyard")


@pytest.fixture(scope="session")
def shipyard_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shipyard.serving.shipyard_wheel import shipyard_wheel as build

    return build(tmp_path_factory.mktemp("wheel")).path
