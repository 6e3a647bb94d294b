"""Where ``shipyard repro`` records its stage runs: the local store, or the team server a tracking URI names.

A stage run holds the same things either way (params, the numbers of its metrics files, the ``shipyard.dep.*`` /
``shipyard.out.*`` hash tags lineage walks, ``stage.json``, the git commit of the workspace); only the transport
differs, as for the fluent API (``tracking/fluent.py``). The data cache and the outputs stay in the workspace's
own store in both cases: they are the workspace's, not the team's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..store import Store
from ..tracking import artifacts as run_artifacts, runs as run_records
from ..tracking.metrics import PointBuffer, writer_for
from ..tracking.remote import RemoteTracker, tracking_server


class StageRuns(Protocol):
    """The tracking calls a pipeline run makes for each stage it executes.

    ``create`` records the git state of ``workdir`` with the run; ``metrics`` is the buffer metric points go to,
    sent by ``end`` at the latest; ``end`` takes FINISHED, FAILED or KILLED.
    """

    def create(self, *, experiment: str, name: str, tags: dict[str, str], workdir: Path) -> str: ...

    def log_params(self, run_id: str, values: dict[str, Any]) -> None: ...

    def set_tags(self, run_id: str, values: dict[str, str]) -> None: ...

    def metrics(self) -> PointBuffer: ...

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None: ...

    def end(self, run_id: str, status: str, error: str | None = None) -> None: ...


class StoreStageRuns:
    """Stage runs in a local store (the default)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, *, experiment: str, name: str, tags: dict[str, str], workdir: Path) -> str:
        return run_records.create_run(self.store, experiment=experiment, name=name, tags_=tags, workdir=workdir)

    def log_params(self, run_id: str, values: dict[str, Any]) -> None:
        run_records.log_params(self.store, run_id, values)

    def set_tags(self, run_id: str, values: dict[str, str]) -> None:
        run_records.set_tags(self.store, run_id, values)

    def metrics(self) -> PointBuffer:
        return writer_for(self.store)

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None:
        run_artifacts.log_bytes(self.store, run_id, data, artifact_path)

    def end(self, run_id: str, status: str, error: str | None = None) -> None:
        writer_for(self.store).flush()
        run_records.end_run(self.store, run_id, status, error)


class ServerStageRuns:
    """Stage runs on a team server (``SHIPYARD_TRACKING_URI``)."""

    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    def create(self, *, experiment: str, name: str, tags: dict[str, str], workdir: Path) -> str:
        return self.tracker.create_run(experiment=experiment, name=name, tags=tags, parent_id=None, workdir=workdir)

    def log_params(self, run_id: str, values: dict[str, Any]) -> None:
        self.tracker.log_params(run_id, values)

    def set_tags(self, run_id: str, values: dict[str, str]) -> None:
        self.tracker.set_tags(run_id, values)

    def metrics(self) -> PointBuffer:
        return self.tracker.metrics

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> None:
        self.tracker.log_bytes(run_id, data, artifact_path)

    def end(self, run_id: str, status: str, error: str | None = None) -> None:
        self.tracker.end_run(run_id, status, error)  # sends the run's buffered points first


def stage_runs_for(store: Store) -> StageRuns:
    """The tracking server's stage runs when a tracking URI is set, else ``store``'s."""
    tracker = tracking_server()
    return ServerStageRuns(tracker) if tracker is not None else StoreStageRuns(store)
