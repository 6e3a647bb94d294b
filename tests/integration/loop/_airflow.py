"""A real Airflow for the export tests, in its own cached venv (tests/_foreign_venv.py says how it is built).

Airflow pulls in hundreds of packages that Shipyard's environment must not carry. Building takes ~4.5 minutes on
two cores; later runs find it ready.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tests._foreign_venv import ForeignVenv

AIRFLOW_VERSION = "3.3.2"
AIRFLOW = ForeignVenv(
    title=f"Airflow {AIRFLOW_VERSION}", folder=f"airflow-{AIRFLOW_VERSION}",
    requirements=(f"apache-airflow=={AIRFLOW_VERSION}",),
    probe="import airflow.models, airflow.providers.standard.operators.bash",
    exclude_newer="2026-12-06T00:00:00Z", index_package="apache-airflow")


@functools.cache
def airflow_python() -> Path:
    return AIRFLOW.python()

