"""prepare: clean the raw Telco table and split it into train, test and holdout.

Each customer's split comes from a hash of its id (salted with the seed from params.yaml), not from a
random draw over the rows. When labelled rows arrive from production and the pipeline runs again, every
customer already seen stays in its split and only the new ones are placed: the holdout on which the
promotion gate compares champion and challenger never holds a customer either model trained on. The same
raw data and params always give the same files, byte for byte, which lets ``shipyard repro`` skip this
stage and lineage match the files later stages read to this stage's run by their hashes.
"""

from __future__ import annotations

import hashlib
import pathlib

import pandas as pd
import yaml

TARGET = "churn"
ID = "customer_id"

params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["prepare"]
frame = pd.read_csv("data/raw/churn.csv")

frame[TARGET] = (frame[TARGET] == "Yes").astype(int)
# Customers in their first month (tenure 0) have not been billed yet: their total is 0, not unknown.
frame["total_charges"] = frame["total_charges"].fillna(0.0)
for column in frame.select_dtypes(include=["object", "string"]):
    frame[column] = frame[column].str.strip()

seed, test_size, holdout_size = params["seed"], params["test_size"], params["holdout_size"]


def split_of(customer: str) -> str:
    """holdout, test or train: a uniform number in [0, 1) from the id's hash, cut at the configured shares."""
    digest = hashlib.sha256(f"{seed}:{customer}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return "holdout" if share < holdout_size else "test" if share < holdout_size + test_size else "train"


splits = frame[ID].map(split_of)
for name in ("train", "test", "holdout"):
    frame[splits == name].reset_index(drop=True).to_parquet(f"data/{name}.parquet", index=False)
counts = splits.value_counts()
print(f"prepare: {len(frame)} customers, churn rate {frame[TARGET].mean():.1%}; {counts.get('train', 0)} train / "
      f"{counts.get('test', 0)} test / {counts.get('holdout', 0)} holdout (split by a hash of {ID})")
