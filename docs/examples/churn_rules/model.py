"""A churn rule as a shipyard.PythonModel: tenure cut-offs per contract, kept in an artifact file."""

import json
from pathlib import Path

import numpy as np

import shipyard


class TenureRule(shipyard.PythonModel):
    """Churn when tenure is under the contract's cut-off; the probability falls off with the distance to it."""

    def __init__(self, cutoffs_path, softness=4.0):
        self.artifacts = {"cutoffs": cutoffs_path}  # files the package stores
        self.config = {"softness": softness}  # small JSON settings
        self.load_context(shipyard.ModelContext(self.artifacts, self.config))

    def load_context(self, context):  # also what loading calls (the constructor is not called then)
        self.cutoffs = json.loads(Path(context.artifacts["cutoffs"]).read_text())
        self.softness = context.config["softness"]
        self.classes_ = np.array([0, 1])

    def predict_proba(self, frame):
        cutoff = frame["contract"].map(self.cutoffs).fillna(0).to_numpy(dtype=float)
        churn = 1.0 / (1.0 + np.exp((frame["tenure"].to_numpy(dtype=float) - cutoff) / self.softness))
        return np.column_stack([1.0 - churn, churn])

    def predict(self, frame):
        return self.classes_[self.predict_proba(frame).argmax(axis=1)]
