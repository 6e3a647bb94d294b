"""The API users call: ``start_run`` and ``log_*`` with an implicit active run.

The active run lives in a ``ContextVar`` stack, so concurrent asyncio tasks each see their own. Threads
start with an empty context; for them (a training callback thread, a data loader) the most recent run
this process started and has not ended is the active one, as MLflow users expect.

Logging with no active run starts one implicitly (experiment ``$SHIPYARD_EXPERIMENT`` or "Default"); it
ends at interpreter exit, FINISHED, or FAILED when the program died of an uncaught exception.

Ctrl-C (SIGINT) and SIGTERM end the process's runs KILLED with every buffered point written; for SIGTERM
see :mod:`._termination`, installed when the first run starts.

With ``SHIPYARD_TRACKING_URI`` (or :func:`set_tracking_uri`) a run is created on that team server instead, and
every call on it goes there (:mod:`.remote`); the run remembers where it lives, so ``log_metric`` costs the same.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..errors import ConflictError, TrackingServerError
from ..store import Store, current_store, set_store as _set_store
from . import (
    _termination,
    _uncaught,
    artifacts as _artifacts,
    pending,
    remote_artifacts,
    remote_queries,
    runs as _runs,
    search as _search,
)
from ._names import random_run_name
from .experiments import DEFAULT_EXPERIMENT, Experiment, list_experiments as _list_experiments
from .heartbeat import heartbeat_for
from .metrics import flush_all, metric_history as _metric_history, writer_for
from .remote import AwayServers, RemoteTracker, tracking_server

if TYPE_CHECKING:
    import pandas as pd

EXPERIMENT_ENV = "SHIPYARD_EXPERIMENT"


class ActiveRun:
    """A run this process is logging to. Use it as a context manager; ``id`` is its run id."""

    def __init__(self, run_id: str, name: str, experiment: str, *, implicit: bool = False,
                 owned: bool = True, remote: RemoteTracker | None = None) -> None:
        self.id = run_id
        self.remote = remote  # the team server the run lives on, None for the local store
        self.name = name
        self.experiment = experiment
        self.implicit = implicit
        self.owned = owned  # False when joining a run someone else (a pipeline stage) will end
        self.ended = False

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            _end(self, _runs.FINISHED, None)
        elif isinstance(exc, KeyboardInterrupt):
            _end(self, _runs.KILLED, "KeyboardInterrupt")
        else:
            _end(self, _runs.FAILED, _uncaught.describe(exc))

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id[:8]} {self.name!r} in {self.experiment!r}>"


_stack: ContextVar[tuple[ActiveRun, ...]] = ContextVar("shipyard_active_runs", default=())
_process_runs: list[ActiveRun] = []
_process_lock = threading.Lock()


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    *,
    tags: dict[str, Any] | None = None,
    parent: str | ActiveRun | None = None,
    nested: bool | None = None,
    run_id: str | None = None,
) -> ActiveRun:
    """Start a run (or resume one) and make it the active run.

    Args:
        experiment: experiment name; defaults to ``$SHIPYARD_EXPERIMENT``, the parent's experiment, or
            "Default". Created on first use.
        name: run name; a friendly random one when omitted.
        tags: initial tags.
        parent: parent run (id or ActiveRun) for sweeps. Inside another ``with start_run()`` the
            enclosing run becomes the parent unless ``nested=False``.
        nested: ``False`` refuses to start inside an active run instead of nesting.
        run_id: log into this existing run instead of creating one. A RUNNING run is joined (its owner
            ends it; several processes can share it); an ended run is resumed and ended again by this
            one. ``$SHIPYARD_RUN_ID`` joins the same way: pipeline stages hand their run to their code so.

    Returns:
        The :class:`ActiveRun`; use it in a ``with`` block so it ends FINISHED or FAILED.

    Raises:
        ConflictError: an active run exists and ``nested=False``.
        NotFoundError: ``parent`` or ``run_id`` does not exist.
    """
    remote = tracking_server()  # None: the local store, opened on first use
    enclosing = active_run()
    joined = run_id or (os.environ.get("SHIPYARD_RUN_ID") if enclosing is None else None)
    if joined:
        run = remote.get_run(joined) if remote is not None else _runs.get_run(current_store(), joined)
        # A RUNNING run belongs to whoever started it (a pipeline stage, a parent process): join it without
        # ending it. A run that already ended is resumed, and this process ends it again.
        resumed = run_id is not None and run.status != _runs.RUNNING
        if resumed:
            remote.reopen(run.id) if remote is not None else _runs.reopen(current_store(), run.id)
        active = ActiveRun(run.id, run.name, run.experiment, owned=resumed, remote=remote)
        _push(active)
        return active
    if enclosing is not None and nested is False:
        raise ConflictError(f"Run {enclosing.id[:8]} is still active; end it first or pass nested=True.")
    parent_id: str | None = None
    if isinstance(parent, ActiveRun):
        parent_id = parent.id
    elif parent is not None:
        parent_id = remote.resolve_run_id(parent) if remote is not None else \
            _runs.resolve_run_id(current_store(), parent)
    elif enclosing is not None:
        parent_id = enclosing.id
    if experiment is None:
        experiment = (enclosing.experiment if enclosing is not None and parent_id == enclosing.id else None) \
            or os.environ.get(EXPERIMENT_ENV) or DEFAULT_EXPERIMENT
    name = name or random_run_name()
    if remote is not None:
        new_id = remote.create_run(experiment=experiment, name=name, tags=tags, parent_id=parent_id)
    else:
        new_id = _runs.create_run(current_store(), experiment=experiment, name=name, tags_=tags, parent_id=parent_id)
    active = ActiveRun(new_id, name, experiment, remote=remote)
    _push(active)
    return active


def set_store(location: str | os.PathLike[str] | None = None, *, database: str | None = None,
              objects: str | None = None) -> Store | None:
    """Use this store for the rest of the process (no arguments: back to ``SHIPYARD_*`` and discovery).

    Metric points still buffered for the previous store are written to it first.

    Args:
        location: a store directory (``.shipyard``), or a database URI such as ``postgresql+psycopg://…``.
        database: the metadata database, anything SQLAlchemy reaches (``sqlite:///…/meta.db``,
            ``postgresql+psycopg://user@host/db``); default the folder's ``meta.db``.
        objects: where objects go: a folder or ``s3://bucket/prefix`` (credentials and endpoint from the standard
            AWS variables and files, ``AWS_ENDPOINT_URL`` included); default the folder's ``objects/``.

    Returns:
        The opened store, or ``None`` when returning to discovery.

    Raises:
        ConfigError: the parts do not make a store (a database URI and nowhere named for the objects).
        MissingExtraError: an ``s3://`` object store without s3fs (the ``s3`` extra).
    """
    flush_all()
    return _set_store(location, database=database, objects=objects)


def end_run(status: str = "FINISHED") -> None:
    """End the active run (FINISHED unless told otherwise); does nothing when no run is active."""
    run = active_run()
    if run is not None:
        _end(run, status, None)


def active_run() -> ActiveRun | None:
    """The run that ``log_*`` calls go to now, or ``None`` (this context first, then this process)."""
    stack = _stack.get()
    for run in reversed(stack):
        if not run.ended:
            return run
    with _process_lock:
        for run in reversed(_process_runs):
            if not run.ended:
                return run
    return None


def log_param(key: str, value: Any) -> None:
    """Record one input of the run; see :func:`log_params`."""
    log_params({key: value})


def log_params(params: dict[str, Any]) -> None:
    """Record the run's inputs. A param keeps its first value: logging a different one is an error."""
    run = _run_for_logging()
    if run.remote is not None:
        _here(run.remote).log_params(run.id, params)
    else:
        _runs.log_params(current_store(), run.id, params)


