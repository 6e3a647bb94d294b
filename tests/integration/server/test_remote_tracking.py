"""Shipyard's own client against a real ``shipyard server``: ``SHIPYARD_TRACKING_URI`` + ``SHIPYARD_TOKEN``.

Client programs are real subprocesses using the unchanged fluent API; the server is a real subprocess over
SQLite. What the server stored is read back from its database with Shipyard's own readers and the CLI, point by
point.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shipyard.server.cache import TOKEN_TTL_S
from shipyard.store.location import location_for
from shipyard.store.store import Store
from shipyard.tracking.metrics import metric_points
from shipyard.tracking.runs import get_run
from tests._support import wait_until
from tests.integration.server._server import TeamServer, shipyard
from tests.integration.server.conftest import Team

SEARCH_EXPERIMENTS = "/api/2.0/mlflow/experiments/search"

API = "/api/shipyard/v1"
pytestmark = pytest.mark.slow

JOURNEY = r'''
import json, math, pathlib, shipyard
pathlib.Path("outputs").mkdir()
pathlib.Path("outputs/a.txt").write_text("alpha")
pathlib.Path("outputs/sub").mkdir()
pathlib.Path("outputs/sub/b.bin").write_bytes(bytes(range(256)) * 4000)
with shipyard.start_run("remote-exp", "parent", tags={"team": "blue"}) as parent:
    shipyard.log_params({"C": 1.5, "penalty": "l2"})
    shipyard.log_param("seed", 7)
    for step in range(3000):
        shipyard.log_metric("loss", 1 / (step + 1), step=step)
    shipyard.log_metric("odd", float("nan"))
    shipyard.log_metric("odd", float("inf"))
    shipyard.log_metrics({"acc": 0.5, "auc": 0.75}, step=10)
    shipyard.set_tag("stage", "dev")
    shipyard.set_tags({"owner": "me", "note": "x"})
    paths = shipyard.log_artifact("outputs", "out")
    shipyard.log_dict({"ok": True}, "report.json")
    with shipyard.start_run(name="child") as child:
        for step in range(500):
            shipyard.log_metric("child_loss", step * 0.5, step=step)
    seen = shipyard.get_run(parent.id)
    history = shipyard.metric_history(parent.id, "loss")
print(json.dumps({"parent": parent.id, "child": child.id, "paths": paths, "params": seen.params,
                  "history": len(history), "last": float(history["value"].iloc[-1])}))
'''


def _client(team: Team, tmp_path: Path, code: str, token: str, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": token,
           "SHIPYARD_STORE": str(tmp_path / "must-not-exist")}
    return subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def _run_client(team: Team, tmp_path: Path, code: str, token: str) -> tuple[int, str, str]:
    proc = _client(team, tmp_path, code, token)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _server_store(team: Team) -> Store:
    return Store(location_for(team.database, objects=str(team.objects)))


def test_the_fluent_api_logs_through_the_server_unchanged(team: Team, tmp_path: Path) -> None:
    code, out, err = _run_client(team, tmp_path, JOURNEY, team.tokens["writer"])
    assert code == 0, err
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["paths"] == ["out/a.txt", "out/sub/b.bin"]
    assert answer["params"] == {"C": "1.5", "penalty": "l2", "seed": "7"}
    assert answer["history"] == 3000 and answer["last"] == 1 / 3000
    assert not (tmp_path / "must-not-exist").exists()  # nothing went to a local store
    store = _server_store(team)
    try:
        parent = get_run(store, answer["parent"])
        child = get_run(store, answer["child"])
        loss = metric_points(store, parent.id, "loss")
        odd = metric_points(store, parent.id, "odd")
        child_loss = metric_points(store, child.id, "child_loss")
        report = store.objects.get_bytes(next(a["hash"] for a in parent.artifacts if a["path"] == "report.json"))
        blob = store.objects.get_bytes(next(a["hash"] for a in parent.artifacts if a["path"] == "out/sub/b.bin"))
    finally:
        store.close()
    assert parent.status == "FINISHED" and child.status == "FINISHED" and child.parent_id == parent.id
    assert parent.experiment == "remote-exp" and parent.lineage["process"]["user"] == "writer-person"
    assert parent.tags["team"] == "blue" and parent.tags["owner"] == "me" and parent.tags["stage"] == "dev"
    assert [(step, value) for step, value, _ in loss] == [(step, 1 / (step + 1)) for step in range(3000)]
    assert [step for step, _, _ in odd] == [0, 1] and odd[0][1] != odd[0][1] and odd[1][1] == float("inf")
    assert parent.metrics["acc"] == 0.5 and parent.metrics["auc"] == 0.75
    assert [(step, value) for step, value, _ in child_loss] == [(step, step * 0.5) for step in range(500)]
    assert json.loads(report) == {"ok": True} and blob == bytes(range(256)) * 4000
    listed = shipyard("runs", "list", "--json", env={"SHIPYARD_DATABASE_URI": team.database,
                                                      "SHIPYARD_OBJECTS_URI": str(team.objects)})
    names = {run["name"] for run in json.loads(listed.stdout)}
    assert {"parent", "child"} <= names, listed.stdout


SIGTERM_CLIENT = r'''
import threading, shipyard
from shipyard.tracking import remote_metrics
remote_metrics.FLUSH_INTERVAL_S = 3600  # nothing leaves on the timer: only SIGTERM's flush can send these points
run = shipyard.start_run("term", "interrupted")
for step in range(15000):
    shipyard.log_metric("loss", step * 0.25, step=step)
print(run.id, flush=True)
threading.Event().wait()  # waits here, points buffered, until the test sends SIGTERM
'''


def test_sigterm_of_a_client_mid_run_sends_every_buffered_point_and_ends_the_run_killed(
        team: Team, tmp_path: Path) -> None:
    proc = _client(team, tmp_path, SIGTERM_CLIENT, team.tokens["writer"])
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    assert len(run_id) == 32, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, err
    store = _server_store(team)
    try:
        run = get_run(store, run_id)
        points = metric_points(store, run_id, "loss")
    finally:
        store.close()
    assert run.status == "KILLED" and "SIGTERM" in (run.error or "")
    assert [(step, value) for step, value, _ in points] == [(step, step * 0.25) for step in range(15000)]


LOAD_CLIENT = r'''
import os, sys, time, shipyard
from shipyard.tracking.remote import tracking_server
points = int(sys.argv[1])
with shipyard.start_run("load", f"client-{os.getpid()}") as run:
    print(run.id, flush=True)
    for step in range(points):
        shipyard.log_metric("m", float(step), step=step)
        if step % 500 == 499:
            time.sleep(0.05)  # pacing: the load spans the server's restart
print("retries", tracking_server().client.retries, flush=True)
'''


def test_a_server_killed_and_restarted_under_load_loses_and_duplicates_nothing(team: Team, tmp_path: Path) -> None:
    clients, points = 3, 12_000
    env = {**os.environ, "SHIPYARD_TRACKING_URI": team.server.url, "SHIPYARD_TOKEN": team.tokens["writer"],
           "SHIPYARD_STORE": str(tmp_path / "must-not-exist")}
    procs = [subprocess.Popen([sys.executable, "-c", LOAD_CLIENT, str(points)], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(clients)]
    run_ids = [proc.stdout.readline().strip() for proc in procs if proc.stdout is not None]
    assert all(len(run_id) == 32 for run_id in run_ids)
    database = team.database.removeprefix("sqlite:///")
    _wait_for_points(database, run_ids, at_least=2000)
    assert team.server.proc is not None
    os.killpg(team.server.proc.pid, signal.SIGKILL)  # mid-load: answers lost after commits, requests cut off
    team.server.proc.wait(timeout=30)
    restarted = TeamServer(team.database, team.objects, tmp_path / "restarted", port=team.server.port).start()
    try:
        outcomes = [proc.communicate(timeout=300) for proc in procs]
    finally:
        restarted.stop()
    for proc, (_, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
    retries = [int(out.strip().splitlines()[-1].split()[1]) for out, _ in outcomes]
    assert sum(retries) > 0, "no client met the restart: the test did not test it"
    import sqlite3

    with sqlite3.connect(database) as conn:
        for run_id in run_ids:
            rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT step), MIN(step), MAX(step), SUM(value) FROM metrics "
                                "WHERE run_id = ? AND key = 'm'", (run_id,)).fetchone()
            assert rows == (points, points, 0, points - 1, sum(range(points))), (run_id, rows)
            status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            assert status == "FINISHED"


def _wait_for_points(database: str, run_ids: list[str], *, at_least: int) -> None:
    import sqlite3

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with sqlite3.connect(database, timeout=10) as conn:
            marks = ",".join("?" * len(run_ids))
            count = conn.execute(f"SELECT COUNT(*) FROM metrics WHERE run_id IN ({marks})", run_ids).fetchone()[0]
        if count >= at_least:
            return
        time.sleep(0.05)  # polling interval, bounded by the deadline
    raise AssertionError(f"the clients did not log {at_least} points within 120 s")


def _create_run(team: Team, token: str) -> str:
    run_id = os.urandom(16).hex()
    created = team.server.call("POST", f"{API}/runs", token, json={"run_id": run_id, "experiment": "keys",
                                                                   "name": "keyed"})
    assert created.status_code == 200, created.text
    return run_id


def test_a_retry_with_the_same_idempotency_key_gets_the_first_answer_and_writes_nothing(team: Team) -> None:
    token = team.tokens["writer"]
    run_id = _create_run(team, token)
    batch = {"points": [[run_id, "m", step, step * 2.0, 1000 + step] for step in range(50)]}
    headers = {"Idempotency-Key": "batch-0001-retry"}
    first = team.server.call("POST", f"{API}/metrics", token, json=batch, headers=headers)
    again = team.server.call("POST", f"{API}/metrics", token, json=batch, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == {"points": 50}
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    other = team.server.call("POST", f"{API}/metrics", token, json={"points": batch["points"][:1]}, headers=headers)
    assert other.status_code == 409 and "another request" in other.json()["error"]["message"]
    create_body = {"run_id": os.urandom(16).hex(), "experiment": "keys", "name": "twice"}
    made = [team.server.call("POST", f"{API}/runs", token, json=create_body, headers={"Idempotency-Key": "create-01"})
            for _ in range(2)]
    assert [item.status_code for item in made] == [200, 200] and made[0].json() == made[1].json()
    params = [team.server.call("POST", f"{API}/runs/{run_id}/params", token, json={"params": {"a": "1"}},
                               headers={"Idempotency-Key": "params-01"}) for _ in range(2)]
    assert [item.status_code for item in params] == [200, 200]
    history = team.server.call("GET", f"{API}/runs/{run_id}/metrics/m", token).json()["points"]
    assert [point[:2] for point in history] == [[step, step * 2.0] for step in range(50)]
    runs = team.server.call("GET", f"{API}/runs/{create_body['run_id']}", token)
    assert runs.status_code == 200 and runs.json()["run"]["name"] == "twice"


def test_no_token_is_401_a_reader_writing_is_403_and_bad_input_is_4xx_naming_the_field(
        team: Team, tmp_path: Path) -> None:
    body = {"run_id": os.urandom(16).hex(), "experiment": "auth", "name": "x"}
    missing = team.server.call("POST", f"{API}/runs", None, json=body)
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "UnauthorizedError"
    reader = team.server.call("POST", f"{API}/runs", team.tokens["reader"], json=body)
    assert reader.status_code == 403 and "writer role" in reader.json()["error"]["message"]
    writer = team.tokens["writer"]
    run_id = _create_run(team, writer)
    bad_points = {"points": [[run_id, "m", "one", 1.0, 5]]}
    refused = team.server.call("POST", f"{API}/metrics", writer, json=bad_points)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "points.step"
    unknown_run = team.server.call("POST", f"{API}/metrics", writer, json={"points": [["f" * 32, "m", 1, 1.0, 5]]})
    assert unknown_run.status_code == 404
    not_json = team.server.call("POST", f"{API}/runs", writer, content=b"{nope", headers={"content-type": "text/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["field"] == "body"
    no_name = team.server.call("POST", f"{API}/runs", writer, json={"run_id": os.urandom(16).hex(), "experiment": "a"})
    assert no_name.status_code == 422 and no_name.json()["error"]["field"] == "name"
    damaged = team.server.call("PUT", f"{API}/runs/{run_id}/artifacts/a.txt", writer, content=b"abc",
                               headers={"X-Shipyard-Content-Hash": "0" * 64})
    assert damaged.status_code == 422 and damaged.json()["error"]["field"] == "X-Shipyard-Content-Hash"
    assert httpx.get(f"{team.server.url}{API}/nothing", headers={"Authorization": f"Bearer {writer}"},
                     timeout=10).status_code == 404
    # the client raises Shipyard's own errors, with the server's message
    code, out, err = _run_client(team, tmp_path, "import shipyard\ntry:\n    shipyard.start_run('a')\n"
                                 "except shipyard.ShipyardError as exc:\n    print(type(exc).__name__, exc)\n",
                                 team.tokens["reader"])
    assert code == 0 and out.startswith("ForbiddenError") and "writer role" in out, (out, err)


PG_CLIENT = r'''
import os, sys, shipyard
with shipyard.start_run("pg-remote", f"client-{os.getpid()}") as run:
    shipyard.log_params({"client": os.getpid()})
    for step in range(int(sys.argv[1])):
        shipyard.log_metric("m", step / 7, step=step)
print(run.id)
'''


@pytest.mark.postgres
def test_on_postgresql_with_two_workers_clients_at_once_and_one_key_sent_at_once_write_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests._servers.postgres import create_database, postgres_server, unavailable_reason
    from tests.integration.server._server import create_token

    if unavailable_reason() is not None:
        pytest.skip(unavailable_reason() or "")
    with postgres_server() as server_url:
        database = create_database(server_url, "remote_client")
        shipyard("server", "db", "upgrade", "--backend-store-uri", database)
        token = create_token(database, "pg-writer", "writer")
        server = TeamServer(database, tmp_path / "objects", tmp_path / "server", extra=("--workers", "2")).start()
        try:
            env = {**os.environ, "SHIPYARD_TRACKING_URI": server.url, "SHIPYARD_TOKEN": token,
                   "SHIPYARD_STORE": str(tmp_path / "must-not-exist")}
            procs = [subprocess.Popen([sys.executable, "-c", PG_CLIENT, "5000"], cwd=tmp_path, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
            outcomes = [proc.communicate(timeout=300) for proc in procs]
            assert all(proc.returncode == 0 for proc in procs), [err for _, err in outcomes]
            run_ids = [out.strip() for out, _ in outcomes]
            run_id = run_ids[0]
            batch = {"points": [[run_id, "same", step, 1.0, 7] for step in range(2000)]}

            def send(_: int) -> tuple[int, dict[str, object]]:
                answer = server.call("POST", f"{API}/metrics", token, json=batch,
                                     headers={"Idempotency-Key": "concurrent-0001"})
                return answer.status_code, answer.json()

            with ThreadPoolExecutor(6) as pool:
                answers = list(pool.map(send, range(6)))
        finally:
            server.stop()
        import psycopg

        with psycopg.connect(database.replace("postgresql+psycopg", "postgresql")) as conn:
            counted = conn.execute("SELECT run_id, COUNT(*), COUNT(DISTINCT step) FROM metrics WHERE key = 'm' "
                                   "GROUP BY run_id").fetchall()
            same = conn.execute("SELECT COUNT(*) FROM metrics WHERE key = 'same'").fetchone()
            users = conn.execute("SELECT DISTINCT user_name, status FROM runs").fetchall()
    assert sorted(counted) == sorted((run, 5000, 5000) for run in run_ids)
    assert answers == [(200, {"points": 2000})] * 6 and same == (2000,)
    assert users == [("pg-writer", "FINISHED")]


REVOKED_CLIENT = r'''
import sys, shipyard
run = shipyard.start_run("revoked", "mid-run")
shipyard.log_metric("m", 1.0)
shipyard.flush()
print("flushed", flush=True)
sys.stdin.readline()  # the test revokes the token meanwhile
shipyard.log_metric("m", 2.0)
try:
    shipyard.end_run()
except shipyard.ShipyardError as exc:
    print(type(exc).__name__, flush=True)
print("ended", shipyard.active_run() is None, flush=True)
'''


def test_a_token_revoked_mid_run_fails_the_next_send_at_once_instead_of_retrying(team: Team, tmp_path: Path) -> None:
    proc = _client(team, tmp_path, REVOKED_CLIENT, team.tokens["writer"], stdin=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline().strip() == "flushed"
    shipyard("server", "token", "revoke", "writer-person", "--backend-store-uri", team.database)
    revoked = time.monotonic()

    def refused_everywhere() -> bool:
        # Each worker remembers a verified token for TOKEN_TTL_S (server/cache.py): past that since the revoke,
        # and refused now, no worker accepts it any more.
        answer = team.server.call("POST", SEARCH_EXPERIMENTS, team.tokens["writer"], json={})
        return answer.status_code == 401 and time.monotonic() - revoked > TOKEN_TTL_S

    wait_until(refused_everywhere, timeout=TOKEN_TTL_S + 30, what="the revoke to reach every worker")
    started = time.monotonic()
    out, err = proc.communicate("go\n", timeout=120)
    assert proc.returncode == 0, err
    assert out.split() == ["UnauthorizedError", "ended", "True"], (out, err)
    assert time.monotonic() - started < 30  # a 401 is the server's verdict: not retried for SHIPYARD_HTTP_RETRY_S


FORKED_WORKERS = r'''
import multiprocessing, shipyard
from shipyard.tracking import remote_metrics
remote_metrics.FLUSH_INTERVAL_S = 3600  # nothing leaves on the timer: only the workers' exit can send their points

def work(worker):
    for step in range(1000):
        shipyard.log_metric(f"w{worker}", float(step), step=step)

with shipyard.start_run("forked", "pool") as run:
    shipyard.log_metric("parent", 1.0)
    pool = multiprocessing.get_context("fork").Pool(2)
    pool.map(work, range(4))
    pool.close()
    pool.join()
print(run.id)
'''


def test_fork_started_pool_workers_send_their_points_before_they_exit(team: Team, tmp_path: Path) -> None:
    code, out, err = _run_client(team, tmp_path, FORKED_WORKERS, team.tokens["writer"])
    assert code == 0, err
    store = _server_store(team)
    try:
        histories = {key: metric_points(store, out.strip(), key) for key in ("w0", "w1", "w2", "w3", "parent")}
    finally:
        store.close()
    assert {key: len(points) for key, points in histories.items()} == {"w0": 1000, "w1": 1000, "w2": 1000,
                                                                       "w3": 1000, "parent": 1}
