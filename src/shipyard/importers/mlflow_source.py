"""What the MLflow importer reads, named once: the records and the :class:`MlflowSource` protocol.

Two sources implement it: :mod:`.mlflow_rest` (any MLflow server, through its REST API) and :mod:`.mlflow_sql`
(a local store's database read directly, with its artifacts folder). Neither needs the ``mlflow`` package.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"


@dataclass(frozen=True)
class MlflowExperiment:
    id: str
    name: str


@dataclass(frozen=True)
class MlflowRun:
    """One MLflow run as the importer needs it: its history comes later, key by key."""

    id: str
    experiment_id: str
    name: str | None
    user: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metric_keys: tuple[str, ...] = ()

    @property
    def parent_id(self) -> str | None:
        return self.tags.get(PARENT_TAG) or None


@dataclass(frozen=True)
class MlflowModelVersion:
    name: str
    version: int
    run_id: str | None
    source: str | None
    storage_location: str | None
    description: str | None


@dataclass(frozen=True)
class MlflowRegisteredModel:
    name: str
    versions: tuple[MlflowModelVersion, ...]
    aliases: dict[str, int] = field(default_factory=dict)


class MlflowSource(Protocol):
    """An MLflow store to read from. Every method raises a :class:`~shipyard.errors.ShipyardError` subclass
    naming the source on failure (an unreachable server, a file that is not an MLflow store), never a foreign
    exception. Deleted experiments and runs are not returned."""

    description: str

    def experiments(self) -> list[MlflowExperiment]: ...

    def runs(self, experiment_id: str) -> Iterator[MlflowRun]: ...

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        """Every ``(step, value, timestamp_ms)`` of one metric, in the order MLflow stored them."""
        ...

    def fetch_artifacts(self, artifact_uri: str, scratch: Path) -> Path | None:
        """A local folder holding every file under ``artifact_uri`` (downloaded into ``scratch`` when remote),
        or None when there is nothing there."""
        ...

    def registered_models(self) -> list[MlflowRegisteredModel]: ...

    def close(self) -> None: ...
