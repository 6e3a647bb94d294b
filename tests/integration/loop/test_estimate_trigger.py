"""A cycle started by the estimated accuracy of logged traffic falling, before a single label has arrived.

A first, manual cycle trains the champion and promotes it through the gate, which keeps its holdout scores as
the version's labelled reference. Live answers are then written through the serving log's own writer: for
``churn``, customers whose inputs sit on the model's decision boundary (every score near 0.4: the model is right
about 60% of the time there, against about 78% on the holdout); for ``quiet``, customers like the training ones.
``shipyard scheduler`` must start one cycle for the loop whose trigger is the estimate of ``churn`` and none for
the loop watching ``quiet``.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard
from shipyard.loop.scheduler import trigger_reason
from shipyard.loop.spec import get_loop
from shipyard.models.labelled_reference import read_reference
from shipyard.monitoring.monitor import monitor
from shipyard.pipeline.spec import load_pipeline
from tests._support import wait_until
from tests.integration.loop._project import RETRAIN, cycles, make_project
from tests.integration.pipeline._pipelines import invoke, plain

pytestmark = pytest.mark.slow

ESTIMATE = {"triggers": [{"monitor": {"deployment": "churn", "check": "estimated_quality", "metric": "accuracy",
                                      "below": 0.7, "window": "1h"}}],
            "cooldown": "1h", "steps": RETRAIN["steps"]}
QUIET = {"triggers": [{"monitor": {"deployment": "quiet", "check": "estimated_quality", "metric": "accuracy",
                                   "below": 0.7}}],
         "steps": [{"repro": ["prepare"]}]}
KINDS = {"x1": "float", "x2": "float", "x3": "float", "plan": "string"}


def log_traffic(deployment: str, *, rows: int, boundary: bool, seed: int) -> None:
    """``rows`` live answers of ``models:/churn/1`` over the last 40 minutes; ``boundary`` puts every input near
    the model's decision boundary (the world of ``_project.py``: logit = 1.6 x1 + 1.2 x2 - 0.4 x3 + ...)."""
    from shipyard.predlog.layout import serving_root
    from shipyard.predlog.schema import PredictionEntry, predictions_table
    from shipyard.predlog.writer import PartitionedLog

    rng = np.random.default_rng(seed)
    spread = 0.15 if boundary else 1.0
    frame = pd.DataFrame({"x1": rng.normal(0.0, spread, rows), "x2": rng.normal(0.0, spread, rows),
                          "x3": rng.normal(0.0, spread, rows),
                          "plan": ["plus"] * rows if boundary else rng.choice(["basic", "plus", "pro"], rows,
                                                                              p=[0.5, 0.3, 0.2])})
    model = shipyard.load_model("models:/churn/1")
    probabilities = np.asarray(model.predict_proba(frame), dtype="float64").tolist()
    labels = [str(label) for label in np.asarray(model.predict(frame))]
    now_ms = int(time.time() * 1000)
    log = PartitionedLog(serving_root() / "predictions", predictions_table, name="test-predictions")
    for index, low in enumerate(range(0, rows, 10)):
        stamp = now_ms - 2_400_000 + index * 30_000
        part = frame.iloc[low:low + 10]
        log.append(deployment, stamp, PredictionEntry(
            request_id=f"{deployment}-{uuid.uuid4().hex[:12]}", timestamp_ms=stamp, deployment=deployment,
            variant="champion", shadow=False, model_name="churn", model_version=1, model_uri="models:/churn/1",
            runtime="python", latency_ms=4.0, sticky_key=None, inputs={name: part[name].tolist() for name in KINDS},
            kinds=KINDS, labels=labels[low:low + 10], probabilities=probabilities[low:low + 10]))
    log.close()


def test_a_falling_estimate_starts_a_cycle_before_any_label(tmp_path: Path, launcher: Any, meta_db: Path,
                                                            monkeypatch: Any) -> None:
    root = make_project(tmp_path / "loopy", {"estimate": ESTIMATE, "quiet": QUIET})
    monkeypatch.chdir(root)
    first = invoke("loop", "run", "estimate")  # trains the champion and promotes it through the gate
    assert first.exit_code == 0, first.output
    store = shipyard.current_store()
    reference = read_reference(store, "churn", 1)
    assert reference is not None and reference.source.startswith("promotion gate")
    loop, quiet = (get_loop(load_pipeline(root), name) for name in ("estimate", "quiet"))
    assert trigger_reason(store, loop) is None  # no traffic yet

    log_traffic("churn", rows=600, boundary=True, seed=21)
    log_traffic("quiet", rows=600, boundary=False, seed=22)
    found = {}
    for deployment in ("churn", "quiet"):
        accuracy = next(item for item in monitor(deployment, since="1h", store=store).results
                        if item.check == "estimated_quality" and item.statistic == "accuracy")
        found[deployment] = accuracy
        print(f"{deployment}: estimated accuracy {accuracy.value:.4f} (90% {accuracy.extra['low']:.4f} to "
              f"{accuracy.extra['high']:.4f}), holdout {accuracy.extra['reference']:.4f}, status {accuracy.status}")
    assert found["churn"].extra["high"] < 0.7 < found["quiet"].extra["high"]
    assert trigger_reason(store, quiet) is None
    assert trigger_reason(store, loop) == "monitor: churn: estimated accuracy below 0.7"
    shipyard.set_store(None)  # the scheduler process writes the store from here on

    scheduler = launcher.start("scheduler", "--poll", "1", cwd=root)
    wait_until(lambda: [c for c in cycles(meta_db, "estimate") if c[1].startswith("monitor:") and c[2] != "running"]
               or scheduler.proc.poll() is not None, timeout=90, what="an estimate-triggered cycle to finish")
    assert scheduler.proc.poll() is None, scheduler.output
    assert scheduler.stop(signal.SIGTERM, timeout=30) == 0, scheduler.output
    assert "Traceback" not in plain(scheduler.output)
    assert cycles(meta_db, "estimate") == [(1, "manual", "succeeded"),
                                           (2, "monitor: churn: estimated accuracy below 0.7", "succeeded")]
    assert cycles(meta_db, "quiet") == []  # its traffic is estimated as accurate as the holdout: no cycle
