"""The real MLflow client for the server and import tests, in its own cached venv (tests/_foreign_venv.py).

The version is the one ``benchmarks/anchors.py`` resolves (``mlflow>=3,<4``), pinned exactly; MLflow's own pins of
pandas, pyarrow, scikit-learn and SQLAlchemy must not meet Shipyard's.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tests._foreign_venv import ForeignVenv

MLFLOW_VERSION = "3.17.2"
# What every MLflow process in the tests runs with: no usage pings, no retries hiding a refusal.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "DO_NOT_TRACK": "1"}
MLFLOW = ForeignVenv(
    title=f"MLflow {MLFLOW_VERSION}", folder=f"mlflow-{MLFLOW_VERSION}",
    # scikit-learn for the models the registry part logs
    requirements=(f"mlflow=={MLFLOW_VERSION}", "scikit-learn"), probe="import mlflow, mlflow.data, sklearn",
    exclude_newer="2026-12-06T00:00:00Z", index_package="mlflow", env=MLFLOW_ENV)


@functools.cache
def mlflow_python() -> Path:
    return MLFLOW.python()

