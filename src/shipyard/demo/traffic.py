"""The demo's serving half: champion and challenger behind ``shipyard serve``, real traffic, late labels.

The server runs as a user would start it (``shipyard serve --config serving.yaml`` in its own process):
champion 80% and challenger 20% of live traffic, the challenger also shadowing every request so its answers
on all traffic are logged. The test split is replayed as single-row requests from a few concurrent
clients, sticky by customer so a customer keeps one model; then a second batch with drift injected
(charges shifted up, a contract type never seen in training, missing charges) arrives in small batches;
labels come back as feedback for part of the first batch. SIGTERM stops the server, which drains and
flushes its prediction log, and the log is read back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ShipyardError

DEPLOYMENT = "churn"
FEEDBACK_SHARE = 0.6  # share of first-batch requests whose label "arrives" during the demo
CLIENTS = 8


@dataclass
class Traffic:
    url: str
    live_requests: int
    drift_rows: int
    feedback_sent: int
    seconds: float
    logged: Any  # the prediction log of the deployment (DataFrame)
    request_id: str  # one request with feedback, for the lineage line
    began: Any  # when the server started (datetime): the monitoring window starts here
    drifted: Any  # the drifted rows with their true labels: the "new data" the loop retrains on


def write_config(root: Path, has_challenger: bool) -> Path:
    """``serving.yaml`` for the demo: 80/20 champion/challenger, challenger shadowing, sticky by customer."""
    variants = '      - {name: champion, model: "models:/churn@champion", weight: 80}\n'
    shadow = ""
    if has_challenger:
        variants += '      - {name: challenger, model: "models:/churn@challenger", weight: 20}\n'
        shadow = '    shadow: [{name: challenger-shadow, model: "models:/churn@challenger"}]\n'
    path = root / "serving.yaml"
    path.write_text("# Written by `shipyard demo`: serve it with `shipyard serve --config serving.yaml`.\n"
                    "deployments:\n  churn:\n    variants:\n" + variants + shadow
                    + "    sticky_key: customer_id\n    batching: {max_batch_size: 64, max_wait_ms: 2}\n")
    return path


def serve_and_replay(store_root: Path, root: Path, config: Path, target: str) -> Traffic:
    """Start the server, send the test split and a drifted batch, send feedback, stop it, read the log."""
    from datetime import UTC, datetime

    import pandas as pd

    from ..predlog.readers import prediction_log

    began = datetime.now(UTC)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SHIPYARD_STORE": str(store_root)}
    server = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "--config", str(config), "--port",
                               str(port)], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started = time.perf_counter()
    try:
        wait_ready(url, server)
        test = pd.read_parquet(root / "data" / "test.parquet")
        labels = test.pop(target).tolist()
        answers = _replay(url, test)  # customer_id rides along: the sticky key, not a model input
        holdout = pd.read_parquet(root / "data" / "holdout.parquet")
        drifted = _drift(holdout.drop(columns=[target]))
        _send_batches(url, drifted, size=50)
        sent = _feedback(url, answers, labels)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, errors = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    if server.returncode != 0:
        raise ShipyardError(f"The demo server exited with {server.returncode}: {errors.decode()[-500:]}")
    seconds = time.perf_counter() - started
    logged = prediction_log(DEPLOYMENT, since=began, with_feedback=True)
    with_label = logged[logged["label"].notna() & ~logged["shadow"]]
    request_id = str(with_label["request_id"].iloc[-1]) if len(with_label) else str(answers[0]["request_id"])
    labelled = drifted.assign(**{target: holdout[target].to_numpy()})
    return Traffic(url, len(answers), len(drifted), sent, seconds, logged, request_id, began, labelled)


def _replay(url: str, frame: Any) -> list[dict[str, Any]]:
    """Each customer as its own request, from a few concurrent clients (the way live traffic arrives)."""
    import httpx

    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    with httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(CLIENTS) as pool:
        def send(record: dict[str, Any]) -> dict[str, Any]:
            response = client.post(f"/predict/{DEPLOYMENT}", json={"records": [record]})
            response.raise_for_status()
            answer: dict[str, Any] = response.json()
            return answer

        return list(pool.map(send, records))


def _drift(frame: Any) -> Any:
    """What production does to data: higher charges, a new contract type, missing charges; the rows are new
    customers (ids N00001, ...), who will fall into train, test or holdout by their own ids' hashes."""
    drifted = frame.copy()
    drifted["monthly_charges"] = drifted["monthly_charges"] * 1.35 + 10
    drifted["total_charges"] = drifted["total_charges"] * 1.35
    every_fourth = drifted.index[::4]
    drifted.loc[every_fourth, "contract"] = "Four year"
    drifted["total_charges"] = drifted["total_charges"].astype(object)
    drifted.loc[drifted.index[1::3], "total_charges"] = None
    drifted["customer_id"] = [f"N{number:05d}" for number in range(1, len(drifted) + 1)]
    return drifted


def _send_batches(url: str, frame: Any, *, size: int) -> None:
    import httpx

    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(records), size):
            client.post(f"/predict/{DEPLOYMENT}", json={"records": records[start:start + size]}).raise_for_status()


def _feedback(url: str, answers: list[dict[str, Any]], labels: list[Any]) -> int:
    import httpx

    count = int(len(answers) * FEEDBACK_SHARE)
    items = [{"request_id": answer["request_id"], "label": int(label)}
             for answer, label in zip(answers[:count], labels[:count], strict=True)]
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(items), 500):
            client.post(f"/feedback/{DEPLOYMENT}", json=items[start:start + 500]).raise_for_status()
    return len(items)


def wait_ready(url: str, server: subprocess.Popen[bytes], deadline_s: float = 120, *, path: str = "/health/ready",
               log: Path | None = None) -> None:
    """Poll the server's readiness (``path``) with a deadline; its stderr (when piped) or its ``log`` file explains
    an early exit."""
    import httpx

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            errors = server.stderr.read().decode() if server.stderr else f"see {log}" if log else ""
            raise ShipyardError(f"The demo server did not start: {errors.strip()[-500:]}")
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ShipyardError(f"The demo server at {url} was not ready after {deadline_s:.0f} s.")


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a demo server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
