"""A store and a project as a team has them after a few weeks, for the table tests: every listing has rows.

Tracking: two experiments with long names, sweeps of nested runs with 8 metrics and 5 params each, a failed
run. Registry: ``churn`` v1 and v2 trained by the monitoring tests' template (scikit-learn), v1 also
registered as ``customer-churn-propensity-model``, a champion alias and a promotion held back. Serving:
two hours of ``churn`` answers in the prediction log, the second hour drifted. Project: a git repository
whose two-stage pipeline ran once and then had its params, data and metrics changed, with a loop.
Everything is written with the public API and the real CLI; nothing is faked.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import shipyard
from tests.e2e._terminal import SHIPYARD_SCRIPT
from tests.integration.monitoring._traffic import (
    HOUR_MS,
    Hours,
    build_template,
    iso,
    log_traffic,
    world,
)

EXPERIMENTS = ("customer-churn-gradient-boosting-2026", "customer-churn-logistic-regression-baseline")
METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "train_seconds", "n_features")
BEST_NAME = "gbm-depth-6-lr-0.1-balanced"
BEST_AUC = 0.8429
SHIFT = {"monthly_charges": 16.0, "age": 10, "contract": [0.30, 0.30, 0.40]}

SPEC = """\
stages:
  prepare-customer-features:
    cmd: python prepare.py
    deps: [prepare.py, data/customers-2026-q1.csv]
    params: [prepare]
    outs: [data/features.csv]
  train-gradient-boosting:
    cmd: python train.py
    deps: [train.py, data/features.csv]
    params: [train]
    outs: [models/model.txt]
    metrics: [reports/metrics.json]
loops:
  churn-weekday-retrain:
    schedule: "0 2 * * 1-5"
    triggers:
      - monitor: {deployment: churn, check: drift, level: alert, window: 6h}
      - monitor: {deployment: churn, check: quality, metric: roc_auc, below: 0.75}
    steps:
      - repro: [prepare-customer-features, train-gradient-boosting]
