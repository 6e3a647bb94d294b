"""Real models and real servers for the serving tests.

Models are trained once per session into a template store (:func:`build_template`); a test or a module
that needs a store of its own copies that directory (a plain ``copytree`` of ``meta.db`` and the object
folder). Servers are the real CLI, ``python -m shipyard serve``, in a subprocess on ``127.0.0.1`` with
``--port 0``: the URL is read from the line the command prints once it listens, then ``/health/ready`` is
polled with a deadline. Servers are stopped by their PID with SIGTERM.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import yaml

import shipyard
from tests._support import wait_until

FEATURES = ["tenure", "monthly_charges", "contract", "payment"]
TARGET = "churn"
TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}  # what a client sends to choose its own request ids, or to send feedback
_URL_RE = re.compile(r"API docs at (http://127\.0\.0\.1:\d+)/docs")


def churn_frame(size: int = 300, seed: int = 7) -> pd.DataFrame:
    """Seeded synthetic churn data: two numeric columns (one with missing values), two categorical, a 0/1 target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "tenure": rng.integers(1, 72, size),
        "monthly_charges": np.where(rng.random(size) < 0.1, np.nan, rng.uniform(18, 120, size).round(2)),
        "contract": rng.choice(["Month-to-month", "One year", "Two year"], size),
        "payment": rng.choice(["card", "check", "transfer"], size),
    })
    churned = (frame["contract"] == "Month-to-month") & (frame["tenure"] < 30)
    frame[TARGET] = (churned ^ (rng.random(size) < 0.1)).astype(int)
    return frame


@dataclass
class Template:
    """The session's trained store: ``churn`` v1 (logistic regression, @champion), v2 (tree, @challenger)."""

    root: Path
    frame: pd.DataFrame
    models: dict[int, Any]  # version -> shipyard.LoadedModel, loaded once for expected answers

    def copy_to(self, root: Path) -> Path:
        shutil.copytree(self.root, root, dirs_exist_ok=True)
        return root

    def holdout(self, rows: int = 12, seed: int = 99) -> pd.DataFrame:
        """Fresh inputs (not the training rows), with at least one missing monthly_charges."""
        frame = churn_frame(size=rows, seed=seed).drop(columns=[TARGET])
        frame.loc[min(1, rows - 1), "monthly_charges"] = np.nan  # (.loc past the end would add a row)
        return frame

    def probabilities(self, version: int, inputs: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.models[version].predict_proba(inputs), dtype="float64")


def build_pipeline(estimator: Any) -> Any:
    """As the demo builds its models: median imputing and scaling of numbers, one-hot categories, the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    prepare = ColumnTransformer([("numeric", numeric, ["tenure", "monthly_charges"]),
                                 ("categorical", OneHotEncoder(handle_unknown="ignore"), ["contract", "payment"])])
    return Pipeline([("prepare", prepare), ("model", estimator)])


def build_template(root: Path) -> Template:
    """Train, log and register the two models into a new store at ``root`` (about 1.5 s)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    frame = churn_frame()
    inputs, target = frame.drop(columns=[TARGET]), frame[TARGET]
    shipyard.set_store(root)
    try:
        for estimator in (LogisticRegression(max_iter=1000), DecisionTreeClassifier(max_depth=4, random_state=0)):
            pipe = build_pipeline(estimator).fit(inputs, target)
            with shipyard.start_run(experiment="serving-tests"):
                info = shipyard.log_model(pipe, input_example=inputs, y_example=target)
            shipyard.register_model(info.uri, "churn")
        shipyard.set_alias("churn", "champion", 1)
        shipyard.set_alias("churn", "challenger", 2)
        models = {version: shipyard.load_model(f"models:/churn/{version}") for version in (1, 2)}
    finally:
        shipyard.set_store(None)
    return Template(root, frame, models)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready records: NaN becomes null, numpy scalars become Python numbers."""
    return [{name: _plain(value) for name, value in row.items()} for row in frame.to_dict(orient="records")]


def rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [[_plain(value) for value in row] for row in frame.itertuples(index=False)]


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


V2_DATATYPES = {"tenure": "INT64", "monthly_charges": "FP64", "contract": "BYTES", "payment": "BYTES"}


def v2_body(inputs: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    """An Open Inference Protocol request: one input per column, ``shape [N]``."""
    table = records(inputs)
    return {"inputs": [{"name": name, "shape": [len(table)], "datatype": V2_DATATYPES[name],
                        "data": [row[name] for row in table]} for name in FEATURES], **extra}


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Server:
    """A ``shipyard serve`` process; ``url`` is what it announced, ``log_dir`` its prediction log (if set)."""

    proc: subprocess.Popen[bytes]
    url: str
    out: Path
    err: Path
    store: Path
    log_dir: Path | None = None
    stopped_with: int | None = None
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def describe(self) -> str:
        return (f"server pid {self.pid} (exit {self.proc.poll()}):\n--- stdout\n{self.out.read_text()}\n"
                f"--- stderr\n{self.err.read_text()}")

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client for several requests (use it in a ``with`` block)."""
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._shared().get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._shared().post(path, **kwargs)

    def _shared(self) -> httpx.Client:  # one client (and connection) for the server's life: clients are slow to make
        if self._client is None:
            self._client = self.client()
        return self._client

    def close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def stop(self, timeout: float = 45) -> int:
        """SIGTERM by PID and wait for the exit status (killed and failed after ``timeout``)."""
        self.close_client()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.stopped_with = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"the server ignored SIGTERM for {timeout} s:\n{self.describe()}")
        return self.stopped_with


