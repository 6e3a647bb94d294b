"""The team demo behind ``shipyard demo --server`` and ``make demo-team``: the same churn story, against a server.

A new user sees the team setup work in one command, on one machine: a ``shipyard server`` on a SQLite file and a
local objects folder (the commands a team runs on PostgreSQL and S3, with other addresses), two tokens, and
training code that only sets ``SHIPYARD_TRACKING_URI`` and ``SHIPYARD_TOKEN``:

- alice (writer) trains a logistic regression by hand (params, metrics, ``log_model``) and a gradient-boosted model
  with ``shipyard.autolog()``; both go to the server, nothing to a local store;
- she registers both, and the gate refuses her the protected ``champion`` alias (403: admin only);
- an admin runs the gate: the models are downloaded (verified, cached by hash) and scored on the holdout here,
  and the decision, with its test and interval, is recorded on the server under the admin's name;
- ``models:/churn@champion`` is loaded through the server and scores the holdout; the audit log shows who moved
  what;
- ``shipyard serve`` serves the champion knowing only the server's address (:mod:`.team_serving`), the holdout
  and its labels go through it, and ``monitor check`` and ``lineage`` read the traffic back through the server.

The server runs as a real subprocess on 127.0.0.1 and is stopped at the end; its database and objects stay in the
demo folder for ``shipyard runs list`` and the UI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import ForbiddenError, ShipyardError
from ..models import api as registry_api
from ..models.package import load_model, log_model
from ..models.promote import PromotionDecision
from ..tracking import fluent
from ..tracking.remote import TOKEN_ENV, TRACKING_URI_ENV, set_tracking_uri
from . import project
from .team_serving import serve_through_server
from .telco import TARGET, build_pipeline, load_churn
from .traffic import free_port, wait_ready

TEAM_DIR = Path("shipyard-demo-team")
MODEL_NAME = "churn"
EXPERIMENT = "team-churn"
START_TIMEOUT_S = 60


def run_team_demo(console: Console, rows: int | None = None, workdir: Path | None = None) -> Path:
    """Run the team story; returns the folder holding the server's database and objects."""
    started = time.perf_counter()
    folder = workdir or TEAM_DIR
    project.set_aside(folder)
    folder.mkdir(parents=True)
    database = f"sqlite:///{(folder / 'team.db').resolve()}"
    objects = folder / "objects"
    _cli("server", "db", "upgrade", "--backend-store-uri", database)
    tokens = {name: _token(database, name, role) for name, role in (("alice", "writer"), ("admin", "admin"))}
    with _server(database, objects, folder) as url:
        console.print(f"[bold]1.[/] Started `shipyard server` at {url} on {escape(str(folder / 'team.db'))} "
                      f"(migrated with `shipyard server db upgrade`) and {escape(str(objects))}; tokens: alice "
                      "(writer), admin (admin). Clients set SHIPYARD_TRACKING_URI and SHIPYARD_TOKEN, nothing else.")
        frame = load_churn(rows)
        train, holdout = _split(frame)
        with _as(url, tokens["alice"]):
            candidates = _train(console, train, holdout)
            versions = [registry_api.register_model(uri, MODEL_NAME, description=f"{name}, team demo").version
                        for name, uri in candidates.items()]
            console.print(f"[bold]3.[/] alice registered {MODEL_NAME} " + ", ".join(f"v{v}" for v in versions)
                          + " through the server.")
            try:
                registry_api.promote_model(MODEL_NAME, candidate=versions[0], data=holdout, target=TARGET)
            except ForbiddenError as exc:
                console.print(f"[bold]4.[/] alice ran the gate for champion and was refused: {escape(exc.message)}")
        with _as(url, tokens["admin"]):
            decisions = [registry_api.promote_model(MODEL_NAME, candidate=version, data=holdout, target=TARGET,
                                                    min_delta=0.002) for version in versions]
            console.print("[bold]5.[/] admin ran the gate on the holdout (the models were downloaded, verified and "
                          "scored here; the decision went to the server): " + "; ".join(
                              _decision_words(decision) for decision in decisions))
            champion = load_model(f"models:/{MODEL_NAME}@champion")
            score = _roc_auc(holdout, champion.predict_proba(holdout.drop(columns=[TARGET])))
            events = registry_api.alias_history(MODEL_NAME)
            console.print(f"[bold]6.[/] Loaded models:/{MODEL_NAME}@champion (v{champion.version}) through the "
                          f"server, cached by hash: holdout ROC AUC {score:.4f}. Audit log: " + "; ".join(
                              f"{event.action} {event.alias} -> v{event.to_version} by {event.actor}"
                              for event in events) + ".")
        serve_through_server(console, 7, url, tokens["admin"], folder, holdout, MODEL_NAME)
    where = f"SHIPYARD_DATABASE_URI={database} SHIPYARD_OBJECTS_URI={objects}"
    console.print(f"[bold]9.[/] Stopped the server ({time.perf_counter() - started:.0f} s in all). Its runs: "
                  f"`{escape(where)} shipyard runs list`; serve it again with `shipyard server --backend-store-uri "
                  f"{escape(database)} --artifacts-destination {escape(str(objects))}`; MLflow clients use "
                  "MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN the same way.")
    return folder


