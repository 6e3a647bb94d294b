"""What one server process remembers between requests so that a logging call costs one write transaction.

An MLflow client sends one request per ``log_metric``; before this cache each request read the token's row, read
the run's row and then wrote the point: three transactions, of which the two reads cost more than the write. Two
things are remembered, per process (each worker has its own), bounded in size:

- **Tokens**, for :data:`TOKEN_TTL_S` seconds after their row was last read: the verified record (never the token:
  the key is a SHA-256 of it). Expiry is checked on every hit against the remembered ``expires_at``, so an expired
  token is refused at the same moment as before; a token revoked with ``shipyard server token revoke`` (another
  process, which cannot reach this one) is refused by every worker within :data:`TOKEN_TTL_S` seconds. A refused
  token is never remembered: each attempt reads the row again.
- **Runs that exist.** Shipyard never deletes a run, so "this run exists" stays true; a run id that does not exist
  is not remembered (it may be created a moment later).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tokens import TokenInfo

TOKEN_TTL_S = 2.0
_MAX_TOKENS = 1_000
_MAX_RUNS = 100_000


class TokenCache:
    """Verified tokens, each for :data:`TOKEN_TTL_S` seconds (see the module doc). Thread-safe."""

    def __init__(self, ttl_s: float = TOKEN_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, TokenInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> TokenInfo | None:
        """The remembered record of ``token`` if it was verified less than the TTL ago and has not expired since."""
        key = _key(token)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now - entry[0] >= self.ttl_s or entry[1].state() != "active":
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, info: TokenInfo) -> None:
        with self._lock:
            self._entries[_key(token)] = (self._clock(), info)
            self._entries.move_to_end(_key(token))
            while len(self._entries) > _MAX_TOKENS:
                self._entries.popitem(last=False)


class KnownRuns:
    """Ids of runs seen to exist (runs are never deleted, so an entry never goes stale). Thread-safe."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, run_id: object) -> bool:
        with self._lock:
            return run_id in self._ids

    def add(self, run_id: str) -> None:
        with self._lock:
            self._ids[run_id] = None
            while len(self._ids) > _MAX_RUNS:
                self._ids.popitem(last=False)


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