"""
PREPARE = """\
import pathlib, yaml
params = yaml.safe_load(open("params.yaml"))["prepare"]
rows = pathlib.Path("data/customers-2026-q1.csv").read_text().splitlines()
pathlib.Path("data/features.csv").write_text("\\n".join(rows[: params["max_rows"]]) + "\\n")
"""
TRAIN = """\
import json, pathlib, yaml
params = yaml.safe_load(open("params.yaml"))["train"]
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/model.txt").write_text(str(params))
pathlib.Path("reports").mkdir(exist_ok=True)
json.dump({"roc_auc": 0.8312, "accuracy": 0.7958, "log_loss": 0.4377}, open("reports/metrics.json", "w"))
"""
PARAMS = ("prepare:\n  max_rows: 5000\ntrain:\n  learning_rate: 0.05\n  max_depth: 4\n  n_estimators: 300\n"
          "  class_weight: balanced\n")
PARAMS_NOW = PARAMS.replace("learning_rate: 0.05", "learning_rate: 0.1").replace("max_depth: 4", "max_depth: 6")
METRICS_NOW = {"roc_auc": BEST_AUC, "accuracy": 0.8016, "log_loss": 0.4221}


@dataclass(frozen=True)
class World:
    store: Path
    project: Path
    best_run: str  # id of the run named BEST_NAME
    compared: list[str]  # 8-digit ids of 6 runs: the best, its siblings, then other runs
    hours: Hours
    latest_request: str  # request id of the newest logged answer
    latest_latency: float  # its latency_ms (with all 17 digits)

    @property
    def env(self) -> dict[str, str | None]:
        return {"SHIPYARD_STORE": str(self.store), "SHIPYARD_RUN_ID": None, "SHIPYARD_EXPERIMENT": None}


def build_world(folder: Path) -> World:
    store, project = folder / ".shipyard", folder / "churn-project"
    template = build_template(store)  # churn v1 and v2 (and their runs), then lets go of the store
    shipyard.set_store(store)
    try:
        compared = _log_runs()
        _registry()
        hours = Hours.recent()
        latencies = np.random.default_rng(5).lognormal(2.5, 0.4, 100)
        log_traffic(template, world(1000, seed=33), start_ms=hours.previous_start, end_ms=hours.current_start,
                    latency_ms=latencies)
        drifted = log_traffic(template, world(1000, seed=34, shift=SHIFT), start_ms=hours.current_start,
                              end_ms=hours.current_end, latency_ms=latencies)
    finally:
        shipyard.set_store(None)
    _project(project, store)
    return World(store=store, project=project, best_run=compared[0], compared=[run[:8] for run in compared],
                 hours=hours, latest_request=drifted.keys[-1][0], latest_latency=float(latencies[-1]))


def predictions_since(hours: Hours) -> str:
    return iso(hours.previous_start - HOUR_MS)


def _log_runs() -> list[str]:
    """Log the runs; return the ids of the best run, its two siblings, then the other runs with metrics."""
    rng = np.random.default_rng(2026)
    best, others = "", []
    for experiment in EXPERIMENTS:
        with shipyard.start_run(experiment=experiment, name="hyperparameter-sweep-2026-q1"):
            shipyard.log_param("search", "grid over depth and learning rate")
            for depth, rate in ((4, 0.05), (5, 0.05), (6, 0.1)):
                name = f"gbm-depth-{depth}-lr-{rate}-balanced"
                with shipyard.start_run(name=name) as run:
                    shipyard.log_params({"max_depth": depth, "learning_rate": rate, "n_estimators": 300,
                                         "subsample": 0.8, "class_weight": "balanced"})
                    values = {key: float(rng.uniform(0.55, 0.82)) for key in METRICS}
                    values.update(n_features=19, train_seconds=float(rng.uniform(10, 100)))
                    if name == BEST_NAME and experiment == EXPERIMENTS[0]:
                        values["roc_auc"], best = BEST_AUC, run.id
                    shipyard.log_metrics(values)
                if run.id != best:
                    others.append(run.id)
    try:
        with shipyard.start_run(experiment=EXPERIMENTS[1], name="logreg-l1-saga-diverged"):
            shipyard.log_params({"penalty": "l1", "solver": "saga"})
            raise RuntimeError("did not converge")
    except RuntimeError:
        pass
    return [best, *others[:2][::-1], *others[2:]]


def _registry() -> None:
    v1 = shipyard.get_model_version("churn", 1)
    shipyard.register_model(v1.run_id, "customer-churn-propensity-model")
    shipyard.set_alias("churn", "champion", 1, reason="first baseline, trained on the 2026-q1 customers")
    holdout = world(2000, seed=7)
    shipyard.promote_model("churn", candidate=2, data=holdout, target="churn", metric="roc_auc", min_delta=0.005)


def _project(root: Path, store: Path) -> None:
    root.mkdir()
    files = {"shipyard.yaml": SPEC, "params.yaml": PARAMS, "prepare.py": PREPARE, "train.py": TRAIN,
             "data/customers-2026-q1.csv": "".join(f"{index},{index % 7}\n" for index in range(200)),
             ".gitignore": "/data/features.csv\n/models/\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    _git(root, "init", "--quiet", "--initial-branch=main")
    env = {**os.environ, "SHIPYARD_STORE": str(store)}
    for command in (["add", "data/customers-2026-q1.csv"], ["repro"]):
        subprocess.run([str(SHIPYARD_SCRIPT), *command], cwd=root, env=env, check=True, capture_output=True,
                       timeout=120)
    _git(root, "add", "--all")
    _git(root, "commit", "--quiet", "-m", "first pipeline run")
    (root / "params.yaml").write_text(PARAMS_NOW)
    (root / "reports" / "metrics.json").write_text(json.dumps(METRICS_NOW))
    with (root / "data" / "customers-2026-q1.csv").open("a") as data:
        data.write("200,4\n")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=CI", "-c", "commit.gpgsign=false",
                    *args], cwd=root, check=True, capture_output=True, timeout=60,
                   env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