@contextlib.contextmanager
def running_server(args: list[str], *, cwd: Path, store: Path, log_dir: Path | None = None,
                   timeout: float = 90, shipyard: list[str] | None = None,
                   environment: dict[str, str] | None = None, port: int = 0,
                   umask: int | None = None) -> Iterator[Server]:
    """Start ``python -m shipyard serve ARGS`` on ``port`` (a free one by default); yield once
    ``/health/ready`` answers 200.

    ``shipyard`` replaces the ``python -m shipyard`` command (a ``shipyard`` script of another environment),
    ``environment`` this process's environment variables, and ``umask`` this process's umask.
    """
    out, err = cwd / f"server-{time.monotonic_ns()}.out", cwd / f"server-{time.monotonic_ns()}.err"
    env = {**(os.environ if environment is None else environment), "SHIPYARD_STORE": str(store), "COLUMNS": "300",
           "PYTHONUNBUFFERED": "1"}
    command = shipyard or [sys.executable, "-m", "shipyard"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([*command, "serve", *args, "--host", "127.0.0.1", "--port", str(port)], stdout=stdout,
                                stderr=stderr, cwd=cwd, env=env, umask=-1 if umask is None else umask)
    server = Server(proc, "", out, err, store, log_dir)
    try:
        def announced() -> str | None:
            if proc.poll() is not None:
                pytest.fail(f"the server exited before listening:\n{server.describe()}")
            match = _URL_RE.search(out.read_text())
            return match.group(1) if match else None

        server.url = str(wait_until(announced, timeout=timeout, what="the server to announce its URL"))

        with httpx.Client(timeout=2) as probe:
            def ready() -> bool:
                try:
                    return probe.get(f"{server.url}/health/ready").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, timeout=timeout, what="/health/ready to answer 200")
        yield server
    finally:
        server.close_client()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class InProcessServer:
    """The ASGI app of ``create_app`` under a real uvicorn in a thread of this process (lifespan included)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none",
                                timeout_graceful_shutdown=10)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="uvicorn-test", daemon=True)

    def __enter__(self) -> InProcessServer:
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive(), timeout=60,
                   what="the in-process server to start")
        assert self._server.started, "uvicorn stopped during start-up (see the captured log)"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._socket.close()
        assert not self._thread.is_alive(), "the in-process server did not stop"


def log_rows(log_dir: Path, request_ids: set[str], *, deployment: str | None = None, expected: int | None = None,
             timeout: float = 15, **filters: Any) -> pd.DataFrame:
    """The prediction-log rows of ``request_ids``, waiting (with a deadline) until all of them are written."""
    from shipyard.predlog.readers import prediction_log

    def found() -> list[pd.DataFrame]:  # a list: wait_until needs a truthy value, a DataFrame has none
        frame = prediction_log(deployment, log_dir=str(log_dir), **filters)
        if not len(frame):
            return []
        frame = frame[frame["request_id"].isin(request_ids)]
        complete = set(frame["request_id"]) == request_ids and (expected is None or len(frame) >= expected)
        return [frame.reset_index(drop=True)] if complete else []

    return wait_until(found, timeout=timeout, what=f"{len(request_ids)} request ids in the log")[0]


def post_many(url: str, path: str, bodies: list[dict[str, Any]], *, threads: int = 8,
              fresh_connections: bool = False) -> list[tuple[int, Any]]:
    """POST every body from ``threads`` threads (stdlib http.client: a third of httpx's CPU per request, which
    matters with the server on the same two cores); returns ``(status, JSON answer)`` in the bodies' order."""
    from urllib.parse import urlsplit

    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    results: list[tuple[int, Any] | None] = [None] * len(bodies)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            for index in range(offset, len(bodies), threads):
                if fresh_connections:
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                connection.request("POST", path, orjson.dumps(bodies[index]), {"content-type": "application/json"})
                response = connection.getresponse()
                results[index] = (response.status, orjson.loads(response.read()))
        except BaseException as exc:  # reported in the test thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(offset,)) for offset in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    if errors:
        raise errors[0]
    assert all(result is not None for result in results), "a sender thread did not finish"
    return [result for result in results if result is not None]


@dataclass
class Sent:
    """One request of a :class:`Load`: when it started and ended (monotonic), and what came back."""

    request_id: str
    started: float
    ended: float
    status: int | None  # None: no HTTP response at all (connection refused or reset)
    answer: Any = None
    error: str | None = None


class Load:
    """Threads sending single-row requests with unique ids back to back until :meth:`stop`."""

    def __init__(self, url: str, path: str, record: dict[str, Any], *, threads: int = 4,
                 headers: dict[str, str] | None = None) -> None:
        from urllib.parse import urlsplit

        address = urlsplit(url)
        self._host, self._port = address.hostname or "127.0.0.1", address.port or 80
        self._path, self._record = path, record
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._stop = threading.Event()
        self.sent: list[Sent] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(index,), daemon=True) for index in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads), "a load thread hung"

    def answered(self) -> list[Sent]:
        with self._lock:
            return [item for item in self.sent if item.status is not None]

    def _run(self, index: int) -> None:
        connection: http.client.HTTPConnection | None = None
        count = 0
        while not self._stop.is_set():
            request_id = f"load-{index}-{count}"
            count += 1
            started = time.monotonic()
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
                body = orjson.dumps({"records": [self._record], "request_id": request_id})
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                sent = Sent(request_id, started, time.monotonic(), response.status, orjson.loads(response.read()))
            except (OSError, http.client.HTTPException) as exc:
                sent = Sent(request_id, started, time.monotonic(), None, error=f"{type(exc).__name__}: {exc}")
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)  # a refused connection returns at once: do not spin
            with self._lock:
                self.sent.append(sent)
        if connection is not None:
            connection.close()


def unique_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
