"""Tracking through a team server: ``SHIPYARD_TRACKING_URI=http://host:5000`` (or ``set_tracking_uri``) + a token.

With a tracking URI set, the fluent API (``start_run``, ``log_*``, ``end_run``...) talks to ``shipyard server``'s
own API (``/api/shipyard/v1``) instead of opening a local store; nothing else in a training script changes.

- The client chooses each run's id, so a create that is retried names the same run.
- Params, tags and run ends are sent at once (they are rare); metric points are buffered and sent in batches by a
  background sender (:mod:`.remote_metrics`).
- Every write carries an idempotency key kept for its retries (:mod:`shipyard.store.http_client` retries with
  backoff): a server restart in the middle of logging loses and duplicates nothing.
- Artifacts are uploaded through the server (no storage credentials on the client), hashed before they leave and
  compared with the hash the server computed on arrival.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TrackingServerError
from ..store.hashing import hash_bytes, hash_file
from ..store.http_client import HttpClient, new_key, quote_path
from ..store.reaper import heartbeat_interval_s
from . import provenance, spool
from ._folder import files_to_log
from ._names import random_run_name
from .artifact_paths import check_artifact_path
from .metrics import flush_in_forked_workers
from .remote_metrics import MetricSender
from .runs import Run, check_run_id, check_status
from .validation import MAX_PARAM_LENGTH, MAX_TAG_LENGTH, check_key, check_name, check_text

if TYPE_CHECKING:
    import pandas as pd

TRACKING_URI_ENV = "SHIPYARD_TRACKING_URI"
TOKEN_ENV = "SHIPYARD_TOKEN"
_API = "/api/shipyard/v1"
_HASH_HEADER = "X-Shipyard-Content-Hash"


class RemoteTracker:
    """The runs of one tracking server, as the fluent API uses them."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.client = HttpClient(url, token)
        self.metrics = MetricSender(self.client)
        self.pid = os.getpid()
        self._open_runs: set[str] = set()  # the runs this process beats for (see beat)
        self._beats_lock = threading.Lock()
        self._beating: threading.Thread | None = None
        self._replay: threading.Thread | None = None
        if spool.waiting(url):  # what an earlier process kept for this server goes first, in the background
            self._replay = threading.Thread(target=self._send_kept, name="shipyard-spool-replay", daemon=True)
            self._replay.start()

    def _send_kept(self) -> None:
        try:
            delivered, refused = spool.replay(self.client, self.url)
        except Exception as exc:  # the server is away again: the files stay for a later process
            print(f"shipyard: points kept for {self.url} could not be sent yet ({exc}).", file=sys.stderr)
            return
        if refused:
            print(f"shipyard: {self.url} refused {refused} of the {delivered + refused} requests an earlier process "
                  "kept for it (a revoked token or a deleted run).", file=sys.stderr)

    def wait_for_kept(self) -> None:
        """Let the requests earlier processes kept for this server arrive before this process's own (read order)."""
        replay = self._replay
        if replay is not None and replay is not threading.current_thread():
            replay.join()

    def keep_for_later(self, ended: list[tuple[str, str, str | None]]) -> tuple[Path | None, int]:
        """At exit, with the server away: keep every unsent point and the end of each run in ``ended`` (run id,
        status, error) on disk for the next process (:mod:`.spool`); returns the file and the points kept."""
        points = self.metrics.take_unsent()
        count = sum(len(request["body"]["points"]) for request in points)
        ends = [self._end_request(run_id, status, error, None) for run_id, status, error in ended]
        return spool.keep(self.url, points + ends), count

    def create_run(self, *, experiment: str, name: str | None, tags: dict[str, Any] | None, parent_id: str | None,
                   start_ms: int | None = None, workdir: Path | None = None) -> str:
        """A new run (a random name when ``name`` is None), started now or at ``start_ms`` (autologging backdates).

        The git state of ``workdir`` (default: the working directory) goes with it, as a local run records it: the
        server cannot see the client's code.
        """
        run_id = uuid.uuid4().hex
        git = provenance.git_state(workdir)
        body = {"run_id": run_id, "experiment": check_name(experiment, "experiment"),
                "name": check_name(name if name is not None else random_run_name(), "run"),
                "tags": _texts(tags or {}, "tag", MAX_TAG_LENGTH), "parent_id": parent_id,
                "start_time": start_ms if start_ms is not None else _now_ms(),
                "command": " ".join(sys.argv)[:4000] or None,
                "git": None if git is None else {"root": git.root, "commit": git.commit, "branch": git.branch,
                                                 "dirty": git.dirty, "diff_hash": git.diff_hash},
                "heartbeat": True}
        self.client.call("POST", f"{_API}/runs", body, key=new_key())
        self._own(run_id)
        return run_id

    def get_run(self, run_id: str) -> Run:
        self.metrics.flush()  # read-your-writes
        document = self.client.call("GET", f"{_API}/runs/{check_run_id(self.resolve_run_id(run_id))}")["run"]
        return run_from_json(document)

    def resolve_run_id(self, run_id: str) -> str:
        """The whole id ``run_id`` names, which may be any unique prefix: the server resolves it with the store's
        own rule, so an unknown prefix is a NotFoundError and one matching several runs an AmbiguousError, as
        locally."""
        from urllib.parse import quote

        text = str(run_id).strip().lower()
        try:
            return check_run_id(text)
        except ValueError:
            pass
        answer = self.client.call("GET", f"{_API}/query/run-ids/{quote(text or '-', safe='')}")
        return check_run_id(str(answer["run_id"]))

    def reopen(self, run_id: str) -> None:
        self.client.call("POST", f"{_API}/runs/{run_id}/resume", {"heartbeat": True}, key=new_key())
        self._own(run_id)

    def _own(self, run_id: str) -> None:
        """Beat for ``run_id`` until it ends: a process killed with SIGKILL stops beating, and the server's reaper
        ends its runs KILLED after the heartbeat timeout (``tracking/heartbeat.py``)."""
        with self._beats_lock:
            self._open_runs.add(run_id)
            if self._beating is None:
                interval = heartbeat_interval_s()  # a bad setting is a ConfigError here, not in the thread
                self._beating = threading.Thread(target=self._beat_forever, args=(interval,),
                                                 name="shipyard-remote-heartbeat", daemon=True)
                self._beating.start()

    def beat(self) -> int:
        """Tell the server this process still runs its open runs; returns how many it still holds RUNNING."""
        with self._beats_lock:
            run_ids = sorted(self._open_runs)
        if not run_ids:
            return 0
        return int(self.client.call("POST", f"{_API}/heartbeat", {"run_ids": run_ids})["running"])

    def _beat_forever(self, interval: float) -> None:
        import time

        while True:  # a daemon thread: it ends with the process
            time.sleep(interval)
            try:
                self.beat()
            except Exception as exc:  # the server away past the retries: the next beat tries again
                print(f"shipyard: could not send a heartbeat to {self.url} ({exc}); will retry.", file=sys.stderr)

    def log_params(self, run_id: str, values: dict[str, Any]) -> None:
        if values:
            self.client.call("POST", f"{_API}/runs/{run_id}/params",
                             {"params": _texts(values, "param", MAX_PARAM_LENGTH)}, key=new_key())

    def set_tags(self, run_id: str, values: dict[str, Any]) -> None:
        if values:
            self.client.call("POST", f"{_API}/runs/{run_id}/tags", {"tags": _texts(values, "tag", MAX_TAG_LENGTH)},
                             key=new_key())

    def end_run(self, run_id: str, status: str, error: str | None, end_ms: int | None = None) -> None:
        """Send the run's last points, then end it (FINISHED, FAILED or KILLED), now or at ``end_ms``."""
        check_status(status)
        self.flush()
        request = self._end_request(run_id, status, error, end_ms)
        self.client.call(request["method"], request["path"], request["body"], key=request["key"])
        with self._beats_lock:
            self._open_runs.discard(run_id)

    @staticmethod
    def _end_request(run_id: str, status: str, error: str | None, end_ms: int | None) -> dict[str, Any]:
        return {"method": "POST", "path": f"{_API}/runs/{run_id}/end", "key": new_key(),
                "body": {"status": status, "error": error, "end_time": end_ms if end_ms is not None else _now_ms()}}

    def flush(self) -> int:
        self.wait_for_kept()
        return self.metrics.flush()

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None) -> list[str]:
        entries = files_to_log(local_path, artifact_path)
        for path, name in entries:
            self._upload(run_id, name, hash_file(path), path.stat().st_size, partial(open, path, "rb"))
        return [name for _, name in entries]

    def log_bytes(self, run_id: str, data: bytes, artifact_path: str) -> str:
        import io

        name = check_artifact_path(artifact_path)
        self._upload(run_id, name, hash_bytes(data), len(data), lambda: io.BytesIO(data))
        return name

    def metric_points(self, run_id: str, key: str) -> list[tuple[int, float, int]]:
        """Every ``(step, value, timestamp_ms)`` of one metric, as the server holds it."""
        self.metrics.flush()
        answer = self.client.call("GET", f"{_API}/runs/{check_run_id(run_id)}/metrics/{quote_path(key)}")
        return [(int(step), _float(value), int(stamp)) for step, value, stamp in answer["points"]]

    def metric_history(self, run_id: str, key: str) -> pd.DataFrame:
        """:func:`metric_points` as the DataFrame ``shipyard.metric_history`` returns (step, value, timestamp)."""
        import pandas as pd

        frame = pd.DataFrame(self.metric_points(self.resolve_run_id(run_id), key),
                             columns=["step", "value", "timestamp"])
        frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), unit="ms", utc=True)
        return frame.astype({"step": "int64", "value": "float64"})

    def _upload(self, run_id: str, name: str, digest: str, size: int, open_body: Any) -> None:
        answer = self.client.upload(f"{_API}/runs/{run_id}/artifacts/{quote_path(name)}", open_body, size,
                                    {_HASH_HEADER: digest}, key=new_key())
        if answer.get("hash") != digest:
            from ..errors import IntegrityError

            raise IntegrityError(f"The server stored artifact {name!r} of run {run_id[:8]} under the hash "
                                 f"{str(answer.get('hash'))[:12]}, but the file hashes to {digest[:12]}; log it again.",
                                 object_hash=digest, path=name)


