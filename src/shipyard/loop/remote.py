"""A loop through a team server (``SHIPYARD_TRACKING_URI``): its lock, cycle history and registry calls over HTTP.

The lock is taken by one request that the server runs as one transaction (compare-and-set on the lock's row, as
locally), so a second scheduler pointed at the same server gets a ConflictError and runs nothing. The holder sends
its own process (host, pid, start key) and a heartbeat, so a killed holder is found out as without a server. Every
write carries an idempotency key: a retried lock request after a lost answer returns the same cycle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..models import remote
from ..models.promote import GateRegistry, ServerGate
from ..models.registry import ModelVersion
from ..models.rollout_book import RolloutBook, ServerRollouts
from ..monitoring.model_facts import ModelFacts, ServerFacts
from ..store import Store
from ..store.http_client import new_key
from .history import LOCK_TTL_S, Cycle, HeldLock, cycle_from_record

if TYPE_CHECKING:
    from ..tracking.remote import RemoteTracker

API = "/api/shipyard/v1"
log = logging.getLogger("shipyard.loop")


class ServerLoopLock(HeldLock):
    def __init__(self, tracker: RemoteTracker, loop: str, *, ttl: float = LOCK_TTL_S) -> None:
        super().__init__(loop, ttl=ttl)
        self.tracker = tracker
        self._base = f"{API}/loops/{_segment(loop)}"

    def _acquire(self, trigger: str, key: str | None) -> tuple[int, list[dict[str, Any]]]:
        holder = self.holder
        body = {"trigger": trigger, "key": key, "ttl": self.ttl,
                "holder": {"token": holder.token, "host": holder.host, "pid": holder.pid,
                           "process_start": holder.process_start}}
        answer = self.tracker.client.call("POST", f"{self._base}/cycles", body, key=new_key())
        return int(answer["number"]), list(answer["steps"])

    def _record(self, number: int, steps: list[dict[str, Any]]) -> None:
        self.tracker.client.call("PUT", f"{self._base}/cycles/{int(number)}/steps", {"steps": steps}, key=new_key())

    def _release(self, number: int, status: str, error: str | None) -> None:
        self.tracker.client.call("POST", f"{self._base}/cycles/{int(number)}/finish",
                                 {"token": self.token, "status": status, "error": error}, key=new_key())

    def _send_beat(self) -> None:
        """A beat the server did not take is logged, not fatal: the next one may arrive in time, and a lock that
        went stale is the next holder's to take, as a local one would be."""
        from ..errors import ShipyardError

        try:
            self.tracker.client.call("POST", f"{self._base}/heartbeat", {"token": self.token}, key=new_key())
        except ShipyardError as exc:
            log.warning("Loop %r: a heartbeat did not reach %s: %s", self.loop, self.tracker.url, exc.message)


class ServerBackend:
    """:class:`~shipyard.loop.backend.LoopBackend` through a team server."""

    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    @property
    def store(self) -> Store | None:
        return None

    def gate(self) -> Store | GateRegistry:
        return ServerGate(self.tracker)

    def rollouts(self) -> Store | RolloutBook:
        return ServerRollouts(self.tracker)

    def facts(self) -> Store | ModelFacts:
        return ServerFacts(self.tracker)

    def lock(self, loop: str) -> HeldLock:
        return ServerLoopLock(self.tracker, loop)

    def cycles(self, loop: str, *, limit: int = 50) -> list[Cycle]:
        answer = self.tracker.client.call("GET", f"{API}/loops/{_segment(loop)}/cycles?limit={int(limit)}")
        return [cycle_from_record(record) for record in answer["cycles"]]

    def registered(self, name: str) -> bool:
        return any(model["name"] == name for model in remote.list_models(self.tracker))

    def version(self, name: str, number: int) -> ModelVersion:
        return remote.get_version(self.tracker, name, number)

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        from ..errors import NotFoundError

        holder = remote.alias_holder(self.tracker, name, alias)
        if holder is None:
            raise NotFoundError(f"Model {name!r} has no alias {alias!r} on {self.tracker.url}.")
        return remote.get_version(self.tracker, name, holder)

    def latest_stage_run(self, pipeline: str, stage: str) -> str | None:
        self.tracker.flush()  # the stage's run may have been logged moments ago by this process
        answer = self.tracker.client.call(
            "GET", f"{API}/loops/stage-run?pipeline={quote(pipeline, safe='')}&stage={quote(stage, safe='')}")
        run_id: str | None = answer["run_id"]
        return run_id

    def versions(self, name: str) -> list[ModelVersion]:
        return remote.list_versions(self.tracker, name)

    def register(self, uri: str, name: str, *, description: str | None) -> ModelVersion:
        return remote.register(self.tracker, uri, name, description=description, tags=None)

    def set_alias(self, name: str, alias: str, version: int, *, reason: str) -> None:
        remote.set_alias(self.tracker, name, alias, version, reason=reason)


def _segment(text: str) -> str:
    return quote(str(text), safe="")
