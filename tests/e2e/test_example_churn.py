"""The example project's prepare stage: a customer's split is fixed by its id, whatever rows arrive later.

A random re-split of a growing table moves rows between train and holdout from one retrain to the next,
so the promotion gate would score the champion on customers it trained on. These tests run the example's
own ``src/prepare.py`` (as ``shipyard repro`` would) on a raw table, then again after production rows were
appended, and look at which customer landed where.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"


def _raw(ids: list[str], seed: int) -> pd.DataFrame:
    random = np.random.default_rng(seed)
    return pd.DataFrame({"customer_id": ids, "churn": random.choice(["Yes", "No"], len(ids)),
                         "contract": random.choice(["Month-to-month", "One year"], len(ids)),
                         "total_charges": random.uniform(10, 500, len(ids))})


def _prepare(project: Path) -> dict[str, str]:
    done = subprocess.run([sys.executable, "src/prepare.py"], cwd=project, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {customer: split for split in ("train", "test", "holdout")
            for customer in pd.read_parquet(project / "data" / f"{split}.parquet")["customer_id"]}


def test_customers_keep_their_split_when_production_rows_arrive(tmp_path: Path) -> None:
    project = tmp_path / "churn"
    (project / "src").mkdir(parents=True)
    (project / "data" / "raw").mkdir(parents=True)
    shutil.copy(EXAMPLE / "src" / "prepare.py", project / "src" / "prepare.py")
    shutil.copy(EXAMPLE / "params.yaml", project / "params.yaml")
    first = _raw([f"C{number:05d}" for number in range(1, 2001)], seed=1)
    first.to_csv(project / "data" / "raw" / "churn.csv", index=False)
    before = _prepare(project)

    new = _raw([f"N{number:05d}" for number in range(1, 501)], seed=2)
    pd.concat([first, new]).to_csv(project / "data" / "raw" / "churn.csv", index=False)
    after = _prepare(project)

    assert len(before) == 2000 and len(after) == 2500  # every row in exactly one split
    assert {customer: after[customer] for customer in before} == before  # nobody moved
    shares = pd.Series(before).value_counts(normalize=True)
    assert abs(shares["holdout"] - 0.2) < 0.04 and abs(shares["test"] - 0.2) < 0.04  # params.yaml's shares
    placed = pd.Series({customer: split for customer, split in after.items() if customer.startswith("N")})
    assert set(placed) == {"train", "test", "holdout"}  # new customers go everywhere, by their own hash
