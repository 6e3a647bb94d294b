"""Monitoring without a server: compare this week's data with the training set, column by column.

Executed by the tests (tests/e2e/test_docs.py). The same checks run on files with
`shipyard monitor compare train.parquet this_week.csv`.
"""

import numpy as np
import pandas as pd

from shipyard.monitoring.compare import compare_frames
from shipyard.monitoring.config import Thresholds

rng = np.random.default_rng(7)
training = pd.DataFrame({
    "monthly_charges": rng.normal(65, 20, 5000).round(2),
    "contract": rng.choice(["Month-to-month", "One year", "Two year"], 5000, p=[0.55, 0.25, 0.20]),
    "tenure": rng.integers(1, 72, 5000),
})
this_week = pd.DataFrame({
    "monthly_charges": rng.normal(80, 20, 2000).round(2),                     # shifted up: drift
    "contract": rng.choice(["Month-to-month", "One year", "Two year", "Four year"], 2000,
                           p=[0.50, 0.25, 0.15, 0.10]),                      # a level never seen in training
    "tenure": rng.integers(1, 72, 2000).astype(float),
})
this_week.loc[:399, "tenure"] = np.nan                                       # 20% missing, none in training

result = compare_frames(training, this_week)
print("verdict:", result.verdict)
print("drifted:", result.flagged("drift"))
print("new categories:", result.flagged("new_categories"))
print("missing values:", result.flagged("missing"))

# Thresholds as monitoring.yaml would set them: a looser drift line for monthly_charges only
relaxed = Thresholds({"features": {"monthly_charges": {"drift": {"psi_warn": 0.7, "psi_alert": 1.0}}}})
print("drifted with the looser line:", compare_frames(training, this_week, thresholds=relaxed).flagged("drift"))
