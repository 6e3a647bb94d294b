"""A cycle started by a real monitoring alert on logged traffic, then held off by the loop's cooldown.

The champion (v1) is trained by a first, manual cycle. Its live traffic is written through the serving log's
own writer (``PartitionedLog`` with ``predictions_table``) with ``x1`` shifted by 2.5 standard deviations,
the model's real answers included. ``shipyard scheduler`` (no schedule, triggers only) must see the drift
alert and run one cycle whose trigger names it; the cooldown keeps a second one from starting while the
drift is still there; unshifted traffic of another deployment starts nothing, until the project's
``monitoring.yaml`` makes its thresholds strict enough to call that traffic drifted too.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import shipyard
from shipyard.loop.scheduler import trigger_reason
from shipyard.loop.spec import get_loop
from shipyard.monitoring.config import load_thresholds
from shipyard.pipeline.spec import load_pipeline
from tests._support import wait_until
from tests.integration.loop._project import RETRAIN, calls, cycles, make_project, set_params
from tests.integration.pipeline._pipelines import invoke, plain

WATCH = {
    "triggers": [{"monitor": {"deployment": "churn", "check": "drift", "level": "alert", "window": "1h"}}],
    "cooldown": "1h",
    "steps": RETRAIN["steps"],
}
QUIET = {"triggers": [{"monitor": {"deployment": "quiet", "check": "drift", "level": "alert"}}],
         "steps": [{"repro": ["prepare"]}]}
KINDS = {"x1": "float", "x2": "float", "x3": "float", "plan": "string"}
# Thresholds so strict that even unshifted traffic alerts: what the scheduler must read from the project.
STRICT = "thresholds:\n  drift: {p_value: 10.0, psi_warn: 0.0, psi_alert: 0.0}\n"


def log_traffic(deployment: str, *, rows: int, shift: float, seed: int) -> None:
    """``rows`` live answers of ``models:/churn/1`` over the last 40 minutes, ``x1`` shifted by ``shift``."""
    from shipyard.predlog.layout import serving_root
    from shipyard.predlog.schema import PredictionEntry, predictions_table
    from shipyard.predlog.writer import PartitionedLog

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(shift, 1.0, rows), "x2": rng.normal(0.0, 1.0, rows),
                          "x3": rng.normal(0.0, 1.0, rows),
                          "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2])})
    model = shipyard.load_model("models:/churn/1")
    probabilities = np.asarray(model.predict_proba(frame), dtype="float64").tolist()
    labels = [str(label) for label in np.asarray(model.predict(frame))]
    now_ms = int(time.time() * 1000)
    log = PartitionedLog(serving_root() / "predictions", predictions_table, name="test-predictions")
    for index, low in enumerate(range(0, rows, 10)):
        part = frame.iloc[low:low + 10]
        log.append(deployment, now_ms - 2_400_000 + index * 30_000, PredictionEntry(
            request_id=f"{deployment}-{uuid.uuid4().hex[:12]}", timestamp_ms=now_ms - 2_400_000 + index * 30_000,
            deployment=deployment, variant="champion", shadow=False, model_name="churn", model_version=1,
            model_uri="models:/churn/1", runtime="python", latency_ms=4.0, sticky_key=None,
            inputs={name: part[name].tolist() for name in KINDS}, kinds=KINDS, labels=labels[low:low + 10],
            probabilities=probabilities[low:low + 10]))
    log.close()


def test_a_drift_alert_starts_one_cycle_the_cooldown_holds_off_the_next_and_monitoring_yaml_applies(
        tmp_path: Path, launcher: Any, meta_db: Path, monkeypatch: Any) -> None:
    root = make_project(tmp_path / "loopy", {"watch": WATCH, "quiet": QUIET})
    monkeypatch.chdir(root)
    first = invoke("loop", "run", "watch")  # trains and promotes the champion that will serve traffic
    assert first.exit_code == 0, first.output
    loop = get_loop(load_pipeline(root), "watch")
    store = shipyard.current_store()
    assert trigger_reason(store, loop) is None  # no traffic yet: nothing to react to

    log_traffic("churn", rows=600, shift=2.5, seed=11)
    log_traffic("quiet", rows=600, shift=0.0, seed=12)  # the same model on unshifted traffic: the control
    quiet = get_loop(load_pipeline(root), "quiet")
    assert trigger_reason(store, quiet) is None
    assert trigger_reason(store, loop) == "monitor: churn: drift alert"
    shipyard.set_store(None)  # the scheduler process writes the store from here on

    set_params(root, "prepare", shift=2.5)  # the fresh data the drift came from: the cycle retrains on it
    scheduler = launcher.start("scheduler", "--poll", "1", cwd=root)
    wait_until(lambda: [c for c in cycles(meta_db, "watch") if c[1].startswith("monitor:") and c[2] != "running"]
             or scheduler.proc.poll() is not None, timeout=90, what="a monitor-triggered cycle to finish")
    assert scheduler.proc.poll() is None, scheduler.output
    finished = time.monotonic()
    # Three more polls (one a second) while the drift is still logged: the cooldown must hold them all off.
    while time.monotonic() - finished < 3.5:
        assert len(cycles(meta_db, "watch")) == 2, cycles(meta_db, "watch")
        assert cycles(meta_db, "quiet") == []  # no drift there: no cycle
        time.sleep(0.2)
    assert scheduler.stop(signal.SIGTERM, timeout=30) == 0, scheduler.output
    assert "Traceback" not in plain(scheduler.output) and "could not" not in plain(scheduler.output)

    assert cycles(meta_db, "watch") == [(1, "manual", "succeeded"), (2, "monitor: churn: drift alert", "succeeded")]
    assert calls(root) == ["prepare", "train", "prepare", "train"]  # the triggered cycle retrained on new data
    history = json.loads(invoke("loop", "history", "watch", "--json").stdout)
    steps = {step["step"]: step for step in history[0]["steps"]}
    assert [stage["status"] for stage in steps[1]["stages"]] == ["ran", "ran"]
    assert (steps[2]["version"], steps[3]["candidate_version"], steps[3]["current_version"]) == (2, 2, 1)
    (decision,) = [event for event in shipyard.alias_history("churn")
                   if event.alias == "champion" and event.to_version == 2]
    assert decision.action == ("promoted" if steps[3]["promoted"] else "held_back")
    assert decision.details is not None
    assert (decision.details["candidate_score"], decision.details["current_score"]) == (
        steps[3]["candidate_score"], steps[3]["current_score"])

    store = shipyard.current_store()
    assert trigger_reason(store, loop) is None  # still drifted, but inside the cooldown
    assert trigger_reason(store, dataclasses.replace(loop, cooldown_s=0)) == "monitor: churn: drift alert"


    (root / "monitoring.yaml").write_text(STRICT)  # the project's thresholds now call the quiet traffic drifted
    strict_thresholds = load_thresholds(root / "monitoring.yaml")
    assert trigger_reason(store, quiet, thresholds=strict_thresholds) == "monitor: quiet: drift alert"
    shipyard.set_store(None)
    strict = launcher.start("scheduler", "--poll", "1", cwd=root)
    wait_until(lambda: cycles(meta_db, "quiet") or strict.proc.poll() is not None, timeout=60,
             what="a cycle of the quiet loop under the project's monitoring.yaml")
    assert strict.stop(signal.SIGTERM, timeout=30) == 0, strict.output
    assert cycles(meta_db, "quiet")[0][1] == "monitor: quiet: drift alert"
    assert len(cycles(meta_db, "watch")) == 2  # still inside its cooldown
