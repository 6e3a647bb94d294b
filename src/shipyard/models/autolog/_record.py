"""Writing one captured fit: the run it goes to, its params, metrics, inputs, artifacts and model.

Shared by every library's patches. Runs autologging creates itself are backdated to the fit's own start
and end, so a run's duration is the training time, not the time its record waited in the queue.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...store import Store, current_store
from ...tracking import artifacts as run_artifacts, datasets, fluent, runs
from ...tracking.experiments import DEFAULT_EXPERIMENT
from ...tracking.metrics import writer_for
from ...tracking.remote import RemoteTracker, tracking_server
from ...tracking.validation import MAX_PARAM_LENGTH
from ..package import log_model
from . import _data
from ._deferred import warn
from ._settings import claimed_lock, claimed_runs, settings


@dataclass
class Destination:
    """Where a fit is recorded, decided when it returns: into ``run_id`` (the active run, for its first
    autologged fit), else into a new run under ``parent_id`` (later fits in that run), else a new run."""

    run_id: str | None
    parent_id: str | None
    experiment: str | None


def destination() -> Destination:
    """Decided in the fitting thread (microseconds): the active run there is what the user meant."""
    active = fluent.active_run()
    hint = active.id if active is not None else os.environ.get("SHIPYARD_RUN_ID")
    experiment = active.experiment if active is not None else settings.experiment
    if not hint:
        return Destination(None, None, experiment)
    with claimed_lock:
        if hint not in claimed_runs:
            claimed_runs.add(hint)
            return Destination(hint, None, experiment)
    return Destination(None, hint, experiment)


@dataclass
class Snapshot:
    """The fitted model as it was when ``fit`` returned (the loop may refit the same object next)."""

    data: bytes | None = None
    kept: Any = None

    @classmethod
    def of(cls, model: Any) -> Snapshot:
        try:
            return cls(data=pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # a lambda inside, say: keep the object itself (a later refit would show)
            return cls(kept=model)

    def restore(self) -> Any:
        # Bytes this process pickled a moment ago, never read from anywhere else.
        return pickle.loads(self.data) if self.data is not None else self.kept


@dataclass
class TrainingData:
    X: Any
    y: Any
    fingerprint: str | None = field(default=None)

    @classmethod
    def of(cls, X: Any, y: Any) -> TrainingData:
        return cls(X, y, _data.fingerprint(X))

    def unchanged(self) -> bool:
        return self.fingerprint is not None and _data.fingerprint(self.X) == self.fingerprint


def estimator_tags(library: str, model: Any) -> dict[str, str]:
    """The tags every autologged run carries: which integration logged it, and the class of the model it fitted."""
    return {"shipyard.autolog": library,
            "shipyard.autolog.estimator": f"{type(model).__module__}.{type(model).__qualname__}"}


class _StoreTarget:
    """Runs of the store this process writes to."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def resolve(self, run_id: str) -> str:
        return runs.resolve_run_id(self.store, run_id)

    def experiment_of(self, run_id: str) -> str:
        return runs.get_run(self.store, run_id).experiment

    def create(self, experiment: str, tags: dict[str, str], parent_id: str | None, start_ms: int) -> str:
        return runs.create_run(self.store, experiment=experiment, tags_=tags, parent_id=parent_id, start_ms=start_ms)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        runs.set_tags(self.store, run_id, tags)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        runs.log_params(self.store, run_id, params)

    def add_point(self, run_id: str, key: str, value: float, step: int | None, timestamp_ms: int) -> None:
        writer_for(self.store).add(run_id, key, value, step, timestamp_ms)

    def log_bytes(self, run_id: str, data: bytes, path: str) -> None:
        run_artifacts.log_bytes(self.store, run_id, data, path)

    def end(self, run_id: str | None, end_ms: int) -> None:
        writer_for(self.store).flush()
        if run_id is not None:
            runs.end_run(self.store, run_id, runs.FINISHED, end_ms=end_ms)


