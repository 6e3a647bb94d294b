"""Idempotent writes on a real SQLite database: the first answer is kept, a retry writes nothing, a reused key is
refused, and old keys are forgotten."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from shipyard.errors import ConflictError, ValidationError
from shipyard.store.db import Database
from shipyard.store.idempotency import fingerprint, prune, recall, run_once


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'meta.db'}")
    database.ensure_schema()
    database.write(lambda conn: conn.execute(text("CREATE TABLE writes (n INTEGER)")))
    return database


def _write(conn: Connection) -> dict[str, object]:
    conn.execute(text("INSERT INTO writes VALUES (1)"))
    return {"written": int(conn.execute(text("SELECT COUNT(*) FROM writes")).scalar() or 0)}


def test_a_retry_gets_the_first_answer_and_writes_nothing(db: Database) -> None:
    request = fingerprint("POST", "/metrics", b"{}")
    first = run_once(db, "key-00000001", actor="alice", request_hash=request, work=_write)
    again = run_once(db, "key-00000001", actor="alice", request_hash=request, work=_write)
    assert (first.body, first.replayed) == ({"written": 1}, False)
    assert (again.body, again.replayed) == ({"written": 1}, True)
    assert db.read(lambda conn: conn.execute(text("SELECT COUNT(*) FROM writes")).scalar()) == 1
    stored = recall(db, "key-00000001", actor="alice", request_hash=request)
    assert stored is not None and stored.body == {"written": 1}
    assert recall(db, "key-00000002", actor="alice", request_hash=request) is None


def test_a_key_reused_for_another_request_or_caller_is_refused(db: Database) -> None:
    run_once(db, "key-00000003", actor="alice", request_hash=fingerprint("a"), work=_write)
    with pytest.raises(ConflictError, match="another request"):
        run_once(db, "key-00000003", actor="alice", request_hash=fingerprint("b"), work=_write)
    with pytest.raises(ConflictError, match="by another caller"):
        run_once(db, "key-00000003", actor="bob", request_hash=fingerprint("a"), work=_write)
    with pytest.raises(ValidationError) as bad:
        run_once(db, "no", actor="alice", request_hash=fingerprint("a"), work=_write)
    assert bad.value.field == "Idempotency-Key"


def test_a_failed_write_leaves_its_key_free_and_prune_forgets_old_keys(db: Database) -> None:
    def failing(conn: Connection) -> dict[str, object]:
        _write(conn)
        raise ValidationError("refused", field="points")

    with pytest.raises(ValidationError):
        run_once(db, "key-00000004", actor=None, request_hash=fingerprint("a"), work=failing)
    assert run_once(db, "key-00000004", actor=None, request_hash=fingerprint("a"), work=_write).body == {"written": 1}
    assert prune(db) == 0  # a week old at least
    assert prune(db, older_than_ms=-1000) == 1
    assert recall(db, "key-00000004", actor=None, request_hash=fingerprint("a")) is None
