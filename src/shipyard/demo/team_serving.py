"""The team demo's serving step: the champion served by a ``shipyard serve`` that knows only the team server.

The serving process gets ``SHIPYARD_TRACKING_URI`` and a token, resolves ``models:/churn@champion`` there, downloads
the package through the verified cache, and writes its prediction log in the demo folder (on a cluster: one log on
S3 for every replica). The holdout goes through it in one request, the labels come back as feedback, and then
``shipyard monitor check`` and ``shipyard lineage`` read it back, through the server as well: the chain from a
logged prediction to its label, the version, its run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..errors import ShipyardError
from ..tracking.remote import TOKEN_ENV, TRACKING_URI_ENV
from .telco import TARGET
from .traffic import free_port, wait_ready

REQUEST_ID = "team-demo-holdout"
START_TIMEOUT_S = 120


def serve_through_server(console: Console, step: int, url: str, token: str, folder: Path, holdout: Any,
                         model_name: str) -> None:
    """Serve the champion through the team server, send the holdout and its labels, read the chain back."""
    import httpx

    log_dir = folder / "predictions"
    config = folder / "serving.yaml"
    config.write_text(f"log_dir: {log_dir.resolve()}\nflush_interval_s: 0.2\n"
                      f"deployments:\n  {model_name}:\n    model: models:/{model_name}@champion\n", encoding="utf-8")
    env = {**os.environ, TRACKING_URI_ENV: url, TOKEN_ENV: token}
    port = free_port()
    started = time.perf_counter()
    with open(folder / "serve.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "shipyard", "serve", "--config", str(config), "--port",
                                    str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        served = f"http://127.0.0.1:{port}"
        try:
            wait_ready(served, process, START_TIMEOUT_S, log=folder / "serve.log")
            inputs = holdout.drop(columns=[TARGET])
            records = json.loads(inputs.to_json(orient="records"))
            answer = httpx.post(f"{served}/predict/{model_name}", json={"records": records, "request_id": REQUEST_ID},
                                timeout=120)
            answer.raise_for_status()
            labels = [{"request_id": REQUEST_ID, "row": row, "label": str(label)}
                      for row, label in enumerate(holdout[TARGET].tolist())]
            feedback = httpx.post(f"{served}/feedback/{model_name}", json=labels, timeout=120)
            feedback.raise_for_status()
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # drained: every answered prediction is in the log
                process.wait(timeout=60)
    predictions = answer.json()["predictions"]
    correct = sum(str(label) == str(prediction) for label, prediction in zip(holdout[TARGET], predictions,
                                                                              strict=True))
    console.print(f"[bold]{step}.[/] `shipyard serve` with only SHIPYARD_TRACKING_URI and a token resolved "
                  f"models:/{model_name}@champion on the server and answered {len(predictions):,} holdout customers "
                  f"in one request ({time.perf_counter() - started:.1f} s with the start); their "
                  f"{feedback.json()['accepted']:,} labels came back as feedback (accuracy "
                  f"{correct / len(predictions):.3f}), logged in {escape(str(log_dir))}.")
    check = _cli(env, "monitor", "check", "-d", model_name, "--log-dir", str(log_dir), "--json")
    chain = json.loads(_cli(env, "lineage", REQUEST_ID, "--log-dir", str(log_dir), "--json"))
    first = chain["prediction"][0]
    model = chain["models"][first["model_uri"]]
    console.print(f"[bold]{step + 1}.[/] Through the server: `shipyard monitor check` on that traffic said "
                  f"{json.loads(check)['verdict']} ({json.loads(check)['current']['requests']} request, "
                  f"{json.loads(check)['current']['labelled_rows']:,} labelled rows); `shipyard lineage "
                  f"{REQUEST_ID}` traced row 0 (predicted {escape(str(first['prediction']))}, label "
                  f"{escape(str(chain['feedback'][0]['label']))}) to {first['model_uri']}, run "
                  f"{model['run']['run_id'][:8]} ({escape(str(model['run']['name']))}) by "
                  f"{escape(str(model['model_version']['created_by']))}.")


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True, check=False,
                          timeout=180, env={**env, "COLUMNS": "200"})
    if done.returncode not in (0, 3):  # 3: the check found something out of line, which is an answer
        raise ShipyardError(f"`shipyard {' '.join(args)}` failed: {(done.stderr or done.stdout).strip()[-400:]}")
    return done.stdout
