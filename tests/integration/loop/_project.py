"""A small real project for the loop tests: a seeded churn-like world, a two-stage pipeline, a few loops.

``prepare`` writes ``data/train.parquet`` and ``data/holdout.parquet`` from a seeded synthetic world
(``params.yaml`` picks the seed, the size and a shift of ``x1``); ``train`` fits a scikit-learn pipeline on
the features ``params.yaml`` names (the others are dropped inside the pipeline, so every version takes the
same columns) and logs it with ``shipyard.log_model`` inside ``shipyard.start_run()``, which joins the stage
run. ``broken`` exits 1 on purpose; ``gate`` waits for a file the test creates. Every stage appends its name
to ``calls.log``. Each repro takes a couple of seconds, the interpreter start dominating.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import yaml

from tests._support import git, init_repo

FEATURES = ["x1", "x2", "x3", "plan"]
WEAK = ["x3"]  # a model that sees only the weakest feature: clearly worse on the holdout

STAGES = """\
name: loopy
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py]
    params: [prepare]
    outs: [data/train.parquet, data/holdout.parquet]
  train:
    cmd: python src/train.py
    deps: [data/train.parquet, src/train.py]
    params: [train]
    outs: [models/info.json]
  broken:
    cmd: python src/broken.py
    deps: [src/broken.py]
    outs: [never.txt]
  gate:
    cmd: python src/gate.py
    deps: [src/gate.py]
    outs: [gate.txt]
"""

PARAMS = {"prepare": {"seed": 7, "rows": 1500, "shift": 0.0}, "train": {"features": FEATURES, "C": 1.0}}

PREPARE = """\
import pathlib

import numpy as np
import pandas as pd
import yaml

with open("calls.log", "a") as log:
    log.write("prepare\\n")
params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["prepare"]
rng = np.random.default_rng(params["seed"])
rows = params["rows"]
frame = pd.DataFrame({
    "x1": rng.normal(params["shift"], 1.0, rows),
    "x2": rng.normal(0.0, 1.0, rows),
    "x3": rng.normal(0.0, 1.0, rows),
    "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2]),
})
logit = 1.6 * (frame["x1"] - params["shift"]) + 1.2 * frame["x2"] - 0.4 * frame["x3"] + 0.8 * (frame["plan"] == "basic")
frame["churn"] = (rng.random(rows) < 1 / (1 + np.exp(-(logit - 0.4)))).astype(int)
pathlib.Path("data").mkdir(exist_ok=True)
cut = int(rows * 0.7)
frame.iloc[:cut].to_parquet("data/train.parquet", index=False)
frame.iloc[cut:].to_parquet("data/holdout.parquet", index=False)
"""

TRAIN = """\
import json
import pathlib

import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import shipyard

with open("calls.log", "a") as log:
    log.write("train\\n")
params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["train"]
frame = pd.read_parquet("data/train.parquet")
x, y = frame.drop(columns=["churn"]), frame["churn"]
numeric = [name for name in params["features"] if name != "plan"]
parts = [("numeric", StandardScaler(), numeric)]
if "plan" in params["features"]:
    parts.append(("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]))
model = Pipeline([("prepare", ColumnTransformer(parts)), ("model", LogisticRegression(C=params["C"]))]).fit(x, y)
with shipyard.start_run():  # joins the stage run
    info = shipyard.log_model(model, "model", input_example=x, y_example=y)
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/info.json").write_text(json.dumps({"uri": info.uri, "features": params["features"]}))
"""

BROKEN = """\
import sys

with open("calls.log", "a") as log:
    log.write("broken\\n")
print("broken: the upstream feed is missing today", file=sys.stderr)
sys.exit(1)
"""

GATE = """\
import os
import pathlib
import time

with open("calls.log", "a") as log:
    log.write("gate\\n")
folder = pathlib.Path(os.environ["LOOP_GATE"])
(folder / "entered.tmp").write_text(str(os.getpid()))
(folder / "entered.tmp").rename(folder / "entered")
deadline = time.monotonic() + 120
while not (folder / "open").exists():
    if time.monotonic() > deadline:
        raise SystemExit("gate: nobody opened the gate within 120 s")
    time.sleep(0.05)
pathlib.Path("gate.txt").write_text("passed\\n")
"""

GITIGNORE = "/calls.log\n/data\n/models\n/gate.txt\n/never.txt\n"

RETRAIN = {
    "schedule": "0 3 * * *",
    "steps": [
        {"repro": ["prepare", "train"]},
        {"register": {"stage": "train", "artifact": "model", "name": "churn", "alias": "challenger"}},
        {"promote": {"name": "churn", "candidate": "challenger", "alias": "champion", "data": "data/holdout.parquet",
                     "target": "churn", "metric": "roc_auc", "min_delta": 0.01}},
    ],
}


def make_project(root: Path, loops: dict[str, Any], *, params: dict[str, Any] | None = None) -> Path:
    """Write the project with ``loops`` under ``loops:``, make it a git repository and commit it."""
    files = {
        "shipyard.yaml": STAGES + yaml.safe_dump({"loops": loops}, sort_keys=False, width=1000),
        "params.yaml": yaml.safe_dump(params or PARAMS, sort_keys=False),
        "src/prepare.py": PREPARE, "src/train.py": TRAIN, "src/broken.py": BROKEN, "src/gate.py": GATE,
        ".gitignore": GITIGNORE,
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    init_repo(root)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "loopy pipeline")
    return root


def set_params(root: Path, section: str, **values: Any) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params[section].update(values)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def calls(root: Path) -> list[str]:
    path = root / "calls.log"
    return path.read_text().split() if path.exists() else []


def cli_json(done: Any) -> Any:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def rows(db: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement on the store's ``meta.db`` with the plain sqlite3 driver (no Shipyard code), committed."""
    with closing(sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=30)) as conn:
        found = conn.execute(sql, parameters).fetchall()
        conn.commit()
        return found


def cycles(db: Path, loop: str) -> list[tuple[int, str, str]]:
    """``(number, trigger, status)`` of every cycle of ``loop``, oldest first; none while the store is being made."""
    try:
        found = rows(db, "select number, trigger, status from loop_cycles where loop = ? order by number", (loop,))
    except sqlite3.OperationalError as exc:  # no file yet, or a process is still creating its tables
        if "no such table" in str(exc) or "unable to open" in str(exc):
            return []
        raise
    return [(int(number), str(trigger), str(status)) for number, trigger, status in found]
