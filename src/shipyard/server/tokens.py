"""API tokens of the team server: created once, shown once, kept only as a salted hash.

A token reads ``shy_<id>_<secret>``. The id (12 hex digits) is its public name in the database, so a check
reads one row by primary key; the secret (32 random bytes) is never stored: the row keeps a random salt and
SHA-256 of salt and secret, compared in constant time. A secret of 256 random bits cannot be guessed, so a
slow password hash would only slow every request down; what matters is that the database alone never lets
anyone call the server.

Revoking marks the row (the audit keeps who had which token); an expired or revoked token is refused with a
message saying which, so its holder knows to ask for a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select, update

from ..errors import NotFoundError, UnauthorizedError, ValidationError
from ..store.db import Database
from ..store.schema import api_tokens
from ..tracking.validation import check_name
from .roles import check_role

_PREFIX = "shy_"
_TOKEN_RE = re.compile(r"^shy_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class TokenInfo:
    """What the database knows of a token (never the token itself). Times are epoch milliseconds."""

    id: str
    name: str
    role: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def state(self, now_ms: int | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        now = _now_ms() if now_ms is None else now_ms
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def parse_duration(text: str) -> int:
    """Seconds in ``30m``, ``12h``, ``90d`` or ``2w``."""
    match = _DURATION_RE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValidationError(f"--expires {text!r} is not a duration; write a number and a unit: 30m, 12h, 90d or "
                              "2w.", field="expires")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def create_token(db: Database, *, name: str, role: str, expires_in_s: int | None = None) -> tuple[str, TokenInfo]:
    """A new token for ``name`` with ``role``; returns the token (shown once) and its record."""
    check_name(name, "token")
    check_role(role)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    now = _now_ms()
    info = TokenInfo(token_id, name, role, now, None if expires_in_s is None else now + expires_in_s * 1000, None)
    db.write(lambda conn: conn.execute(insert(api_tokens).values(
        id=info.id, name=name, role=role, salt=salt, hash=_digest(salt, secret), created_at=now,
        expires_at=info.expires_at, revoked_at=None)))
    return f"{_PREFIX}{token_id}_{secret}", info


def list_tokens(db: Database) -> list[TokenInfo]:
    """Every token ever created, newest first (revoked and expired ones included)."""
    rows = db.read(lambda conn: conn.execute(select(
        api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at, api_tokens.c.expires_at,
        api_tokens.c.revoked_at).order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)).all())
    return [TokenInfo(*row) for row in rows]


def revoke_tokens(db: Database, name_or_id: str) -> list[TokenInfo]:
    """Revoke the token with this id, or every active token of this name; returns what was revoked."""
    now = _now_ms()

    def write(conn: Connection) -> list[TokenInfo]:
        chosen = [token for token in _all(conn) if name_or_id in (token.id, token.name) and token.revoked_at is None]
        if chosen:
            conn.execute(update(api_tokens).where(api_tokens.c.id.in_([token.id for token in chosen]))
                         .values(revoked_at=now))
        return chosen

    revoked = db.write(write)
    if not revoked:
        raise NotFoundError(f"No token that is not revoked yet has the name or id {name_or_id!r}; "
                            "`shipyard server token list` shows them.")
    return revoked


def authenticate(db: Database, token: str) -> TokenInfo:
    """The record of a valid token.

    Raises:
        UnauthorizedError: the token is malformed, unknown, revoked or expired (the message says which).
    """
    match = _TOKEN_RE.match(token.strip())
    if match is None:
        raise UnauthorizedError("The token is not a Shipyard server token (they read shy_<id>_<secret>); "
                                "ask an admin for one made with `shipyard server token create`.")
    token_id, secret = match.groups()
    row = db.read(lambda conn: conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first())
    if row is None or not hmac.compare_digest(_digest(row.salt, secret), row.hash):
        raise UnauthorizedError("The token is not known to this server; ask an admin for a new one.")
    info = TokenInfo(row.id, row.name, row.role, row.created_at, row.expires_at, row.revoked_at)
    state = info.state()
    if state != "active":
        raise UnauthorizedError(f"The token {info.id} of {info.name!r} is {state}; ask an admin for a new one "
                                "(`shipyard server token create`).")
    return info


def describe_time(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _all(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute(select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.created_at,
                               api_tokens.c.expires_at, api_tokens.c.revoked_at)).all()
    return [TokenInfo(*row) for row in rows]


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
