"""A real shipyard.PythonModel (nearest class centroid) written as a module file into a test's folder, so a test
can import it by name in this process and in children, and change its source afterwards.

The model keeps its centroids in an artifact file (JSON) and its temperature in ``config``; ``load_context``
rebuilds both. Importing the module creates the file named by ``$SHIPYARD_TEST_IMPORTED`` when set, so a test can
tell whether a loader ran the module's code at all.
"""

from __future__ import annotations

import importlib
import uuid
from pathlib import Path
from types import ModuleType

import pytest

SOURCE = '''
import json
import os
from pathlib import Path

import numpy as np

import shipyard

if os.environ.get("SHIPYARD_TEST_IMPORTED"):
    Path(os.environ["SHIPYARD_TEST_IMPORTED"]).touch()


class Centroids(shipyard.PythonModel):
    """Probabilities from the squared distances to each class's mean row."""

    def __init__(self, frame, target, folder, temperature=0.1):
        table = {str(label): frame[np.asarray(target) == label].mean().tolist() for label in sorted(set(target))}
        path = Path(folder) / "centroids.json"
        path.write_text(json.dumps(table))
        self.artifacts = {"centroids": str(path)}
        self.config = {"temperature": temperature}
        self.load_context(shipyard.ModelContext(self.artifacts, self.config))

    def load_context(self, context):
        table = json.loads(Path(context.artifacts["centroids"]).read_text())
        self.classes_ = np.array([int(label) for label in table])
        self.centers = np.array(list(table.values()))
        self.temperature = context.config["temperature"]

    def predict_proba(self, frame):
        values = np.asarray(frame, dtype="float64")
        logits = -((values[:, None, :] - self.centers[None]) ** 2).sum(axis=2) * self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def predict(self, frame):
        return self.classes_[self.predict_proba(frame).argmax(axis=1)]


class Forgetful(Centroids):
    """Keeps its temperature outside config: a reload cannot rebuild it."""

    def __init__(self, frame, target, folder):
        super().__init__(frame, target, folder)
        self.config = {}
        self.temperature = 1e-5

    def load_context(self, context):
        table = json.loads(Path(context.artifacts["centroids"]).read_text())
        self.classes_ = np.array([int(label) for label in table])
        self.centers = np.array(list(table.values()))
        self.temperature = context.config.get("temperature", 0.1)
'''


def centroid_module(folder: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The module written to ``folder`` under a fresh name (``sys.modules`` caches names), and imported."""
    name = f"centroids_{uuid.uuid4().hex[:10]}"
    (folder / f"{name}.py").write_text(SOURCE)
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module(name)
