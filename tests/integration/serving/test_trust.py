"""What ``trust:`` in serving.yaml can and cannot do, through the real ``shipyard serve`` command.

The rule (docs/serving.md, docs/models.md): a server never unpickles. ``trust:`` lists type names skops cannot
vouch for; ``trust: true`` is refused at once, and a pickled package stops the start with one line that says
how to serve the model instead (skops or ONNX), never the Python-only advice ``trust=True``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from tests.integration.serving._serving import write_config

pytestmark = pytest.mark.slow


class Threshold:
    """A plain Python model, so only ``serializer="pickle"`` can store it."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame["tenure"] > 30).astype(int).to_numpy()


def _serve(config: dict[str, Any], folder: Path) -> subprocess.CompletedProcess[str]:
    path = write_config(folder / "serving.yaml", config)
    return subprocess.run([sys.executable, "-m", "shipyard", "serve", "--config", str(path), "--port", "0"],
                          capture_output=True, text=True, cwd=folder, env={**os.environ, "COLUMNS": "300"},
                          timeout=120, check=False)


@pytest.fixture
def pickled_uri() -> str:
    frame = pd.DataFrame({"tenure": np.arange(1, 61)})
    with shipyard.start_run():
        info = shipyard.log_model(Threshold(), input_example=frame, serializer="pickle")
    shipyard.set_store(None)  # the server opens the store itself
    return info.uri


def test_trust_true_is_refused_with_what_trust_is_for(pickled_uri: str, tmp_path: Path) -> None:
    done = _serve({"trust": True, "deployments": {"threshold": {"model": pickled_uri}}}, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "serving.yaml line 1: 'trust'" in lines[0] and "type names" in lines[0]
    assert "never unpickles" in lines[0]
    assert "Serving" not in done.stdout


def test_a_pickled_package_stops_the_start_saying_how_to_serve_it(pickled_uri: str, tmp_path: Path) -> None:
    done = _serve({"trust": ["builtins.object"], "deployments": {"threshold": {"model": pickled_uri}}}, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert pickled_uri in lines[0] and "pickle" in lines[0]
    assert "never unpickles" in lines[0] and "skops" in lines[0] and "ONNX" in lines[0]
    assert "Serving" not in done.stdout
