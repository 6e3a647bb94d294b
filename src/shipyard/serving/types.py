"""The server's protocols, named once: the ASGI types, and what a plugin job is and may touch.

As in Starlette's ``types.py``, these are only declarations: no module of the server has to import
another to agree on a shape. Plugins are how packages above serving add periodic work to a server without
serving importing them: ``serving.yaml``'s ``plugins`` names a factory ``"package.module:function"``, the
server calls it with its :class:`~shipyard.serving.spec.ServingConfig` and runs every job it returns
every ``job.interval`` seconds in a thread (:mod:`.plugins`). A plugin declares on its own side the
protocols it needs, structurally: the monitoring gauges never import serving.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..store import Store
    from ..tracking.remote import RemoteTracker
    from .spec import ServingConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class PluginMetrics(Protocol):
    """Where a plugin registers its own Prometheus collectors, so ``/metrics`` reports them."""

    @property
    def registry(self) -> CollectorRegistry:
        """The app's registry (unused when ``multiprocess``: collectors then register nowhere)."""
        ...

    @property
    def multiprocess(self) -> bool:
        """Whether workers share values through ``PROMETHEUS_MULTIPROC_DIR`` files instead of the registry."""
        ...


@runtime_checkable
class PluginState(Protocol):
    """What a plugin job may touch of the server it runs in; the server's state object satisfies it."""

    @property
    def store(self) -> Store:
        """The store the server serves models from (a server serving through a team server has none: it raises)."""
        ...

    @property
    def model_origin(self) -> Store | RemoteTracker:
        """Where the served models' facts are read: the store, or the team server the models come from."""
        ...

    @property
    def metrics(self) -> PluginMetrics:
        """The server's metrics, to register gauges next to its own."""
        ...

    def deployment_names(self) -> list[str]:
        """The deployments this server serves, in ``serving.yaml``'s order."""
        ...


@runtime_checkable
class PluginJob(Protocol):
    """One periodic job of a plugin: ``run(state)`` every ``interval`` seconds, in a thread.

    A job that raises is logged and runs again at its next interval; it never stops the server.
    """

    @property
    def interval(self) -> float:
        """Seconds between two runs."""
        ...

    def run(self, state: PluginState) -> None:
        """Do the job once (in a worker thread, not on the event loop)."""
        ...


PluginFactory = Callable[["ServingConfig"], Iterable[PluginJob]]
