"""The census settings of ``bench_estimation``: a large real dataset with real and with constructed covariate shift.

NannyML's wheel (the estimation bench's anchor, in its own venv) ships the US Census ACS employment data for
Massachusetts that its CBPE tutorial uses: 68,785 people of 2015 with the target ``employed`` (the reference
file) and 208,892 of 2016-2018 whose targets sit in a separate file joined on ``id``. The data is read from that
venv, never copied into the repository. NannyML's own ``prediction`` columns are ignored: every split trains its
own model.

The model is what a practitioner would fit on this table: scikit-learn's HistGradientBoostingClassifier with the
15 coded columns as native categoricals and age as a number, defaults otherwise. Per seeded split it is trained
on ``TRAIN_ROWS`` random people of 2015, and a disjoint ``REFERENCE_ROWS`` of 2015 are the labelled reference;
the rest of 2015 is the pool the age-tilted windows are drawn from. Settings (a split gives both):

- *by time*: windows of ``WINDOW_ROWS`` consecutive people of 2016-2018 in the file's order (a year is about 14
  windows): the shift the years brought, covariate and, if the labour market changed, concept shift too.
- *age-tilted*: windows drawn without replacement from the pool with weights exp(s z(age)), s uniform in
  +-``AGE_SHIFT`` per window: a strong covariate shift with P(y | x) unchanged by construction. Two extra windows
  per split get concept drift: a quarter, or a half, of the non-employed of working age (16-64) in it are
  employed (a hiring wave; about 4% or 8% of the window's labels change), which the labels show and the scores
  cannot; how much the check needs is the point of having two sizes.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.anchors import anchor_env, anchor_python

TARGET = "employed"
CATEGORICAL = ("SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
               "DREM", "SEX", "RAC1P")
FEATURES = ("AGEP", *CATEGORICAL)
TRAIN_ROWS = 25_000
REFERENCE_ROWS = 20_000
WINDOW_ROWS = 5_000
TILTED_WINDOWS = 8  # clean ones per split; one more per drift size is drifted
DRIFT_SHARES = (0.25, 0.5)  # the share of the working-age non-employed an injected drift makes employed
AGE_SHIFT = 1.5
BY_TIME = "census, 2016-2018 by time"
AGE_TILTED = "census, age-tilted"
SETTINGS = (BY_TIME, AGE_TILTED)


class Window(NamedTuple):
    """One scored window of any setting (``window`` -1 is the split's labelled reference)."""

    setting: str
    split: int
    window: int
    proba: Any  # the model's P(class 1) per row
    y: Any  # the true classes, after any injected drift
    drifted: bool
    labelled: Any  # which rows' labels have arrived early (the concept-drift check's 10%)
    changed: float = 0.0  # the share of the window's labels an injected concept drift changed
    tilt: float = 0.0  # the window's tilt strength s, for reading errors against it afterwards


def census_folder() -> Path:
    """The folder of NannyML's bundled datasets, asked of the anchor venv's own Python (built once if absent)."""
    done = subprocess.run(
        [str(anchor_python("nannyml")), "-c",
         "import pathlib, nannyml; print(pathlib.Path(nannyml.__file__).parent / 'datasets' / 'data')"],
        capture_output=True, text=True, check=True, env={**os.environ, **anchor_env("nannyml")})
    return Path(done.stdout.strip())


def census_windows(splits: int, labelled_share: float, *, time_stride: int = 1) -> Iterator[Window]:
    """Every split's reference, by-time windows (every ``time_stride``-th) and age-tilted windows, scored."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier

    folder = census_folder()
    year_2015 = pd.read_parquet(folder / "employment_MA_reference.pq")
    later = pd.read_parquet(folder / "employment_MA_analysis.pq").merge(
        pd.read_parquet(folder / "employment_MA_analysis_target.pq"), on="id", how="left", validate="one_to_one")
    if later[TARGET].isna().any():
        raise RuntimeError(f"{folder}: some analysis rows have no target after joining on id")
    # one frame, so both periods' categoricals share one dtype whatever the files' category orders
    people = pd.concat([year_2015, later], ignore_index=True)[[*FEATURES, TARGET]]
    labels = people[TARGET].to_numpy().astype(np.int64)
    first_later = len(year_2015)
    time_windows = range(0, (len(later) // WINDOW_ROWS), time_stride)
    age = people["AGEP"].to_numpy()
    z_age = (age - age[:first_later].mean()) / age[:first_later].std()
    for split in range(splits):
        rng = np.random.default_rng(2_000 + split)
        order = rng.permutation(first_later)
        train = order[:TRAIN_ROWS]
        reference = order[TRAIN_ROWS:TRAIN_ROWS + REFERENCE_ROWS]
        pool = order[TRAIN_ROWS + REFERENCE_ROWS:]
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=split)
        model.fit(people.iloc[train][list(FEATURES)], labels[train])
        proba = model.predict_proba(people[list(FEATURES)])[:, 1]
        for setting in SETTINGS:
            yield Window(setting, split, -1, proba[reference], labels[reference], False,
                         np.ones(len(reference), bool))
        for index in time_windows:
            rows = first_later + np.arange(index * WINDOW_ROWS, (index + 1) * WINDOW_ROWS)
            yield Window(BY_TIME, split, index, proba[rows], labels[rows], False,
                         early_labels(len(rows), labelled_share, rng))
        for index in range(TILTED_WINDOWS + len(DRIFT_SHARES)):  # the last ones get concept drift
            tilt = rng.uniform(-AGE_SHIFT, AGE_SHIFT)
            weights = np.exp(tilt * z_age[pool])
            rows = rng.choice(pool, WINDOW_ROWS, replace=False, p=weights / weights.sum())
            y = labels[rows].copy()
            drifted = index >= TILTED_WINDOWS
            changed = np.zeros(len(rows), bool)
            if drifted:
                share = DRIFT_SHARES[index - TILTED_WINDOWS]
                changed = (age[rows] >= 16) & (age[rows] < 65) & (y == 0) & (rng.random(len(rows)) < share)
                y[changed] = 1
            yield Window(AGE_TILTED, split, index, proba[rows], y, drifted,
                         early_labels(len(rows), labelled_share, rng), float(changed.mean()), float(tilt))


def early_labels(rows: int, share: float, rng: Any) -> Any:
    """Which of a window's rows have their label early: ``share`` of them, at random."""
    import numpy as np

    labelled = np.zeros(rows, bool)
    labelled[rng.choice(rows, int(share * rows), replace=False)] = True
    return labelled
