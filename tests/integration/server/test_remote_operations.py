"""``shipyard monitor`` and ``shipyard rollout`` through a real ``shipyard server``, with ``SHIPYARD_TRACKING_URI`` set.

The server runs on a copy of the monitoring tests' trained store (``churn`` v1 and v2), so the same database can
be read both ways: every command is run once through the server (with a local store that must stay absent) and
once with ``--store`` on the server's own database, and must print the same JSON. The traffic is the prediction
log, which both read from the same folder. Roles: a reader cannot start a rollout, a writer cannot finish one onto
the protected ``champion`` alias; an admin can, and the audit log names who did what.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

import shipyard
from shipyard.models.evaluate import outputs
from shipyard.models.labelled_reference import record_reference
from shipyard.models.registry import alias_history
from shipyard.store.location import location_for
from shipyard.store.store import Store
from tests.integration.monitoring._traffic import (
    TARGET,
    Hours,
    Template,
    build_template,
    log_traffic,
    monitor_window,
    training_frame,
    world,
    write_feedback,
)
from tests.integration.server._server import TeamServer, create_token, shipyard as run_cli

pytestmark = pytest.mark.slow
API = "/api/shipyard/v1"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return build_template(tmp_path_factory.mktemp("operations-template") / ".shipyard")


class Team:
    """A server on a copy of the template store, one token per role, and the log folder its servers write."""

    def __init__(self, root: Path, server: TeamServer, tokens: dict[str, str], log_dir: Path) -> None:
        self.root = root
        self.server = server
        self.tokens = tokens
        self.log_dir = log_dir

    def through_server(self, *args: str, role: str = "reader", check: bool = True,
                       env: dict[str, str] | None = None) -> Any:
        env = {"SHIPYARD_TRACKING_URI": self.server.url, "SHIPYARD_TOKEN": self.tokens[role],
               "SHIPYARD_STORE": str(self.root.parent / "no-local-store"), **(env or {})}
        return run_cli(*args, env=env, check=check)

    def with_store(self, *args: str, check: bool = True) -> Any:
        return run_cli("--store", str(self.root), *args, check=check)


@pytest.fixture
def team(template: Template, isolated_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    shipyard.set_store(None)
    root = template.copy_to(isolated_store)
    database = f"sqlite:///{root / 'meta.db'}"
    run_cli("server", "db", "upgrade", "--backend-store-uri", database)
    tokens = {role: create_token(database, f"{role}-person", role) for role in ("reader", "writer", "admin")}
    log_dir = tmp_path / "predictions"
    monkeypatch.setenv("SHIPYARD_LOG_DIR", str(log_dir))  # where log_traffic writes; the CLI gets --log-dir
    server = TeamServer(database, root / "objects", tmp_path / "server").start()
    try:
        yield Team(root, server, tokens, log_dir)
    finally:
        server.stop()
        assert not (tmp_path / "no-local-store").exists()  # nothing went to a local store


def _json(done: Any) -> Any:
    return json.loads(done.stdout)


def test_monitor_check_report_and_compare_print_the_same_through_the_server(
        team: Team, template: Template, tmp_path: Path) -> None:
    store = Store(location_for(str(team.root)))
    try:  # the labelled reference the gate would keep, so the performance estimate is read through the server too
        holdout = world(2_000, seed=11)
        scored = outputs(template.models[1], holdout, TARGET, "roc_auc")
        assert record_reference(store, "churn", 1, scored.output, scored.truth, list(scored.classes),
                                source="test holdout")
    finally:
        store.close()
    hours = Hours.recent()
    frame = world(3_000, seed=5, shift={"monthly_charges": 16.0})
    batch = log_traffic(template, frame, start_ms=hours.current_start, end_ms=hours.current_end)
    write_feedback(batch.keys, frame[TARGET].astype(str).tolist(), timestamp_ms=hours.current_end - 1)
    window = [*monitor_window(hours), "--log-dir", str(team.log_dir)]

    remote = team.through_server("monitor", "check", "-d", "churn", *window, "--json", check=False)
    local = team.with_store("monitor", "check", "-d", "churn", *window, "--json", check=False)
    assert remote.returncode == local.returncode == 3, remote.stderr  # the shifted column alerts
    assert _json(remote) == _json(local)
    checks = {(item["check"], item["feature"], item["statistic"]) for item in _json(remote)["checks"]}
    assert any(check[:2] == ("drift", "monthly_charges") for check in checks)
    assert any(check == "estimated_quality" for check, _, _ in checks)  # the labelled reference came through
    assert any(check == "quality" for check, _, _ in checks)  # so did the training run's baseline

    table = team.through_server("monitor", "check", "-d", "churn", *window, check=False)
    assert table.returncode == 3 and "ALERT" in table.stdout and "monthly_charges" in table.stdout

    report = tmp_path / "report.html"
    written = team.through_server("monitor", "report", "-d", "churn", *window, "-o", str(report), "--json")
    answer = _json(written)
    assert answer["report"] == str(report) and report.stat().st_size > 10_000
    assert {key: value for key, value in answer.items() if key != "report"} == _json(local)

    training = tmp_path / "train.csv"
    current = tmp_path / "current.csv"
    training_frame().sample(3_000, random_state=1).to_csv(training, index=False)
    frame.to_csv(current, index=False)
    compared = [str(training), str(current), "--model", "models:/churn/1", "--target", TARGET, "--json"]
    remote_compare = team.through_server("monitor", "compare", *compared, check=False)
    local_compare = team.with_store("monitor", "compare", *compared, check=False)
    assert remote_compare.returncode == local_compare.returncode == 3, remote_compare.stderr
    assert _json(remote_compare) == _json(local_compare)

    # Through a server the prediction log must be named: a store's serving/ folder is not the team's.
    unnamed = team.through_server("monitor", "check", "-d", "churn", *monitor_window(hours), check=False,
                                  env={"SHIPYARD_LOG_DIR": ""})
    assert unnamed.returncode == 2 and "--log-dir" in unnamed.stderr and len(unnamed.stderr.strip().splitlines()) == 1


def test_rollouts_through_the_server_with_roles_and_the_same_json(team: Team, template: Template) -> None:
    admin = team.tokens["admin"]
    for alias, version in (("champion", 1), ("challenger", 2)):
        moved = team.server.call("PUT", f"{API}/models/churn/aliases/{alias}", admin, json={"version": version})
        assert moved.status_code == 200, moved.text
    logs = ["--log-dir", str(team.log_dir)]
    start = ["rollout", "start", "churn", "--candidate", "challenger", "--steps", "10,100", "--min-requests", "5",
             "--interval", "0.05", "--timeout", "0", *logs, "--json"]

    refused = team.through_server(*start, role="reader", check=False)
    assert refused.returncode != 0 and "writer" in refused.stderr and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    started = _json(team.through_server(*start, role="writer"))
    assert started["status"] == "running" and started["weight"] == 10.0 and started["candidate_version"] == 2
    assert [check["action"] for check in started["checks"]] == ["hold"]  # no canary traffic yet
    remote_status = _json(team.through_server("rollout", "status", "churn", "--json"))
    assert remote_status == _json(team.with_store("rollout", "status", "churn", "--json"))
    assert remote_status["checks"] == 1 and remote_status["last_verdict"]["action"] == "hold"
    shown = team.through_server("rollout", "status", "churn")
    assert "Rollout 1 of churn: v2 against champion (v1), running at 10% (steps 10, 100), 1 checks" in shown.stdout

    # Canary traffic arrives: the judge would finish the rollout, which moves champion: a writer cannot.
    now = int(time.time() * 1000)
    frame = world(200, seed=8)
    log_traffic(template, frame, start_ms=now, end_ms=now + 500, version=2, variant="rollout-1")
    log_traffic(template, frame, start_ms=now, end_ms=now + 500, version=1, variant="champion")
    watch = ["rollout", "watch", "churn", "--interval", "0.05", "--timeout", "0", *logs, "--json"]
    writer = team.through_server(*watch, role="writer", check=False)
    assert writer.returncode != 0 and "admin" in writer.stderr and "champion" in writer.stderr
    assert len(writer.stderr.strip().splitlines()) == 1 and "Traceback" not in writer.stderr
    assert _json(team.through_server("rollout", "status", "churn", "--json"))["status"] == "running"

    finished = _json(team.through_server(*watch, role="admin"))
    assert finished["status"] == "completed" and [check["action"] for check in finished["checks"]] == ["advance"]
    assert _json(team.through_server("rollout", "status", "churn", "--json")) == \
        _json(team.with_store("rollout", "status", "churn", "--json"))
    store = Store(location_for(str(team.root)))
    try:
        events = [(event.alias, event.action, event.to_version, event.actor) for event in alias_history(store, "churn")]
    finally:
        store.close()
    assert events[-3:] == [("champion", "rollout_start", 2, "writer-person"),
                           ("champion", "rollout_hold", 2, "writer-person"),
                           ("champion", "rollout_complete", 2, "admin-person")]


def test_abort_and_a_retried_start_through_the_server(team: Team) -> None:
    admin, writer = team.tokens["admin"], team.tokens["writer"]
    for alias, version in (("champion", 1), ("challenger", 2)):
        assert team.server.call("PUT", f"{API}/models/churn/aliases/{alias}", admin,
                                json={"version": version}).status_code == 200
    body = {"name": "churn", "candidate": "challenger", "steps": [20, 100], "policy": {"min_requests": 5}}
    key = {"Idempotency-Key": "start-once-0001"}
    first = team.server.call("POST", f"{API}/rollouts", writer, json=body, headers=key)
    again = team.server.call("POST", f"{API}/rollouts", writer, json=body, headers=key)  # a retry: the same answer
    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json() and first.json()["rollout"]["id"] == 1
    bad = team.server.call("POST", f"{API}/rollouts", writer, json={**body, "steps": [50, 20]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "steps"
    missing = team.server.call("POST", f"{API}/rollouts/1/checks", writer, json={"action": "advance"})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "reason"

    aborted = team.through_server("rollout", "abort", "churn", "--reason", "not today", role="writer")
    assert "Rollout 1 aborted: churn@champion serves v1 again." in aborted.stdout
    remote = _json(team.through_server("rollout", "status", "churn", "--json"))
    assert remote == _json(team.with_store("rollout", "status", "churn", "--json"))
    assert remote["status"] == "aborted" and remote["reason"] == "not today"
    twice = team.through_server("rollout", "abort", "churn", role="writer", check=False)
    assert twice.returncode == 2 and "No rollout of 'churn' is running" in twice.stderr


def test_bad_requests_name_their_field(team: Team) -> None:
    writer, reader = team.tokens["writer"], team.tokens["reader"]
    holder = {"token": "t-1", "host": "elsewhere", "pid": 7}
    cases = [
        ("GET", "/monitoring/reference", reader, None, "uri"),
        ("GET", "/monitoring/baseline?uri=not-a-uri", reader, None, "uri"),
        ("GET", "/rollouts", reader, None, "name"),
        ("POST", "/rollouts", writer, {"candidate": "2"}, "name"),
        ("POST", "/rollouts/1/checks", writer, {"action": "jump", "reason": "r", "checks": 0, "step_index": 0},
         "action"),
        ("POST", "/loops/ship/cycles", writer, {"trigger": "t"}, "holder"),
        ("POST", "/loops/ship/cycles", writer, {"trigger": "t", "holder": {**holder, "pid": "x"}}, "holder.pid"),
        ("POST", "/loops/ship/cycles/1/finish", writer, {"token": "t-1", "status": "done"}, "status"),
        ("GET", "/loops/ship/cycles?limit=0", reader, None, "limit"),
        ("GET", "/loops/stage-run?pipeline=p&stage=a'b", reader, None, "stage"),
    ]
    for method, path, token, body, name in cases:
        answer = team.server.call(method, API + path, token, json=body)
        assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
        assert answer.json()["error"]["field"] == name, (path, answer.text)
    taken = team.server.call("POST", f"{API}/loops/ship/cycles", writer, json={"trigger": "t", "holder": holder})
    assert taken.status_code == 200 and taken.json() == {"number": 1, "steps": []}
    cycles = team.server.call("GET", f"{API}/loops/ship/cycles", reader).json()["cycles"]
    assert [(cycle["number"], cycle["status"], cycle["host"], cycle["pid"]) for cycle in cycles] == [
        (1, "running", "elsewhere", 7)]


def _crash_before_the_key_is_recorded(database: Path, *, on: bool) -> None:
    """Make the database refuse every idempotency record (a trigger), as if the server died right before writing
    one: a real failure at that point of a real server, with nothing of Shipyard's replaced."""
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TRIGGER crash_here BEFORE INSERT ON idempotency_keys BEGIN "
                     "SELECT RAISE(ABORT, 'the server died here'); END" if on else "DROP TRIGGER crash_here")


