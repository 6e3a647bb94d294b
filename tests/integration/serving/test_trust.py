"""What ``trust:`` in serving.yaml can and cannot do, through the real ``shipyard serve`` command.

The rule (docs/serving.md, docs/models.md): a server loads no pickle nobody named. ``trust:`` lists type names
skops cannot vouch for and pickles named by their whole hash (``pickle:<hash>``); ``trust: true`` is refused at
once, a pickled package nobody named stops the start with one line that names the entry that would trust it (and the
safer skops or ONNX), never the Python-only advice ``trust=True``; an alias moved to another pickle stops it again.
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
    assert "loads no pickle nobody named" in lines[0]
    assert "Serving" not in done.stdout


def test_a_pickled_package_stops_the_start_saying_how_to_serve_it(pickled_uri: str, tmp_path: Path) -> None:
    done = _serve({"trust": ["builtins.object"], "deployments": {"threshold": {"model": pickled_uri}}}, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert pickled_uri in lines[0] and "pickle" in lines[0]
    assert "pickle:" in lines[0] and "skops" in lines[0] and "ONNX" in lines[0]
    assert "trust=True" in lines[0] and "Python" in lines[0]  # the blanket form is Python's only
    assert "Serving" not in done.stdout


def test_a_pickle_named_by_its_hash_is_served_and_no_other(tmp_path: Path, isolated_store: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from shipyard.models.manifest import read_manifest
    from shipyard.store import current_store
    from tests.integration.serving._serving import records, running_server

    frame = pd.DataFrame({"tenure": np.arange(1, 61, dtype=float)})
    target = (frame["tenure"] > 30).astype(int)
    infos = []
    for c in (1.0, 0.01):
        with shipyard.start_run():
            infos.append(shipyard.log_model(LogisticRegression(C=c).fit(frame, target), input_example=frame,
                                            serializer="pickle"))
    for info in infos:
        shipyard.register_model(info, "threshold")
    shipyard.set_alias("threshold", "live", 1)
    store = current_store()
    hashes = [read_manifest(store, info.run_id, info.path)["files"]["model.pkl"]["hash"] for info in infos]
    expected = shipyard.load_model("models:/threshold/1", trust=True).predict_proba(frame).to_numpy()
    shipyard.set_store(None)
    config = {"trust": [f"pickle:{hashes[0]}"], "deployments": {"threshold": {"model": "models:/threshold@live"}}}
    path = write_config(tmp_path / "serving.yaml", config)
    with running_server(["--config", str(path)], cwd=tmp_path, store=isolated_store) as served:
        answer = served.post("/predict/threshold", json={"records": records(frame)}).json()
    np.testing.assert_allclose(np.asarray(answer["probabilities"]), expected, rtol=0, atol=1e-12)

    shipyard.set_alias("threshold", "live", 2)  # another pickle, which nobody named
    shipyard.set_store(None)
    done = _serve(config, tmp_path)
    assert done.returncode == 2 and f"pickle:{hashes[1]}" in done.stderr, done.stderr
    short = _serve({**config, "trust": [f"pickle:{hashes[0][:16]}"]}, tmp_path)
    assert short.returncode == 2 and "64 hex digits" in short.stderr and "'trust'" in short.stderr
