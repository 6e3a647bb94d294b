"""Foreign tools (Airflow, the MLflow client) in venvs of their own, built once per machine and cached.

Their dependencies must not meet Shipyard's, so each lives under ``~/.cache/shipyard-test/<name>-<version>/``
(``SHIPYARD_TEST_CACHE`` moves the parent folder). Versions are pinned and uv resolves with ``--exclude-newer``, so
every machine gets the same set.

The build is idempotent and safe to race (the xdist workers of one run all want the same venv): it runs under
the cache's exclusive lock (``tests/_cache.py``), and the venv counts as ready only when its ``.complete`` marker
exists (written last, atomically), so a build killed half-way is wiped and redone, never used. Tests skip (with the
reason) only when the package registry cannot be reached; any other install failure fails them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._cache import cache_root, exclusive

BUILD_TIMEOUT_S = 1500


@dataclass(frozen=True)
class ForeignVenv:
    """One tool's venv: what to install, how to tell it works, and the environment its processes need."""

    title: str  # "Airflow 3.3.2", for messages
    folder: str  # "airflow-3.3.2", under cache_root()
    requirements: tuple[str, ...]
    probe: str  # Python code that must run in the venv
    exclude_newer: str  # resolve as the registry was on this day
    index_package: str  # the package whose index page tells whether the registry answers
    env: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return cache_root() / self.folder

    def python(self) -> Path:
        """The venv's interpreter, building the venv first when it is missing or half-built."""
        venv = self.path
        python = venv / "bin" / "python"
        marker = venv / ".complete"
        with exclusive(venv):  # a concurrent build finishes before we look
            if marker.is_file() and self._works(python):
                return python
            shutil.rmtree(venv, ignore_errors=True)
            started = time.monotonic()
            self._build(venv)
            if not self._works(python):
                pytest.fail(f"{self.title} was installed into {venv} but `{self.probe}` fails there")
            temp = marker.with_name(".complete.tmp")
            temp.write_text(f"{' '.join(self.requirements)} built in {time.monotonic() - started:.0f} s\n")
            os.replace(temp, marker)
        return python

    def _build(self, venv: Path) -> None:
        uv = _uv(self.title)
        base = getattr(sys, "_base_executable", sys.executable)
        env = {**os.environ, "UV_COMPILE_BYTECODE": "1", "UV_PYTHON_DOWNLOADS": "never"}
        env.pop("VIRTUAL_ENV", None)
        steps = [
            [uv, "venv", "--quiet", "--python", base, str(venv)],
            [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "--exclude-newer",
             self.exclude_newer, *self.requirements],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env,
                                      check=False)
            except subprocess.TimeoutExpired:
                shutil.rmtree(venv, ignore_errors=True)
                pytest.fail(f"building the {self.title} venv took over {BUILD_TIMEOUT_S} s: {' '.join(step)}")
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
                unreachable = _registry_unreachable(self.index_package)
                if unreachable:
                    pytest.skip(f"{self.title} cannot be installed: the package registry is unreachable "
                                f"({unreachable})")
                pytest.fail(f"`{' '.join(step)}` exited {done.returncode}:\n{tail}")

    def _works(self, python: Path) -> bool:
        if not python.exists():
            return False
        done = subprocess.run([str(python), "-c", self.probe], capture_output=True, timeout=300, check=False,
                              env={**os.environ, **self.env})
        return done.returncode == 0


def _uv(title: str) -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        pytest.fail(f"uv is needed to build the {title} venv; install the dev environment with `make test`")
    return found


def _registry_unreachable(package: str) -> str | None:
    """Why the package index cannot be reached, or None when it answers."""
    index = os.environ.get("UV_INDEX_URL") or os.environ.get("UV_DEFAULT_INDEX") or "https://pypi.org/simple"
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/{package}/", timeout=20) as response:
            response.read(1)
    except (urllib.error.URLError, OSError) as exc:
        return f"{index}: {getattr(exc, 'reason', exc)}"
    return None
