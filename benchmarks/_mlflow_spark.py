"""MLflow with pyspark, for the Spark engine benchmark's anchor (``mlflow.pyfunc.spark_udf``), in its own venv.

The tests' MLflow venv (tests/integration/server/_mlflow.py) has no pyspark; this one adds it at the version the
project locks, so both sides run the same Spark. Built once under ``~/.cache/shipyard-test/`` by the tests'
``ForeignVenv`` (uv reuses the pyspark wheel it built for the project's venv instead of building the 460 MB
source package again). It is loaded with :func:`benchmarks._suite.from_tests`: a package named ``tests`` in
site-packages shadows the repository's folder of that name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks._suite import from_tests

MLFLOW_VERSION = "3.17.2"  # as tests/integration/server/_mlflow.py pins it
PYSPARK_VERSION = "4.3.0"  # as uv.lock pins it
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "DO_NOT_TRACK": "1",
              "GIT_PYTHON_REFRESH": "quiet", "PYTHONWARNINGS": "ignore"}


def _foreign_venv_class() -> Any:
    return from_tests("_foreign_venv.py").ForeignVenv


def mlflow_spark_python() -> Path:
    """The venv's interpreter, building the venv first when it is missing."""
    venv = _foreign_venv_class()(
        title=f"MLflow {MLFLOW_VERSION} with pyspark {PYSPARK_VERSION}", folder=f"mlflow-{MLFLOW_VERSION}-spark",
        requirements=(f"mlflow=={MLFLOW_VERSION}", "scikit-learn", f"pyspark=={PYSPARK_VERSION}"),
        probe="import mlflow.pyfunc, sklearn, pyspark.sql", exclude_newer="2026-12-06T00:00:00Z",
        index_package="mlflow", env=MLFLOW_ENV)
    return Path(venv.python())
