"""What a client logged survives its exit while the team server is away, and arrives once when it is back.

A real client process logs metric points (buffered, sent in batches) into a run it leaves open; the server is
stopped before the client exits (or gets SIGTERM), so the flush and the run's end fail past the retries. They are
kept on disk (``tracking/spool.py``); the server is started again on the same address, and the next client process
sends them first. A copy of the kept file, as a client killed between sending and deleting would leave, is sent too and
changes nothing: every request carries the key it was given when it was cut.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.store.location import location_for
from shipyard.store.store import Store
from shipyard.tracking.metrics import metric_points
from shipyard.tracking.runs import get_run
from tests.integration.server._server import TeamServer
from tests.integration.server.conftest import Team

pytestmark = pytest.mark.slow

POINTS = 3_000

LOG_THEN_WAIT = r'''
import pathlib, sys, time, shipyard
run = shipyard.start_run("spooled", "away")
shipyard.log_param("lr", 0.1)
for step in range(POINTS):
    shipyard.log_metric("loss", 1.0 / (step + 1), step=step)
print(run.id, flush=True)
deadline = time.monotonic() + 120
while not pathlib.Path("go").exists():  # the test stops the server, then lets this process exit
    assert time.monotonic() < deadline
    time.sleep(0.05)
'''.replace("POINTS", str(POINTS))

NEXT_PROCESS = r'''
from shipyard.tracking.remote import tracking_server
tracking_server().flush()  # waits for what earlier processes kept to arrive first
print("sent")
'''


def _client(team: Team, tmp_path: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["writer"],
            "SHIPYARD_CACHE_DIR": str(cache), "SHIPYARD_HTTP_RETRY_S": "1",
            "SHIPYARD_STORE": str(tmp_path / "must-not-exist")}


@pytest.mark.parametrize("leaving", ["exit", "sigterm"])
def test_points_and_run_end_kept_at_exit_arrive_once_from_the_next_process(team: Team, tmp_path: Path,
                                                                           leaving: str) -> None:
    cache = tmp_path / "cache"
    env = {**_client(team, tmp_path, cache), **({"SHIPYARD_HTTP_RETRY_S": "120"} if leaving == "sigterm" else {})}
    client = subprocess.Popen([sys.executable, "-c", LOG_THEN_WAIT], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    assert len(run_id) == 32, client.stderr.read() if client.stderr else ""
    team.server.stop()
    if leaving == "sigterm":  # retries would outlast the signal's grace: the exit keeps what is left in time
        client.send_signal(signal.SIGTERM)
    else:
        (tmp_path / "go").touch()
    _, stderr = client.communicate(timeout=120)
    assert client.returncode == (-signal.SIGTERM if leaving == "sigterm" else 0), stderr
    kept = sorted((cache / "spool").rglob("*.json"))
    assert len(kept) == 1 and "is away" in stderr and str(kept[0]) in stderr
    assert "Traceback" not in stderr

    shutil.copy(kept[0], kept[0].with_name("0-copy-" + kept[0].name))  # as if a sender died before deleting it
    restarted = TeamServer(team.database, team.objects, tmp_path / "restarted", port=team.server.port).start()
    try:
        done = subprocess.run([sys.executable, "-c", NEXT_PROCESS], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=120, check=False)
        assert done.returncode == 0 and done.stdout.strip() == "sent", done.stderr
        assert "refused" not in done.stderr
    finally:
        restarted.stop()
    assert not [path for path in (cache / "spool").rglob("*") if path.is_file()]

    store = Store(location_for(team.database, objects=str(team.objects)))
    try:
        points = metric_points(store, run_id, "loss")
        assert sorted(step for step, _, _ in points) == list(range(POINTS))  # every point, none twice
        run = get_run(store, run_id)
        assert run.status == ("KILLED" if leaving == "sigterm" else "FINISHED") and run.params == {"lr": "0.1"}
    finally:
        store.close()