def test_a_rollout_write_and_its_idempotency_record_are_one_transaction(team: Team) -> None:
    """A rollout write whose key could not be recorded leaves nothing, so the retry with that key writes it and a
    replay gets the original answer (it got 409 when the record was a transaction of its own, after the write's);
    a write that fails records no key."""
    admin, writer = team.tokens["admin"], team.tokens["writer"]
    database = team.root / "meta.db"
    for alias, version in (("champion", 1), ("challenger", 2)):
        assert team.server.call("PUT", f"{API}/models/churn/aliases/{alias}", admin,
                                json={"version": version}).status_code == 200

    def counts() -> tuple[int, int, int]:
        with sqlite3.connect(database) as conn:
            return (conn.execute("SELECT count(*), coalesce(sum(checks), 0) FROM rollouts").fetchone()
                    + conn.execute("SELECT count(*) FROM alias_events WHERE action LIKE 'rollout%'").fetchone())

    start = {"name": "churn", "candidate": "challenger", "steps": [20, 100]}
    check = {"action": "hold", "reason": "too few requests", "statistics": {}, "checks": 0, "step_index": 0}
    for path, body, key, after in ((f"{API}/rollouts", start, "crash-start-0001", (1, 0, 1)),
                                   (f"{API}/rollouts/1/checks", check, "crash-check-0001", (1, 1, 2))):
        before = counts()
        _crash_before_the_key_is_recorded(database, on=True)
        crashed = team.server.call("POST", path, writer, json=body, headers={"Idempotency-Key": key})
        _crash_before_the_key_is_recorded(database, on=False)
        assert crashed.status_code == 500
        assert counts() == before  # the write went with its record
        retry = team.server.call("POST", path, writer, json=body, headers={"Idempotency-Key": key})
        assert retry.status_code == 200, retry.text
        assert counts() == after
        replay = team.server.call("POST", path, writer, json=body, headers={"Idempotency-Key": key})
        assert replay.status_code == 200 and replay.json() == retry.json(), replay.text
        assert replay.headers.get("Idempotent-Replayed") == "true" and counts() == after

    refused = team.server.call("POST", f"{API}/rollouts", writer, json=start,
                               headers={"Idempotency-Key": "second-start-0001"})
    assert refused.status_code == 409  # rollout 1 still runs
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM idempotency_keys WHERE key = 'second-start-0001'").fetchone() == (0,)
    aborted = team.server.call("POST", f"{API}/rollouts/abort", writer, json={"name": "churn"},
                               headers={"Idempotency-Key": "abort-0001"})
    assert aborted.status_code == 200 and aborted.json()["rollout"]["status"] == "aborted"
    again = team.server.call("POST", f"{API}/rollouts", writer, json=start,
                             headers={"Idempotency-Key": "second-start-0001"})
    assert again.status_code == 200 and again.json()["rollout"]["id"] == 2  # the refusal had recorded nothing
