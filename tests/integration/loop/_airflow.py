"""A real Airflow for the export tests, in its own venv, built once per machine and cached.

Airflow pulls in hundreds of packages that Shipyard's environment must not carry, so it lives in a venv of its
own under ``~/.cache/shipyard-test/airflow-<version>/`` (``SHIPYARD_TEST_CACHE`` moves the parent folder). The
version is pinned and uv resolves with ``--exclude-newer``, so every machine gets the same set. Building
takes ~4.5 minutes on two cores; later runs find it ready.

The build is idempotent and safe to race: it runs under an exclusive ``flock`` on a lock file next to the
venv, and the venv counts as ready only when its ``.complete`` marker exists (written last, atomically), so a
build that was killed half-way is wiped and redone, never used. The tests skip (with the reason) only when the
package registry cannot be reached; any other install failure fails them.
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

AIRFLOW_VERSION = "3.3.2"
# Resolve Airflow's dependencies as they were on this day, so the cached venv is the same on every machine.
EXCLUDE_NEWER = "2026-12-06T00:00:00Z"
BUILD_TIMEOUT_S = 1500
PROBE = "import airflow.models, airflow.providers.standard.operators.bash"


def cache_root() -> Path:
    return Path(os.environ.get("SHIPYARD_TEST_CACHE") or Path.home() / ".cache" / "shipyard-test")


def airflow_venv() -> Path:
    return cache_root() / f"airflow-{AIRFLOW_VERSION}"


@functools.cache
def airflow_python() -> Path:
    """The interpreter of the cached Airflow venv, building the venv first when it is missing or half-built."""
    venv = airflow_venv()
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
            pytest.fail(f"Airflow {AIRFLOW_VERSION} was installed into {venv} but `{PROBE}` fails there")
        temp = marker.with_name(".complete.tmp")
        temp.write_text(f"apache-airflow=={AIRFLOW_VERSION} built in {time.monotonic() - started:.0f} s\n")
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
         EXCLUDE_NEWER, f"apache-airflow=={AIRFLOW_VERSION}"],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env,
                                  check=False)
        except subprocess.TimeoutExpired:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.fail(f"building the Airflow venv took over {BUILD_TIMEOUT_S} s: {' '.join(step)}")
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
            unreachable = _registry_unreachable()
            if unreachable:
                pytest.skip(f"Airflow {AIRFLOW_VERSION} cannot be installed: the package registry is unreachable "
                            f"({unreachable})")
            pytest.fail(f"`{' '.join(step)}` exited {done.returncode}:\n{tail}")


def _uv() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the Airflow venv; install the dev environment with `make test`")
    return found


def _registry_unreachable() -> str | None:
    """Why the package index cannot be reached, or None when it answers."""
    index = os.environ.get("UV_INDEX_URL") or os.environ.get("UV_DEFAULT_INDEX") or "https://pypi.org/simple"
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/apache-airflow/", timeout=20) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as exc:
        return f"{index}: {getattr(exc, 'reason', exc)}"
    return None


def _probe(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", PROBE], capture_output=True, timeout=300, check=False)
    return done.returncode == 0


if __name__ == "__main__":  # `python tests/integration/loop/_airflow.py`: build (or find) the venv, say where
    print(airflow_python())
