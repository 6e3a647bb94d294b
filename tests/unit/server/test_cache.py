"""The per-process cache of verified tokens and known runs: how long a token is remembered, and what never is."""

from __future__ import annotations

import time

import pytest

from shipyard.server.cache import KnownRuns, TokenCache
from shipyard.server.tokens import TokenInfo


def _info(expires_at: int | None = None) -> TokenInfo:
    return TokenInfo("0123456789ab", "alice", "writer", 0, expires_at, None)


class _Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_remembered_for_the_ttl_and_then_read_again() -> None:
    clock = _Clock()
    cache = TokenCache(ttl_s=2.0, clock=clock)
    assert cache.get("shy_token") is None
    cache.put("shy_token", _info())
    clock.now += 1.9
    assert cache.get("shy_token") == _info()
    assert cache.get("shy_other") is None  # the key is the whole token, not its id
    clock.now += 0.2
    assert cache.get("shy_token") is None  # 2.1 s after it was read: read the row again


def test_an_expired_token_is_not_served_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    expires = time.time_ns() // 1_000_000 + 50
    cache = TokenCache(ttl_s=60.0)
    cache.put("shy_token", _info(expires_at=expires))
    assert cache.get("shy_token") is not None
    monkeypatch.setattr(time, "time_ns", lambda: (expires + 1) * 1_000_000)
    assert cache.get("shy_token") is None  # expiry is checked on every hit, not once per TTL


def test_known_runs_keep_the_newest_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shipyard.server.cache._MAX_RUNS", 3)
    runs = KnownRuns()
    for run_id in ("a", "b", "c", "d"):
        runs.add(run_id)
    assert "a" not in runs and all(run_id in runs for run_id in ("b", "c", "d"))
