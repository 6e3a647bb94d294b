"""What a loop reads and writes besides its training runs: a local store (:class:`StoreBackend`) or a team server
(``loop/remote.py``'s ``ServerBackend``).

A cycle takes the loop's lock and records its steps (:mod:`.history`), checks that the models its steps name exist,
finds the latest finished run of a stage to register, registers it and moves aliases, runs the promotion gate and
canary rollouts, and the scheduler reads past cycles and monitoring. Training runs go wherever tracking goes
(``SHIPYARD_TRACKING_URI``) by themselves; everything else goes through this one interface, so ``shipyard loop run``
and ``shipyard scheduler`` work unchanged against a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..errors import NotFoundError
from ..models import registry
from ..models.registry import ModelVersion
from ..store import Store
from ..tracking.search import search_run_records
from .history import Cycle, HeldLock, LoopLock, cycles

if TYPE_CHECKING:
    from ..models.promote import GateRegistry
    from ..models.rollout_book import RolloutBook
    from ..monitoring.model_facts import ModelFacts


class LoopBackend(Protocol):
    @property
    def store(self) -> Store | None:
        """The local store (``None`` through a server: the prediction log must then be named)."""
        ...

    def gate(self) -> Store | GateRegistry: ...

    def rollouts(self) -> Store | RolloutBook: ...

    def facts(self) -> Store | ModelFacts: ...

    def lock(self, loop: str) -> HeldLock: ...

    def cycles(self, loop: str, *, limit: int = 50) -> list[Cycle]: ...

    def registered(self, name: str) -> bool: ...

    def version(self, name: str, number: int) -> ModelVersion: ...

    def resolve_alias(self, name: str, alias: str) -> ModelVersion: ...

    def latest_stage_run(self, pipeline: str, stage: str) -> str | None: ...

    def versions(self, name: str) -> list[ModelVersion]: ...

    def register(self, uri: str, name: str, *, description: str | None) -> ModelVersion: ...

    def set_alias(self, name: str, alias: str, version: int, *, reason: str) -> None: ...


class StoreBackend:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def store(self) -> Store | None:
        return self._store

    def gate(self) -> Store | GateRegistry:
        return self._store

    def rollouts(self) -> Store | RolloutBook:
        return self._store

    def facts(self) -> Store | ModelFacts:
        return self._store

    def lock(self, loop: str) -> HeldLock:
        return LoopLock(self._store, loop)

    def cycles(self, loop: str, *, limit: int = 50) -> list[Cycle]:
        return cycles(self._store, loop, limit=limit)

    def registered(self, name: str) -> bool:
        try:
            registry.require_model(self._store, name)
        except NotFoundError:
            return False
        return True

    def version(self, name: str, number: int) -> ModelVersion:
        return registry.get_version(self._store, name, number)

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        version = registry.resolve(self._store, f"models:/{name}@{alias}")[0]
        assert version is not None
        return version

    def latest_stage_run(self, pipeline: str, stage: str) -> str | None:
        return latest_stage_run(self._store, pipeline, stage)

    def versions(self, name: str) -> list[ModelVersion]:
        return registry.list_versions(self._store, name)

    def register(self, uri: str, name: str, *, description: str | None) -> ModelVersion:
        return registry.register_model(self._store, uri, name, description=description)

    def set_alias(self, name: str, alias: str, version: int, *, reason: str) -> None:
        registry.set_alias(self._store, name, alias, version, reason=reason)


def latest_stage_run(store: Store, pipeline: str, stage: str) -> str | None:
    """The id of the latest finished run of ``stage`` in ``pipeline``'s experiment: what a register step registers."""
    wanted = f"tags.`shipyard.stage` = '{stage}' and attributes.status = 'FINISHED'"
    records = search_run_records(store, experiment=pipeline, max_results=1, order_by=["attributes.start_time DESC"],
                                 filter=wanted)
    return str(records[0]["run_id"]) if records else None


def loop_backend(store: Store | LoopBackend) -> LoopBackend:
    return StoreBackend(store) if isinstance(store, Store) else store
