"""Where rollouts are kept: a local store (:class:`StoreRollouts`) or a team server (:class:`ServerRollouts`).

``shipyard rollout`` and the judge's runner (``monitoring/rollout_runner.py``) read and change rollouts through
this one interface, so they work unchanged against a server. The server's handlers (``server/api/operations.py``)
call the same functions of :mod:`.rollouts` the store path calls; its roles decide who may do what: a reader reads,
a writer starts, judges and aborts, and only an admin applies the check that finishes a rollout onto a protected
alias (``champion`` by default), since that moves the alias. Every write carries an idempotency key, so a retry
after a lost answer neither starts a second rollout nor applies a check twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from ..store import Store
from . import rollouts
from .rollouts import Rollout, rollout_from_dict

if TYPE_CHECKING:
    from ..tracking.remote import RemoteTracker

API = "/api/shipyard/v1"


class RolloutBook(Protocol):
    def start(self, name: str, candidate: str, *, alias: str, steps: tuple[float, ...],
              policy: dict[str, Any]) -> Rollout: ...

    def get(self, rollout_id: int) -> Rollout: ...

    def latest(self, name: str, alias: str | None = None) -> Rollout: ...

    def record_check(self, rollout: Rollout, action: str, reason: str, statistics: dict[str, Any]) -> Rollout: ...

    def abort(self, name: str, *, alias: str | None = None, reason: str | None = None) -> Rollout: ...

    @property
    def store(self) -> Store | None:
        """The store whose ``serving/`` folder is the default prediction log (``None`` through a server)."""
        ...


class StoreRollouts:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def store(self) -> Store | None:
        return self._store

    def start(self, name: str, candidate: str, *, alias: str, steps: tuple[float, ...],
              policy: dict[str, Any]) -> Rollout:
        return rollouts.start_rollout(self._store, name, candidate, alias=alias, steps=steps, policy=policy)

    def get(self, rollout_id: int) -> Rollout:
        return rollouts.get_rollout(self._store, rollout_id)

    def latest(self, name: str, alias: str | None = None) -> Rollout:
        return rollouts.latest_rollout(self._store, name, alias)

    def record_check(self, rollout: Rollout, action: str, reason: str, statistics: dict[str, Any]) -> Rollout:
        return rollouts.record_check(self._store, rollout, action, reason, statistics)

    def abort(self, name: str, *, alias: str | None = None, reason: str | None = None) -> Rollout:
        return rollouts.abort_rollout(self._store, name, alias=alias, reason=reason)


class ServerRollouts:
    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    @property
    def store(self) -> Store | None:
        return None

    def start(self, name: str, candidate: str, *, alias: str, steps: tuple[float, ...],
              policy: dict[str, Any]) -> Rollout:
        body = {"name": name, "candidate": str(candidate), "alias": alias, "steps": list(steps), "policy": policy}
        return self._call("POST", "/rollouts", body)

    def get(self, rollout_id: int) -> Rollout:
        return self._call("GET", f"/rollouts/{int(rollout_id)}")

    def latest(self, name: str, alias: str | None = None) -> Rollout:
        query = f"?name={quote(name, safe='')}" + (f"&alias={quote(alias, safe='')}" if alias else "")
        return self._call("GET", f"/rollouts{query}")

    def record_check(self, rollout: Rollout, action: str, reason: str, statistics: dict[str, Any]) -> Rollout:
        """Send one judged check; the server applies it only to the rollout as it was read here (its checks and step
        unchanged), so a judge that looked at an older state gets a ConflictError, as locally."""
        body = {"action": action, "reason": reason, "statistics": json_safe(statistics), "checks": rollout.checks,
                "step_index": rollout.step_index}
        return self._call("POST", f"/rollouts/{rollout.id}/checks", body)

    def abort(self, name: str, *, alias: str | None = None, reason: str | None = None) -> Rollout:
        return self._call("POST", "/rollouts/abort", {"name": name, "alias": alias, "reason": reason})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Rollout:
        from ..store.http_client import new_key

        key = new_key() if method != "GET" else None
        return rollout_from_dict(self.tracker.client.call(method, API + path, body, key=key)["rollout"])


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as null: JSON has no spelling for them (a test statistic with nothing to
    compare yet)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def rollout_book(store: Store | RolloutBook) -> RolloutBook:
    return StoreRollouts(store) if isinstance(store, Store) else store
