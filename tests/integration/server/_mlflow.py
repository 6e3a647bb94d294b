"""The real MLflow client for the server tests, in its own venv, built once per machine and cached.

MLflow's dependencies (its own pins of pandas, pyarrow, sklearn, SQLAlchemy...) must not meet Shipyard's, so the
client lives in a venv under ``~/.cache/shipyard-test/mlflow-<version>/`` (``SHIPYARD_TEST_CACHE`` moves the parent
folder), the way ``tests/integration/loop/_airflow.py`` keeps Airflow. The version is the one
``benchmarks/anchors.py`` resolves (``mlflow>=3,<4``) pinned exactly, and uv resolves with ``--exclude-newer`` so
every machine gets the same set.

The build is idempotent and safe to race: it runs under an exclusive ``flock`` on a lock file next to the venv, and
the venv counts as ready only when its ``.complete`` marker exists (written last, atomically), so a build killed
half-way is wiped and redone, never used. The tests skip (with the reason) only when the package registry cannot be
reached; any other install failure fails them.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

MLFLOW_VERSION = "3.17.2"
# scikit-learn for the models the registry part logs; both resolved as they were on this day.
REQUIREMENTS = (f"mlflow=={MLFLOW_VERSION}", "scikit-learn")
EXCLUDE_NEWER = "2026-12-06T00:00:00Z"
BUILD_TIMEOUT_S = 1500
PROBE = "import mlflow, mlflow.data, sklearn"
# What every MLflow process in the tests runs with: no usage pings, no retries hiding a refusal.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "DO_NOT_TRACK": "1"}


def cache_root() -> Path:
    return Path(os.environ.get("SHIPYARD_TEST_CACHE") or Path.home() / ".cache" / "shipyard-test")


def mlflow_venv() -> Path:
    return cache_root() / f"mlflow-{MLFLOW_VERSION}"


@functools.cache
def mlflow_python() -> Path:
    """The interpreter of the cached MLflow venv, building the venv first when it is missing or half-built."""
    venv = mlflow_venv()
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent build finishes before we look
        if marker.is_file() and _probe(python):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        _build(venv)
        if not _probe(python):
            pytest.fail(f"MLflow {MLFLOW_VERSION} was installed into {venv} but `{PROBE}` fails there")
        temp = marker.with_name(".complete.tmp")
        temp.write_text(f"mlflow=={MLFLOW_VERSION} built in {time.monotonic() - started:.0f} s\n")
        os.replace(temp, marker)
    return python


def _build(venv: Path) -> None:
    uv = _uv()
    base = getattr(sys, "_base_executable", sys.executable)
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    steps = [
        [uv, "venv", "--quiet", "--python", base, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "--exclude-newer",
         EXCLUDE_NEWER, *REQUIREMENTS],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.fail(f"building the MLflow venv took over {BUILD_TIMEOUT_S} s: {' '.join(step)}")
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
            unreachable = _registry_unreachable()
            if unreachable:
                pytest.skip(f"MLflow {MLFLOW_VERSION} cannot be installed: the package registry is unreachable "
                            f"({unreachable})")
            pytest.fail(f"`{' '.join(step)}` exited {done.returncode}:\n{tail}")


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the MLflow venv; install the dev environment with `make test`")
    return found


def _registry_unreachable() -> str | None:
    """Why the package index cannot be reached, or None when it answers."""
    index = os.environ.get("UV_INDEX_URL") or os.environ.get("UV_DEFAULT_INDEX") or "https://pypi.org/simple"
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/mlflow/", timeout=20) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as exc:
        return f"{index}: {getattr(exc, 'reason', exc)}"
    return None


def _probe(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", PROBE], capture_output=True, timeout=300, check=False,
                          env={**os.environ, **MLFLOW_ENV})
    return done.returncode == 0


if __name__ == "__main__":  # `python tests/integration/server/_mlflow.py`: build (or find) the venv, say where
    print(mlflow_python())
