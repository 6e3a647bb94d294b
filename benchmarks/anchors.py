"""Anchor tools (MLflow, Evidently, DVC, BentoML) in their own venvs.

Benchmarks compare Shipyard against an established tool *in the same run on the same
machine*, so ratios stay meaningful on any box. Each anchor lives in its own venv under
the ignored ``.bench/venvs/`` folder so its dependencies never leak into the project's
environment, and is built once and reused.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import venv
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENVS = REPO / ".bench" / "venvs"


@dataclass(frozen=True)
class Anchor:
    """How to install one anchor tool and how to keep it offline and quiet."""

    requirements: tuple[str, ...]  # pip requirement specs
    module: str  # import name, checked before a venv is reused
    dist: str  # distribution name, for the version shown in results
    env: dict[str, str] = field(default_factory=dict)


ANCHORS: dict[str, Anchor] = {
    "mlflow": Anchor(
        requirements=("mlflow>=3,<4",),
        module="mlflow",
        dist="mlflow",
        env={
            "MLFLOW_DISABLE_TELEMETRY": "true",  # no usage pings
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",  # fail fast if anything tries the network
            "DO_NOT_TRACK": "true",
            "GIT_PYTHON_REFRESH": "quiet",  # no warning when git context is unavailable
            "PYTHONWARNINGS": "ignore",  # deprecation noise on stderr
        },
    ),
    "evidently": Anchor(
        # Evidently 0.7 does not run on pandas 3; pyarrow reads the benchmark's Parquet files.
        requirements=("evidently>=0.7,<0.8", "pandas<3", "pyarrow"),
        module="evidently",
        dist="evidently",
        env={
            "DO_NOT_TRACK": "1",  # no usage pings
            "PYTHONWARNINGS": "ignore",
        },
    ),
    "dvc": Anchor(
        requirements=("dvc[s3]>=3,<4",),
        module="dvc",
        dist="dvc",
        env={
            "DVC_NO_ANALYTICS": "1",  # no usage pings
            "DVC_NO_UPDATER": "1",  # no version check against the network
            "PYTHONWARNINGS": "ignore",
        },
    ),
    "nannyml": Anchor(
        # NannyML's CBPE, the anchor of label-free performance estimation (issue 21 part 3).
        requirements=("nannyml>=0.13,<0.14", "statsmodels", "pyarrow"),  # CBPE imports statsmodels undeclared
        module="nannyml",
        dist="nannyml",
        env={
            "NML_DISABLE_USAGE_LOGGING": "1",  # no usage pings
            "DO_NOT_TRACK": "1",
            "PYTHONWARNINGS": "ignore",
        },
    ),
    "bentoml": Anchor(
        # BentoML 1.2+ for the ``@bentoml.service`` class API; the serving benchmark trains the same
        # scikit-learn pipeline in this venv (pyarrow reads its Parquet file).
        requirements=("bentoml>=1.2,<2", "scikit-learn", "pandas", "pyarrow"),
        module="bentoml",
        dist="bentoml",
        env={
            "BENTOML_DO_NOT_TRACK": "True",  # no usage pings
            "DO_NOT_TRACK": "1",
            "PYTHONWARNINGS": "ignore",
        },
    ),
}


def _anchor(tool: str) -> Anchor:
    try:
        return ANCHORS[tool]
    except KeyError:
        raise ValueError(f"unknown anchor tool {tool!r}; known: {sorted(ANCHORS)}") from None


def _venv_python(tool: str) -> Path:
    return VENVS / tool / "bin" / "python"


def anchor_env(tool: str) -> dict[str, str]:
    """Variables to set whenever the anchor runs here: its offline/quiet switches."""
    return dict(_anchor(tool).env)


def _run_env(tool: str) -> dict[str, str]:
    return {**os.environ, **anchor_env(tool)}


def _usable(tool: str) -> bool:
    """True if the venv exists, was built for the current requirements and imports the tool."""
    anchor = _anchor(tool)
    python = _venv_python(tool)
    marker = VENVS / tool / "requirements.txt"
    if not python.exists() or not marker.exists():
        return False
    if marker.read_text().split() != list(anchor.requirements):
        return False
    probe = subprocess.run(
        [str(python), "-c", f"import {anchor.module}"],
        env=_run_env(tool),
        capture_output=True,
    )
    return probe.returncode == 0


@functools.cache  # the import probe costs seconds; once per process is enough
def anchor_python(tool: str) -> Path:
    """Python of the tool's venv, creating it (once) with the tool installed via pip."""
    anchor = _anchor(tool)
    python = _venv_python(tool)
    if _usable(tool):
        return python
    root = VENVS / tool
    shutil.rmtree(root, ignore_errors=True)  # half-built or outdated: start clean
    venv.create(root, with_pip=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--quiet", *anchor.requirements],
        env=_run_env(tool),
        check=True,
    )
    # Written last, so an interrupted install is never mistaken for a usable venv.
    (root / "requirements.txt").write_text("\n".join(anchor.requirements) + "\n")
    return python


def anchor_version(tool: str) -> str:
    """Installed version of the anchor tool, for the results table."""
    anchor = _anchor(tool)
    out = subprocess.run(
        [
            str(anchor_python(tool)),
            "-c",
            f"import importlib.metadata as m; print(m.version({anchor.dist!r}))",
        ],
        env=_run_env(tool),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()
