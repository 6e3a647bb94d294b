"""prepare: clean the raw Telco table and split it into train, test and holdout.

The splits are stratified on the target and seeded from params.yaml, so the same raw data and params
always give the same files, byte for byte: that is what lets ``shipyard repro`` skip this stage, and
lets lineage match the files later stages read to this stage's run by their hashes.
"""

from __future__ import annotations

import pathlib

import pandas as pd
import yaml
from sklearn.model_selection import train_test_split

TARGET = "churn"

params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["prepare"]
frame = pd.read_csv("data/raw/churn.csv")

frame[TARGET] = (frame[TARGET] == "Yes").astype(int)
# Customers in their first month (tenure 0) have not been billed yet: their total is 0, not unknown.
frame["total_charges"] = frame["total_charges"].fillna(0.0)
for column in frame.select_dtypes(include="object"):
    frame[column] = frame[column].str.strip()

seed, test_size, holdout_size = params["seed"], params["test_size"], params["holdout_size"]
rest, holdout = train_test_split(frame, test_size=holdout_size, random_state=seed, stratify=frame[TARGET])
train, test = train_test_split(rest, test_size=test_size / (1 - holdout_size), random_state=seed,
                               stratify=rest[TARGET])
for name, part in (("train", train), ("test", test), ("holdout", holdout)):
    part.reset_index(drop=True).to_parquet(f"data/{name}.parquet", index=False)
print(f"prepare: {len(frame)} customers, churn rate {frame[TARGET].mean():.1%}; "
      f"{len(train)} train / {len(test)} test / {len(holdout)} holdout rows")
