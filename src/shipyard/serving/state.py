"""What one app instance holds while it serves: the loaded fleet, the logs, the metrics, recent request ids.

The app factory (:mod:`.app`) makes one and puts it on ``app.state.serving``; routes find it with
:func:`state_of`, and the prediction and feedback core (:mod:`.prediction`, :mod:`.feedback`) takes it as
an argument. Nothing here is global, so tests run several apps in one process. It is also what plugin
jobs are handed (:class:`~shipyard.serving.types.PluginState`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING

from ..errors import ConflictError, NotFoundError, NotSupportedError
from ..predlog.layout import ERRORS, FEEDBACK, PREDICTIONS
from ..predlog.schema import errors_table, feedback_table, predictions_table
from ..predlog.writer import PartitionedLog
from .durability import PredictionCommits
from .fleet import Fleet, LiveDeployment, VariantSlot
from .metrics import ServingMetrics
from .source import ModelSource, StoreSource
from .spec import ServingConfig

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection

    from ..store import Store
    from ..tracking.remote import RemoteTracker
    from .access import Access

log = logging.getLogger("shipyard.serving")
IGNORED_SAID_LIMIT = 1000  # column names remembered per variant for "said once" (clients may invent many)
RECENT_IDS = 200_000  # request ids remembered per process for duplicate checks and fast feedback joins


class ServerState:
    """Everything one app instance holds (tests run several apps in one process)."""

    def __init__(self, config: ServingConfig, source: ModelSource) -> None:
        self.config = config
        self.source = source
        self.fleet = Fleet(config, source)
        self.metrics = ServingMetrics()
        root = source.log_root(config.log_dir)
        self.predictions_root = root / PREDICTIONS
        self.predictions = PartitionedLog(self.predictions_root, predictions_table,
                                          flush_interval=config.flush_interval_s, name="predictions")
        self.feedback = PartitionedLog(root / FEEDBACK, feedback_table, flush_interval=config.flush_interval_s,
                                       name="feedback")
        self.errors = PartitionedLog(root / ERRORS, errors_table, flush_interval=config.flush_interval_s,
                                     name="errors")
        self.commits = PredictionCommits(self.predictions, strict=config.durability == "strict")
        self.recent: dict[str, collections.OrderedDict[str, int]] = {}
        self.ignored_said: dict[tuple[str, str, str], set[str]] = {}
        self.ready = False
        self.refresh_wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.background: set[asyncio.Task[None]] = set()  # shadow copies of large requests being checked

    @property
    def store(self) -> Store:
        """The store the models come from (what plugin jobs read); a server serving through a team server has none."""
        if isinstance(self.source, StoreSource):
            return self.source.store
        raise NotSupportedError(f"This server serves the models of {self.source.where}, not of a store, so a plugin "
                                "job that reads a store cannot run here.")

    @property
    def model_origin(self) -> Store | RemoteTracker:
        """Where plugin jobs read the served models' facts: the store, or the team server they come from."""
        from .remote_source import ServerSource

        if isinstance(self.source, StoreSource):
            return self.source.store
        if isinstance(self.source, ServerSource):
            return self.source.tracker
        raise NotSupportedError(f"{self.source.where} keeps no model facts a plugin job can read.")

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a reference to ``task`` until it is done (the loop keeps only weak ones)."""
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def deployment_names(self) -> list[str]:
        """The deployments this server serves, in ``serving.yaml``'s order (what a plugin job iterates)."""
        return list(self.fleet.deployments)

    def deployment(self, name: str) -> LiveDeployment:
        """The deployment ``name``, or a 404 naming the ones this server serves."""
        found = self.fleet.deployments.get(name)
        if found is None:
            known = ", ".join(sorted(self.fleet.deployments)) or "none"
            raise NotFoundError(f"No deployment named {name!r} on this server (it serves: {known}).")
        return found

    def note_ignored(self, deployment: str, slot: VariantSlot, columns: list[str]) -> None:
        """Log each column a variant's model ignores once (per model version), not once per request."""
        said = self.ignored_said.setdefault((deployment, slot.name, slot.serving.resolved), set())
        new = [name for name in columns if name not in said]
        if new and len(said) < IGNORED_SAID_LIMIT:
            said.update(new)
            log.warning("%s/%s ignores column(s) %s: %s does not take them (answers list them in "
                        "'ignored_columns'; said once per column).", deployment, slot.name,
                        ", ".join(repr(name) for name in new), slot.serving.resolved)

    def remember(self, deployment: str, request_id: str, rows: int) -> None:
        """Note a request id as used for ``deployment`` (a 409 if it already was), with its number of rows."""
        recent = self.recent.setdefault(deployment, collections.OrderedDict())
        if request_id in recent:
            raise ConflictError(f"request_id {request_id!r} was already used for deployment {deployment!r}; "
                                "send a unique id per request (feedback joins on it).")
        recent[request_id] = rows
        if len(recent) > RECENT_IDS:
            recent.popitem(last=False)


def state_of(connection: HTTPConnection) -> ServerState:
    """The state of the app a request reached (set by the app's lifespan before it serves)."""
    state: ServerState = connection.app.state.serving
    return state


def started_state(app: Starlette) -> ServerState | None:
    """The state of ``app`` (the FastAPI app) once its lifespan has made it, else None (still starting)."""
    state: ServerState | None = getattr(app.state, "serving", None)
    return state


def access_of(connection: HTTPConnection) -> Access:
    """The screen of the app a request reached (the app factory puts it on ``app.state.access``)."""
    access: Access = connection.app.state.access
    return access