def _train(console: Console, train: Any, holdout: Any) -> dict[str, str]:
    """Two candidates logged to the server: one by hand, one by autologging; name -> runs:/ URI."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from ..models.autolog import autolog

    features, target = train.drop(columns=[TARGET]), train[TARGET]
    with fluent.start_run(EXPERIMENT, "logistic") as run:
        fluent.log_params({"C": 1.0, "max_iter": 1000})
        model = build_pipeline(train, LogisticRegression(C=1.0, max_iter=1000)).fit(features, target)
        fluent.log_metric("holdout_roc_auc", _roc_auc(holdout, model.predict_proba(holdout.drop(columns=[TARGET]))))
        logistic = log_model(model, input_example=features, y_example=target)
    autolog()
    try:
        with fluent.start_run(EXPERIMENT, "boosted") as boosted_run:
            build_pipeline(train, HistGradientBoostingClassifier(max_iter=100, random_state=0)).fit(features, target)
            fluent.flush()  # autolog's record goes out now, so the package exists before it is registered
    finally:
        autolog(disable=True)
    logged = fluent.get_run(boosted_run.id)
    console.print(f"[bold]2.[/] As alice: run {run.id[:8]} (logistic regression, params, holdout ROC AUC "
                  f"{fluent.get_run(run.id).metrics['holdout_roc_auc']:.4f}, log_model) and run {boosted_run.id[:8]} "
                  f"(gradient boosting through shipyard.autolog(): {len(logged.params)} params, "
                  f"{len(logged.metrics)} metrics, the training data's hash, the model) went to the server; "
                  f"{len(train):,} customers to train, {len(holdout):,} held out.")
    return {"logistic": logistic.uri, "boosted": f"runs:/{boosted_run.id}/model"}


def _split(frame: Any) -> tuple[Any, Any]:
    shuffled = frame.sample(frac=1.0, random_state=7).reset_index(drop=True)
    cut = int(len(shuffled) * 0.7)
    return shuffled.iloc[:cut], shuffled.iloc[cut:]


def _roc_auc(holdout: Any, probabilities: Any) -> float:
    """ROC AUC of the positive class's column (an array from scikit-learn, a frame from a loaded model)."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(holdout[TARGET], np.asarray(probabilities)[:, -1]))


def _decision_words(decision: PromotionDecision) -> str:
    verdict = "promoted" if decision.promoted else "held back"
    if decision.test is None:
        return f"v{decision.candidate_version} {verdict} ({decision.reason})"
    return (f"v{decision.candidate_version} {verdict} ({decision.test}, p = {decision.p_value:.3g}, gain interval "
            f"{decision.ci_low:+.4f} to {decision.ci_high:+.4f})")


@contextmanager
def _as(url: str, token: str) -> Iterator[None]:
    """Track to ``url`` with ``token`` inside, as a training script with the two variables set would."""
    saved = {name: os.environ.get(name) for name in (TRACKING_URI_ENV, TOKEN_ENV)}
    os.environ[TOKEN_ENV] = token
    set_tracking_uri(url)
    try:
        yield
    finally:
        set_tracking_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _server(database: str, objects: Path, folder: Path) -> Iterator[str]:
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below, after the process is gone
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "server", "--backend-store-uri", database, "--artifacts-destination",
         str(objects), "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, START_TIMEOUT_S, path="/health", log=folder / "server.log")
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False,
                          timeout=120)
    if done.returncode != 0:
        raise ShipyardError(f"`shipyard {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout


def _token(database: str, name: str, role: str) -> str:
    """A token made as an admin with database access makes one: the last line of `token create`."""
    return _cli("server", "token", "create", "--name", name, "--role", role, "--backend-store-uri",
                database).strip().splitlines()[-1]
