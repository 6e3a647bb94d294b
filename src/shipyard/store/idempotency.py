"""Idempotent writes: a request retried with the same key is answered from the database and written once.

A client of the team server gives every write a random ``Idempotency-Key`` and keeps it for every retry of that
one request. :func:`run_once` claims the key, does the write and records the answer in one transaction, so
either all three happen or none does:

- a server that dies half-way leaves nothing, and the retry writes everything;
- a server that dies after the commit, before the answer reached the client, leaves the answer: the retry gets
  it back and nothing is written twice;
- two copies of one request arriving at once (a client that gave up waiting and retried while the first was
  still being written) meet at the key's primary key: the second waits for the first transaction to end, then
  finds its answer.

A key names one request: the same key sent with another request (another body, path or caller) is refused
with a ConflictError, so a client bug never turns into a silently dropped write.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ..errors import ConflictError, ValidationError
from .db import Database
from .dialect import insert_one_ignore
from .schema import idempotency_keys

HEADER = "Idempotency-Key"
KEEP_MS = 7 * 24 * 3600 * 1000  # a retry comes within minutes; a week covers a client that slept through a night
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,100}$")


@dataclass(frozen=True)
class Answer:
    """The JSON answer of a write, and whether it was replayed from a first request with the same key."""

    body: dict[str, Any]
    replayed: bool


def check_key(key: str) -> str:
    """``key`` if it can name a request (8 to 100 letters, digits, ``_.:-``), else a ValidationError naming it."""
    if not _KEY_RE.match(key):
        raise ValidationError(f"The {HEADER} header {key[:120]!r} is not a key: use 8 to 100 letters, digits or "
                              "'_.:-' (a random UUID is the usual choice).", field=HEADER)
    return key


def fingerprint(*parts: str | bytes) -> str:
    """A hash of what identifies a request (method, path, body...), to tell a retry from a reused key."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def run_once(db: Database, key: str, *, actor: str | None, request_hash: str,
             work: Callable[[Connection], dict[str, Any]]) -> Answer:
    """Run ``work`` (the write, inside the transaction) unless ``key`` was answered before; see the module doc.

    Raises:
        ConflictError: ``key`` was used before by another request or another caller.
    """
    check_key(key)

    def transaction(conn: Connection) -> Answer:
        claimed = insert_one_ignore(conn, idempotency_keys, {
            "key": key, "actor": actor, "request_hash": request_hash, "response": None,
            "created_at": time.time_ns() // 1_000_000})
        if not claimed:
            return _stored(conn, key, actor, request_hash)
        body = work(conn)
        conn.execute(update(idempotency_keys).where(idempotency_keys.c.key == key)
                     .values(response=json.dumps(body, allow_nan=False)))
        return Answer(body, replayed=False)

    return db.write(transaction)


def remember(conn: Connection, key: str, *, actor: str | None, request_hash: str, body: dict[str, Any]) -> None:
    """Record ``body`` as the answer of ``key`` inside the caller's write transaction (which then does the write).

    A concurrent request with the same key that committed first makes this insert fail (a unique violation),
    which rolls the caller's write back: the caller then answers with :func:`recall`.
    """
    conn.execute(idempotency_keys.insert().values(key=check_key(key), actor=actor, request_hash=request_hash,
                                                  response=json.dumps(body, allow_nan=False),
                                                  created_at=time.time_ns() // 1_000_000))


def recall(db: Database, key: str, *, actor: str | None, request_hash: str) -> Answer | None:
    """The stored answer of ``key`` (``None`` when it is new), for writes done before their key is recorded.

    Raises:
        ConflictError: ``key`` was used before by another request or another caller.
    """
    check_key(key)

    def read(conn: Connection) -> Answer | None:
        found = conn.execute(select(idempotency_keys.c.key).where(idempotency_keys.c.key == key)).first()
        return None if found is None else _stored(conn, key, actor, request_hash)

    return db.read(read)


def prune(db: Database, *, older_than_ms: int = KEEP_MS) -> int:
    """Forget keys older than ``older_than_ms``; returns how many were removed."""
    cutoff = time.time_ns() // 1_000_000 - older_than_ms
    return int(db.write(lambda conn: conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)).rowcount))


def _stored(conn: Connection, key: str, actor: str | None, request_hash: str) -> Answer:
    row = conn.execute(select(idempotency_keys.c.actor, idempotency_keys.c.request_hash,
                              idempotency_keys.c.response).where(idempotency_keys.c.key == key)).one()
    if row.actor != actor or row.request_hash != request_hash:
        raise ConflictError(f"The {HEADER} {key!r} was used for another request"
                            f"{'' if row.actor == actor else ' by another caller'}; give every new write a new key "
                            "and reuse a key only to retry the very same request.")
    return Answer(json.loads(row.response) if row.response is not None else {}, replayed=True)
