"""The demo's canary: a deliberately worse model rolled out to live traffic, judged, and rolled back by itself.

A logistic regression trained on flipped labels is registered as a new version of ``churn`` and rolled out
(``models/rollouts.py``) at 20% of the traffic of a server serving ``models:/churn@champion`` (its own
deployment, ``churn-canary``, so the earlier steps' logs stay as they were). Customers are replayed as
single-row requests, each label sent as feedback right after its answer, while the judge
(``monitoring/rollout_runner.py``) looks every 0.3 seconds. The rollout never advances on its own here (its
step asks for more requests than the demo sends), so what ends it is the judge: disagreement with the
champion on shadow pairs and the loss test once labels join. Then the demo checks that the next requests
all reach the champion again, and stops the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ShipyardError
from ..models import registry
from ..models.package import log_model
from ..models.rollouts import Rollout, abort_rollout, start_rollout
from ..monitoring.rollout_runner import run_rollout
from ..store import Store
from ..tracking.fluent import start_run
from .release import MODEL_NAME, TARGET
from .telco import build_pipeline
from .traffic import free_port, wait_ready

DEPLOYMENT = "churn-canary"
SHARE = 20.0  # percent of requests the canary answers
CLIENTS = 4
RESTORED_REQUESTS = 30  # answers after the rollback that must all come from the champion
ID = "customer_id"


@dataclass(frozen=True)
class Canary:
    version: int
    rollout: Rollout
    requests: int  # requests the server answered during the rollout
    restored: int  # requests answered by the champion right after the rollback, all of them
    seconds: float


def register_worse(store: Store, root: Path) -> int:
    """A model that is wrong on purpose (trained on flipped labels), registered as the next version of churn."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    train = pd.read_parquet(root / "data" / "train.parquet")
    features, flipped = train.drop(columns=[TARGET, ID]), 1 - train[TARGET]
    model = build_pipeline(features.assign(**{TARGET: flipped}), LogisticRegression(max_iter=1000))
    model.fit(features, flipped)
    with start_run(experiment="churn-canary", name="worse-on-purpose"):
        info = log_model(model, input_example=features.head(50))
    return registry.register_model(store, info.uri, MODEL_NAME, description="deliberately worse (trained on "
                                   "flipped labels): the demo's canary, which the judge rolls back").version


def roll_out_and_judge(store: Store, store_root: Path, root: Path) -> Canary:
    """Serve champion, register the worse model while the server starts, roll it out at 20% with live traffic
    and feedback, until the judge rolls it back."""
    import pandas as pd

    config = root / "serving-canary.yaml"
    config.write_text("# Written by `shipyard demo` for its canary step.\nflush_interval_s: 0.2\n"
                      f"deployments:\n  {DEPLOYMENT}:\n    model: \"models:/{MODEL_NAME}@champion\"\n")
    frame = pd.concat([pd.read_parquet(root / "data" / f"{split}.parquet") for split in ("test", "holdout")])
    labels = frame.pop(TARGET).astype(int).tolist()
    rows = frame.drop(columns=[ID]).astype(object).where(frame.drop(columns=[ID]).notna(), None) \
        .to_dict(orient="records")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "--config", str(config), "--port",
                               str(port)], cwd=root, env={**os.environ, "SHIPYARD_STORE": str(store_root)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.perf_counter()
    stop = threading.Event()
    answered: list[tuple[float, str]] = []
    try:
        worse = register_worse(store, root)
        wait_ready(url, server)
        rollout = start_rollout(store, MODEL_NAME, str(worse), steps=(SHARE, 100.0),
                                policy={"min_requests": 1_000_000, "shadow": True})
        with ThreadPoolExecutor(CLIENTS) as pool:
            clients = [pool.submit(_send, url, rows, labels, offset, stop, answered) for offset in range(CLIENTS)]
            rollout = run_rollout(store, rollout.id, interval_s=0.3, timeout_s=120)
            if rollout.running:
                abort_rollout(store, MODEL_NAME, reason="the demo's canary was not judged in time")
                raise ShipyardError(f"The judge had not decided rollout {rollout.id} after 120 s "
                                    f"({rollout.checks} checks); the demo aborted it.")
            finished = time.monotonic()
            restored = _wait_restored(answered, finished, rollout)
            stop.set()
            for client in clients:
                client.result()
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    return Canary(worse, rollout, len(answered), restored, time.perf_counter() - started)


def _send(url: str, rows: list[dict[str, Any]], labels: list[int], offset: int, stop: threading.Event,
          answered: list[tuple[float, str]]) -> None:
    """One client: a request, then its label as feedback, round the rows until told to stop."""
    import httpx

    with httpx.Client(base_url=url, timeout=30) as client:
        index = offset
        while not stop.is_set():
            position = index % len(rows)
            index += CLIENTS
            response = client.post(f"/predict/{DEPLOYMENT}", json={"records": [rows[position]]})
            response.raise_for_status()
            answer = response.json()
            answered.append((time.monotonic(), answer["variant"]))
            client.post(f"/feedback/{DEPLOYMENT}", json={"request_id": answer["request_id"],
                                                         "label": labels[position]}).raise_for_status()


def _wait_restored(answered: list[tuple[float, str]], finished: float, rollout: Rollout) -> int:
    """Wait until the requests sent after the rollback (plus the servers' one-second poll) have been answered,
    and check they all reached the champion: the weights were restored at once."""
    settle = finished + 1.5
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = [variant for moment, variant in list(answered) if moment > settle]
        if len(after) >= RESTORED_REQUESTS:
            if rollout.variant in after:
                raise ShipyardError(f"The canary {rollout.variant} still answered after rollout {rollout.id} ended.")
            return len(after)
        time.sleep(0.05)
    raise ShipyardError("The demo's canary server answered too few requests after the rollback.")