def _texts(values: dict[str, Any], kind: str, limit: int) -> dict[str, str]:
    return {check_key(key, kind): check_text(value, kind, key, limit) for key, value in values.items()}


def _float(value: Any) -> float:
    if value is None:
        return float("nan")
    return float(value)  # "Infinity" and "-Infinity" read as they are


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


def run_from_json(document: dict[str, Any]) -> Run:
    """The run a server sent in ``Run.to_dict``'s form."""

    def when(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    start = when(document["start_time"]) or datetime.now(UTC)
    return Run(id=document["run_id"], experiment=document["experiment"], name=document["name"],
               status=document["status"], start_time=start, end_time=when(document.get("end_time")),
               parent_id=document.get("parent_run_id"), error=document.get("error"),
               params=dict(document.get("params") or {}),
               metrics={key: _float(value) for key, value in (document.get("metrics") or {}).items()},
               tags=dict(document.get("tags") or {}), lineage=dict(document.get("lineage") or {}),
               artifacts=list(document.get("artifacts") or []))


_lock = threading.Lock()
_explicit: list[str | None] = []  # set_tracking_uri's choice ([] = none made: read the environment)
_current: RemoteTracker | None = None
_current_for: tuple[str | None, str | None, int] | None = None  # (uri, token, pid) _current was made for


def set_tracking_uri(uri: str | None) -> None:
    """Track to the server at ``uri`` (``http://host:5000``) for the rest of the process; ``None``: back to
    ``SHIPYARD_TRACKING_URI``, and to the local store when that is unset. The token is ``SHIPYARD_TOKEN``.

    Metric points still buffered for the previous server are sent to it first.
    """
    global _current, _current_for
    with _lock:
        if _current is not None and _current.pid == os.getpid():
            _current.flush()
            _current.client.close()  # this thread's kept-alive connection; a later call would open another
        _explicit[:] = [uri.strip() or None] if uri is not None else []
        _current, _current_for = None, None


def get_tracking_uri() -> str | None:
    """The tracking server this process logs to, or ``None`` for the local store."""
    if _explicit:
        return _explicit[0]
    return os.environ.get(TRACKING_URI_ENV) or None


def tracking_server() -> RemoteTracker | None:
    """The tracker of the configured server, or ``None`` when runs go to the local store (the default)."""
    tracker = _current
    uri = _explicit[0] if _explicit else os.environ.get(TRACKING_URI_ENV)
    if not uri:
        return None
    if tracker is not None and _current_for == (uri, os.environ.get(TOKEN_ENV), os.getpid()):
        return tracker
    return _open(uri)


def flush_tracking_server() -> None:
    """Send the points still buffered for the server (at exit, before a store switch)."""
    tracker = open_tracker()
    if tracker is not None:
        tracker.flush()


def open_tracker() -> RemoteTracker | None:
    """The tracker this process already uses, if any (never opens one: an exit must not start talking to a server)."""
    tracker = _current
    return tracker if tracker is not None and tracker.pid == os.getpid() else None


class AwayServers:
    """The servers a leaving process could not reach past the retries, and the runs it could not end there."""

    def __init__(self) -> None:
        self._away: dict[int, tuple[RemoteTracker, list[tuple[str, str, str | None]]]] = {}

    def add(self, tracker: RemoteTracker, ended: tuple[str, str, str | None] | None = None) -> None:
        """``tracker`` is away; ``ended`` is a run (id, status, error) whose end it did not take."""
        self._away.setdefault(id(tracker), (tracker, []))[1].extend([ended] if ended is not None else [])

    @staticmethod
    def hurry(seconds: float) -> None:
        """Retry this process's server for at most ``seconds`` more (a signal's grace is short)."""
        tracker = open_tracker()
        if tracker is not None:
            tracker.client.retry_deadline_s = min(tracker.client.retry_deadline_s, seconds)

    def flush_or_keep(self) -> None:
        """Send what this process's tracker still holds; keep on disk whatever an away server did not take."""
        current = open_tracker()
        if current is not None and id(current) not in self._away:
            try:
                current.flush()
            except TrackingServerError:
                self.add(current)
            except Exception as exc:
                print(f"shipyard: metrics could not be sent at exit: {exc}", file=sys.stderr)
        for tracker, ended in self._away.values():
            try:
                kept, points = tracker.keep_for_later(ended)
            except Exception as exc:
                print(f"shipyard: the tracking server {tracker.url} is away and what this process logged could not "
                      f"be kept on disk either: {exc}", file=sys.stderr)
                continue
            if kept is not None:
                print(f"shipyard: the tracking server {tracker.url} is away: {points:,} metric points and the end of "
                      f"{len(ended)} run(s) are kept in {kept}; the next Shipyard process that reaches the server "
                      "sends them.", file=sys.stderr)


def _open(uri: str) -> RemoteTracker:
    global _current, _current_for
    flush_in_forked_workers(_flush_quietly)
    with _lock:
        token = os.environ.get(TOKEN_ENV)
        wanted = (uri, token, os.getpid())
        if _current is None or _current_for != wanted:
            if _current is not None and _current.pid == os.getpid():  # left for another server or token: its
                _current.client.close()  # kept-alive socket is closed now, not by the garbage collector
            _current, _current_for = RemoteTracker(uri, token or None), wanted
        return _current


def _flush_quietly() -> None:
    try:
        flush_tracking_server()
    except Exception as exc:
        print(f"shipyard: metrics could not be sent at exit: {exc}", file=sys.stderr)