class _ServerTarget:
    """Runs of the team server ``SHIPYARD_TRACKING_URI`` names: the same records, sent through its API."""

    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    def resolve(self, run_id: str) -> str:
        return self.tracker.resolve_run_id(run_id)

    def experiment_of(self, run_id: str) -> str:
        return self.tracker.get_run(run_id).experiment

    def create(self, experiment: str, tags: dict[str, str], parent_id: str | None, start_ms: int) -> str:
        return self.tracker.create_run(experiment=experiment, name=None, tags=tags, parent_id=parent_id,
                                       start_ms=start_ms)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.tracker.set_tags(run_id, tags)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        self.tracker.log_params(run_id, params)

    def add_point(self, run_id: str, key: str, value: float, step: int | None, timestamp_ms: int) -> None:
        self.tracker.metrics.add(run_id, key, value, step, timestamp_ms)

    def log_bytes(self, run_id: str, data: bytes, path: str) -> None:
        self.tracker.log_bytes(run_id, data, path)

    def end(self, run_id: str | None, end_ms: int) -> None:
        if run_id is None:
            self.tracker.flush()
        else:
            self.tracker.end_run(run_id, runs.FINISHED, None, end_ms=end_ms)  # sends the points first


class RunWriter:
    """Opens the destination's run, writes into it, and ends it if autologging created it. The run lives where the
    user's own runs do: the current store, or the team server when a tracking URI is set."""

    def __init__(self, target: _StoreTarget | _ServerTarget, run_id: str, end_ms: int, *, owned: bool) -> None:
        self.target, self.run_id, self.end_ms, self.owned = target, run_id, end_ms, owned

    @classmethod
    def open(cls, where: Destination, start_ms: int, end_ms: int, tags: dict[str, str]) -> RunWriter:
        """The destination's run: the existing one (tagged), or a new one backdated to ``start_ms``."""
        tracker = tracking_server()
        target = _ServerTarget(tracker) if tracker is not None else _StoreTarget(current_store())
        if where.run_id is not None:
            run_id = target.resolve(where.run_id)
            target.set_tags(run_id, tags)
            return cls(target, run_id, end_ms, owned=False)
        parent = target.resolve(where.parent_id) if where.parent_id else None
        experiment = where.experiment or os.environ.get(fluent.EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
        if parent is not None and where.experiment is None:
            experiment = target.experiment_of(parent)
        run_id = target.create(experiment, tags, parent, start_ms)
        return cls(target, run_id, end_ms, owned=True)

    def child(self, tags: dict[str, str], experiment: str) -> RunWriter:
        """A new run under this one (a search's candidate), at this run's end time."""
        run_id = self.target.create(experiment, tags, self.run_id, self.end_ms)
        return RunWriter(self.target, run_id, self.end_ms, owned=True)

    def params(self, values: dict[str, Any]) -> None:
        self.target.log_params(self.run_id, {key: _param_text(value) for key, value in values.items()})

    def metrics(self, values: dict[str, float], step: int | None = None) -> None:
        for key, value in values.items():
            self.target.add_point(self.run_id, key, float(value), step, self.end_ms)

    def series(self, key: str, values: Iterable[float]) -> None:
        """One metric's value per iteration (steps 0, 1, ...)."""
        for step, value in enumerate(values):
            self.target.add_point(self.run_id, key, float(value), step, self.end_ms)

    def dataset(self, role: str, data: TrainingData) -> None:
        if data.fingerprint is None:
            return
        if not data.unchanged():
            warn(f"the {role} data of run {self.run_id[:8]} changed after fit returned; its hash is not recorded.")
            return
        digest, rows, columns = _data.describe(data.X, data.fingerprint)
        self.target.set_tags(self.run_id, datasets.dataset_tags(role, digest, rows, columns))

    def artifact(self, data: bytes, path: str) -> None:
        self.target.log_bytes(self.run_id, data, path)

    def model(self, model: Any, data: TrainingData) -> None:
        """The model as a package (``log_model``) with the training data as its example and profile."""
        if not settings.log_models:
            return
        if data.fingerprint is None:
            warn(f"the model of run {self.run_id[:8]} was not logged: its training data is neither a DataFrame nor "
                 "a numeric array, so no signature or profile can be made from it; log it with shipyard.log_model.")
            return
        if not data.unchanged():
            warn(f"the training data of run {self.run_id[:8]} changed after fit returned; the model is not logged.")
            return
        try:
            log_model(model, "model", input_example=data.X, y_example=data.y, run_id=self.run_id)
        except Exception as exc:
            warn(f"the model of run {self.run_id[:8]} ({type(model).__name__}) was not logged: "
                 f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.target.end(self.run_id if self.owned else None, self.end_ms)


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if not isinstance(value, (int, float, bool)) else str(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."