def log_metric(key: str, value: float, step: int | None = None, *, timestamp_ms: int | None = None) -> None:
    """Record one metric point. Without ``step`` the key's previous step + 1 is used (from 0).

    Points are buffered and written in the background; see :func:`flush`.
    """
    run = _run_for_logging()
    (writer_for(current_store()) if run.remote is None else _here(run.remote).metrics).add(
        run.id, key, value, step, timestamp_ms)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Record several metrics at one step (each key's next step when ``step`` is omitted)."""
    run = _run_for_logging()
    writer = writer_for(current_store()) if run.remote is None else _here(run.remote).metrics
    for key, value in metrics.items():
        writer.add(run.id, key, value, step)


def set_tag(key: str, value: Any) -> None:
    """Label the run; unlike params, tags may be changed later."""
    set_tags({key: value})


def set_tags(tags: dict[str, Any]) -> None:
    """Label the run with several tags at once; existing keys are overwritten."""
    run = _run_for_logging()
    if run.remote is not None:
        _here(run.remote).set_tags(run.id, tags)
    else:
        _runs.set_tags(current_store(), run.id, tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> list[str]:
    """Store a file or directory as artifacts of the active run; returns the artifact paths."""
    run = _run_for_logging()
    if run.remote is not None:
        return _here(run.remote).log_artifact(run.id, local_path, artifact_path)
    return _artifacts.log_artifact(current_store(), run.id, local_path, artifact_path)


def log_text(text: str, artifact_path: str) -> str:
    """Store a string as an artifact (a report, a long value that is no param); returns its path."""
    return _log_bytes(text.encode(), artifact_path)


def log_dict(value: dict[str, Any], artifact_path: str) -> str:
    """Store a dictionary as a JSON artifact; returns its path."""
    data = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
    return _log_bytes(data, artifact_path)


def _log_bytes(data: bytes, artifact_path: str) -> str:
    run = _run_for_logging()
    if run.remote is not None:
        return _here(run.remote).log_bytes(run.id, data, artifact_path)
    return _artifacts.log_bytes(current_store(), run.id, data, artifact_path)


def flush() -> int:
    """Write buffered metric points (and records autologging deferred) now; returns how many points."""
    pending.drain()
    remote = tracking_server()
    if remote is not None:
        return remote.flush()
    return writer_for(current_store()).flush()


def get_run(run_id: str) -> _runs.Run:
    """The run with this id (or unique id prefix): params, latest metrics, tags, status, times, lineage."""
    pending.drain()
    remote = tracking_server()
    if remote is not None:
        return remote_queries.get_run(remote, run_id)
    store = current_store()
    writer_for(store).flush()
    return _runs.get_run(store, run_id)


def metric_history(run_id: str, key: str) -> pd.DataFrame:
    """Every point of one metric of a run: a DataFrame with step, value and timestamp."""
    pending.drain()
    remote = tracking_server()
    if remote is not None:
        return remote.metric_history(run_id, key)
    store = current_store()
    return _metric_history(store, _runs.resolve_run_id(store, run_id), key)


def search_runs(
    experiment: str | list[str] | None = None,
    filter: str | None = None,
    order_by: list[str] | str | None = None,
    max_results: int = 1000,
) -> pd.DataFrame:
    """Runs matching a filter such as ``"metrics.auc > 0.8 and params.penalty = 'l2'"``, as a DataFrame.

    Args:
        experiment: one experiment name or several; all experiments when omitted.
        filter: conditions on ``metrics.``, ``params.``, ``tags.`` and ``attributes.`` joined with
            ``and``/``or`` (see :mod:`shipyard.tracking.filters`).
        order_by: e.g. ``["metrics.auc DESC", "attributes.start_time"]``; newest first by default.
        max_results: at most this many rows.
    """
    pending.drain()
    if (remote := tracking_server()) is not None:
        return remote_queries.search_runs(remote, experiment, filter, order_by, max_results)
    store = current_store()
    writer_for(store).flush()
    return _search.search_runs(store=store, experiment=experiment, filter=filter, order_by=order_by,
                               max_results=max_results)


def list_experiments() -> list[Experiment]:
    """Every experiment in the store (or on the tracking server) with its run count, by name."""
    remote = tracking_server()
    return remote_queries.list_experiments(remote) if remote else _list_experiments(current_store())


def list_artifacts(run_id: str) -> list[dict[str, Any]]:
    """The run's artifacts as ``{"path", "hash", "size"}`` dicts, by path."""
    pending.drain()
    if (remote := tracking_server()) is not None:
        return remote_artifacts.list_artifacts(remote, run_id)
    store = current_store()
    return _artifacts.list_artifacts(store, _runs.resolve_run_id(store, run_id))


def download_artifacts(run_id: str, dest: str | os.PathLike[str], artifact_path: str | None = None) -> Any:
    """Copy a run's artifacts (or one file or folder of them) under ``dest``; every file is verified."""
    if (remote := tracking_server()) is not None:
        return remote_artifacts.download_artifacts(remote, run_id, dest, artifact_path)
    store = current_store()
    return _artifacts.download_artifacts(store, _runs.resolve_run_id(store, run_id), dest, artifact_path)


def read_artifact(run_id: str, artifact_path: str) -> bytes:
    """The bytes of one artifact, verified against their hash (IntegrityError if they changed)."""
    if (remote := tracking_server()) is not None:
        return remote_artifacts.read_artifact(remote, run_id, artifact_path)
    store = current_store()
    return _artifacts.read_artifact(store, _runs.resolve_run_id(store, run_id), artifact_path)


def _here(remote: RemoteTracker) -> RemoteTracker:
    """The run's tracker, or this process's own after a fork (a forked child has no sender thread of its own)."""
    return remote if remote.pid == os.getpid() else (tracking_server() or remote)


def _run_for_logging() -> ActiveRun:
    run = active_run()
    if run is not None:
        return run
    run = start_run()
    run.implicit = True
    _uncaught.install()
    return run


def _push(run: ActiveRun) -> None:
    _stack.set((*_stack.get(), run))
    with _process_lock:
        _process_runs.append(run)
    _termination.install(_end_runs_on_signal)


def _end(run: ActiveRun, status: str, error: str | None) -> None:
    if run.ended:
        return
    _runs.check_status(status)
    pending.drain()  # what autologging deferred for this run is written before the run ends
    try:
        if run.remote is not None:
            if run.owned:
                _here(run.remote).end_run(run.id, status, error)
            else:
                _here(run.remote).flush()
        elif run.owned:
            store = current_store()
            writer_for(store).flush(also=lambda conn: _runs.mark_ended(conn, run.id, status, error))
            heartbeat_for(store).release(run.id)
        else:
            writer_for(current_store()).flush()
    finally:
        run.ended = True
        _stack.set(tuple(item for item in _stack.get() if item is not run))
        with _process_lock:
            if run in _process_runs:
                _process_runs.remove(run)


def _end_runs_at_exit() -> None:
    with _process_lock:
        remaining = [run for run in _process_runs if not run.ended]
    last = _uncaught.last()  # a KeyboardInterrupt: the status of a with-block interrupted
    status, error = ((_runs.KILLED, "KeyboardInterrupt") if isinstance(last, KeyboardInterrupt)
                     else (_runs.FAILED, _uncaught.describe(last)) if last is not None else (_runs.FINISHED, None))
    _end_or_keep([(run, status, error) for run in reversed(remaining)])


def _end_runs_on_signal(reason: str) -> None:
    """Every run this process has open ends KILLED with ``reason``, its buffered points written first."""
    with _process_lock:
        remaining = [run for run in _process_runs if not run.ended]
    AwayServers.hurry(_termination.GRACE_S / 3)  # keep what a server does not take before the grace runs out
    _end_or_keep([(run, _runs.KILLED, reason) for run in reversed(remaining)])  # the innermost first


def _end_or_keep(endings: list[tuple[ActiveRun, str, str | None]]) -> None:
    """End each run and write every buffered point, as a process leaves; what a tracking server away past the
    retries did not take is kept on disk for the next process (:class:`.remote.AwayServers`)."""
    away = AwayServers()
    for run, status, error in endings:
        try:
            _end(run, status, error)
        except TrackingServerError:
            if run.remote is not None and run.owned:
                away.add(_here(run.remote), (run.id, status, error))
        except Exception as exc:
            print(f"shipyard: could not end run {run.id[:8]} at exit: {exc}", file=sys.stderr)
    try:
        flush_all()
    except Exception as exc:
        print(f"shipyard: metrics could not be written at exit: {exc}", file=sys.stderr)
    away.flush_or_keep()


atexit.register(_end_runs_at_exit)

