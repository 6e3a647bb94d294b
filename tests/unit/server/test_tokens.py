"""Tokens on a real SQLite database: shown once, stored as a salted hash, refused when unknown, revoked or expired."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard.errors import NotFoundError, UnauthorizedError, ValidationError
from shipyard.server.roles import allows
from shipyard.server.tokens import authenticate, create_token, list_tokens, parse_duration, revoke_tokens
from shipyard.store.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'team.db'}")
    database.ensure_schema()
    return database


def test_a_token_authenticates_as_its_name_and_role_and_nothing_else_does(db: Database) -> None:
    token, info = create_token(db, name="alice", role="writer")
    assert authenticate(db, token) == info
    token_id, secret = token.split("_")[1], token.split("_", 2)[2]
    for wrong in (f"shy_{token_id}_{secret[:-1]}x", f"shy_{'0' * 12}_{secret}", "alice", ""):
        with pytest.raises(UnauthorizedError):
            authenticate(db, wrong)


def test_revoked_and_expired_tokens_are_refused_saying_which(db: Database) -> None:
    token, _ = create_token(db, name="bob", role="reader")
    other, _ = create_token(db, name="bob", role="admin")
    revoked = revoke_tokens(db, "bob")
    assert {item.role for item in revoked} == {"reader", "admin"}
    for each in (token, other):
        with pytest.raises(UnauthorizedError, match="revoked"):
            authenticate(db, each)
    with pytest.raises(NotFoundError, match="bob"):
        revoke_tokens(db, "bob")  # nothing left to revoke
    short, info = create_token(db, name="carol", role="reader", expires_in_s=60)
    assert info.state(now_ms=info.created_at + 59_000) == "active"
    assert info.state(now_ms=info.created_at + 60_000) == "expired"
    assert [item.state() for item in list_tokens(db) if item.name == "carol"] == ["active"]
    assert authenticate(db, short).name == "carol"
    assert info.expires_at is not None and info.expires_at > time.time() * 1000


def test_durations_roles_and_names_are_checked(db: Database) -> None:
    assert [parse_duration(text) for text in ("30m", "12h", "90d", "2w")] == [1800, 43200, 7776000, 1209600]
    for bad in ("90", "0d", "1y", "-1d", "soon"):
        with pytest.raises(ValidationError, match="duration"):
            parse_duration(bad)
    with pytest.raises(ValidationError, match="reader, writer, admin"):
        create_token(db, name="x", role="owner")
    with pytest.raises(ValidationError):
        create_token(db, name="", role="reader")
    assert allows("admin", "writer") and allows("writer", "writer") and not allows("reader", "writer")
