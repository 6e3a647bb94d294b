"""``shipyard loop run`` and ``loop history`` through a real ``shipyard server``: the loop's lock and cycles, the
register step's search for the stage's latest run, registration and the gate all go through the server.

The stage run is logged to the server by a client with the unchanged public API (as ``repro`` would tag it); the
loop then registers it and gates it, and its history is read back through the server and from the server's own
database. A lock the server already gave to a live process makes a second ``loop run`` refuse, as locally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.loop.history import cycles
from shipyard.models.registry import alias_history
from shipyard.store.location import location_for
from shipyard.store.store import Store
from tests._support import wait_until
from tests.integration.loop._project import make_project
from tests.integration.server.conftest import Team

pytestmark = pytest.mark.slow
API = "/api/shipyard/v1"

LOG_STAGE_RUN = r'''
import pathlib
import numpy as np, pandas as pd, shipyard
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(7)
frame = pd.DataFrame({"x1": rng.normal(size=800), "x2": rng.normal(size=800)})
frame["churn"] = (frame["x1"] + 0.5 * rng.normal(size=800) > 0).astype(int)
pathlib.Path("data").mkdir(exist_ok=True)
frame.iloc[500:].to_parquet("data/holdout.parquet", index=False)
X, y = frame[["x1", "x2"]].iloc[:500], frame["churn"].iloc[:500]
with shipyard.start_run("loopy", "train", tags={"shipyard.stage": "train"}) as run:
    shipyard.log_model(LogisticRegression().fit(X, y), input_example=X, y_example=y)
print(run.id)
'''

TICK = {"schedule": "every 2s",
        "steps": [{"register": {"stage": "train", "artifact": "model", "name": "churn", "alias": "challenger"}}]}
LOOP = {
    "steps": [
        {"register": {"stage": "train", "artifact": "model", "name": "churn", "alias": "challenger"}},
        {"promote": {"name": "churn", "candidate": "challenger", "alias": "staging", "data": "data/holdout.parquet",
                     "target": "churn", "metric": "roc_auc", "min_delta": 0.01}},
    ],
}


def test_a_loop_cycle_registers_and_gates_through_the_server(team: Team, tmp_path: Path) -> None:
    root = make_project(tmp_path / "loopy", {"ship": LOOP, "tick": TICK})
    env = {"SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["writer"],
           "SHIPYARD_STORE": str(tmp_path / "no-local-store"), "SHIPYARD_CACHE_DIR": str(tmp_path / "cache")}
    logged = subprocess.run([sys.executable, "-c", LOG_STAGE_RUN], cwd=root, env={**os.environ, **env}, text=True,
                            capture_output=True, timeout=300, check=False)
    assert logged.returncode == 0, logged.stderr
    run_id = logged.stdout.strip().splitlines()[-1]

    def loop_cli(*args: str, token: str = "writer", check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(Path(sys.executable).with_name("shipyard")), *args], cwd=root, text=True,
                              capture_output=True, timeout=300, check=check,
                              env={**os.environ, **env, "SHIPYARD_TOKEN": team.tokens[token], "COLUMNS": "200"})

    cycle = json.loads(loop_cli("loop", "run", "ship", "--json").stdout)
    assert cycle["status"] == "succeeded" and cycle["cycle"] == 1, cycle
    register, promote = cycle["steps"]
    assert (register["version"], register["run_id"], register["alias"]) == (1, run_id, "challenger")
    assert promote["promoted"] is True and promote["candidate_version"] == 1 and promote["current_version"] is None

    again = json.loads(loop_cli("loop", "run", "ship", "--json").stdout)  # the same run: reused, not registered anew
    assert again["cycle"] == 2 and again["steps"][0]["reused"] is True and again["steps"][0]["version"] == 1

    history = json.loads(loop_cli("loop", "history", "ship", "--json", token="reader").stdout)
    assert [(item["number"], item["status"]) for item in history] == [(2, "succeeded"), (1, "succeeded")]
    assert history[1]["steps"][0]["run_id"] == run_id
    listed = json.loads(loop_cli("loop", "list", "--json", token="reader").stdout)
    assert [(row["loop"], (row["last"] or {}).get("number")) for row in listed] == [("ship", 2), ("tick", None)]

    store = Store(location_for(team.database, objects=str(team.objects)))
    try:
        kept = cycles(store, "ship")
        events = [(event.alias, event.action, event.to_version, event.actor) for event in alias_history(store, "churn")]
    finally:
        store.close()
    assert [cycle.to_dict() for cycle in kept] == history  # the server's database holds what it answered
    assert ("staging", "promoted", 1, "writer-person") in events
    assert ("challenger", "set", 1, "writer-person") in events

    # A second process while the lock is held (by this live test process): refused, nothing run.
    holder = {"token": "held-by-the-test", "host": os.uname().nodename, "pid": os.getpid(), "process_start": None}
    taken = team.server.call("POST", f"{API}/loops/ship/cycles", team.tokens["writer"],
                             json={"trigger": "test", "holder": holder})
    assert taken.status_code == 200 and taken.json()["number"] == 3
    busy = loop_cli("loop", "run", "ship", check=False)
    assert busy.returncode != 0 and "already running" in busy.stderr and "Traceback" not in busy.stderr
    reader = team.server.call("POST", f"{API}/loops/ship/cycles", team.tokens["reader"],
                              json={"trigger": "test", "holder": holder})
    assert reader.status_code == 403 and "writer" in reader.json()["error"]["message"]
    finished = team.server.call("POST", f"{API}/loops/ship/cycles/3/finish", team.tokens["writer"],
                                json={"token": "held-by-the-test", "status": "succeeded"})
    assert finished.status_code == 200, finished.text
    assert json.loads(loop_cli("loop", "run", "ship", "--json").stdout)["cycle"] == 4

    # The scheduler through the server: a due loop runs, its cycle is on the server, SIGTERM stops it cleanly.
    with open(tmp_path / "scheduler.out", "wb") as out:
        scheduler = subprocess.Popen([str(Path(sys.executable).with_name("shipyard")), "scheduler", "--poll", "1"],
                                     cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                     env={**os.environ, **env, "COLUMNS": "200"})
    try:
        wait_until(lambda: any(cycle["status"] == "succeeded" for cycle in team.server.call(
            "GET", f"{API}/loops/tick/cycles", team.tokens["reader"]).json()["cycles"]) or scheduler.poll() is not None,
            timeout=120, what="a scheduled cycle through the server")
    finally:
        if scheduler.poll() is None:
            scheduler.send_signal(signal.SIGTERM)
        code = scheduler.wait(timeout=60)
    output = (tmp_path / "scheduler.out").read_text()
    assert code == 0 and "scheduler stopped" in output and "Traceback" not in output, output
    assert not (tmp_path / "no-local-store").exists()
