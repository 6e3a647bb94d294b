"""The ASGI app: ``create_app(config)`` builds it; models load in its lifespan, state lives on ``app.state``.

Handlers take the raw request and answer with bytes from orjson: request bodies are checked by the
deployment's compiled signature (:mod:`.inputs`), not by pydantic, because per-request overhead is the
budget that matters. Every ``ShipyardError`` becomes ``{"error": {"type", "message", "field"}}`` with its
HTTP status (the Open Inference Protocol routes answer ``{"error": "..."}`` as its clients expect); a 500
means a bug of ours, never something a client sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import (
    ConflictError,
    MalformedRequestError,
    ModelOutputError,
    NotFoundError,
    PayloadTooLargeError,
    ShipyardError,
    UnauthorizedError,
    ValidationError,
)
from ..predlog.layout import serving_root
from ..predlog.readers import logged_rows
from ..predlog.schema import ErrorEntry, FeedbackEntry, PredictionEntry, errors_table, feedback_table, predictions_table
from ..predlog.writer import PartitionedLog
from ..store import Store, current_store
from .access import Access
from .batching import Batcher
from .durability import PredictionCommits
from .fleet import Fleet, LiveDeployment, Serving, VariantSlot
from .inputs import RawRequest
from .limits import body_timed_out, check_rows, decode_body, is_large, sized
from .metrics import ServingMetrics
from .runtime import Answer, Runner
from .spec import DEFAULT_BODY_TIMEOUT_S, ServingConfig

log = logging.getLogger("shipyard.serving")
IGNORED_SAID_LIMIT = 1000  # column names remembered per variant for "said once" (clients may invent many)
RECENT_IDS = 200_000  # request ids remembered per process for duplicate checks and fast feedback joins
# Shadows answer nobody, so they take bigger batches (cheaper per row) and may fall further behind before
# copies are shed; shedding, never unbounded queues, is what keeps a slow shadow from hurting live traffic.
SHADOW_BATCH_FACTOR = 8
SHADOW_QUEUE_FACTOR = 64


class ServerState:
    """Everything one app instance holds (tests run several apps in one process)."""

    def __init__(self, config: ServingConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.fleet = Fleet(config, store)
        self.metrics = ServingMetrics()
        root = serving_root(store, config.log_dir)
        self.predictions_root = root / "predictions"
        self.predictions = PartitionedLog(self.predictions_root, predictions_table,
                                          flush_interval=config.flush_interval_s, name="predictions")
        self.feedback = PartitionedLog(root / "feedback", feedback_table, flush_interval=config.flush_interval_s,
                                       name="feedback")
        self.errors = PartitionedLog(root / "errors", errors_table, flush_interval=config.flush_interval_s,
                                     name="errors")
        self.commits = PredictionCommits(self.predictions, strict=config.durability == "strict")
        self.recent: dict[str, collections.OrderedDict[str, int]] = {}
        self.ignored_said: dict[tuple[str, str, str], set[str]] = {}
        self.ready = False
        self.refresh_wake = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        self.background: set[asyncio.Task[Any]] = set()  # shadow copies of large requests being checked

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to ``task`` until it is done (the loop keeps only weak ones)."""
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def deployment(self, name: str) -> LiveDeployment:
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
        recent = self.recent.setdefault(deployment, collections.OrderedDict())
        if request_id in recent:
            raise ConflictError(f"request_id {request_id!r} was already used for deployment {deployment!r}; "
                                "send a unique id per request (feedback joins on it).")
        recent[request_id] = rows
        if len(recent) > RECENT_IDS:
            recent.popitem(last=False)


def create_app(config: ServingConfig, *, store: Store | None = None, preload: bool = False,
               plugins: bool = True) -> Any:
    """The ASGI app serving ``config``'s deployments.

    Models load when the app starts, or here with ``preload`` (the server does that, so a model that cannot
    load stops it with the model's own error before it listens). ``plugins=False`` leaves out the periodic
    jobs of ``config.plugins`` (the server runs them in one worker only).
    """
    from fastapi import FastAPI

    from . import handlers, oip, openapi
    from .fastpath import FastPath

    loaded: ServerState | None = None
    if preload:
        loaded = ServerState(config, store or current_store())
        loaded.fleet.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        state = loaded or ServerState(config, store or current_store())
        app.state.serving = state
        if loaded is None:
            await asyncio.to_thread(state.fleet.load)
        state.fleet.on_swap = lambda slot, serving: _on_swap(state, slot, serving)
        state.predictions.start()
        state.feedback.start()
        state.errors.start()
        for deployment in state.fleet.deployments.values():
            for slot in deployment.slots:
                _start_batcher(state, deployment, slot)
                _on_swap(state, slot, slot.serving, initial=True)
        state.tasks.append(asyncio.create_task(_convert_log_entries(state.predictions)))
        state.tasks.append(asyncio.create_task(state.fleet.refresh_forever(config.refresh_interval_s,
                                                                           state.refresh_wake)))
        _watch_sighup(state)
        if plugins:
            for job in _plugin_jobs(config):
                state.tasks.append(asyncio.create_task(_periodic(job, state)))
        # Models, libraries and their caches are long-lived: keeping them out of the collector's generations
        # spares every request a full collection that would walk millions of objects (a tail-latency spike).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)  # requests allocate many short-lived objects: collect them in bulk
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            for task in state.tasks:
                task.cancel()
            await asyncio.gather(*state.background, return_exceptions=True)
            for slot in state.fleet.slots():
                if slot.batcher is not None:
                    await slot.batcher.stop()
            await asyncio.to_thread(state.predictions.close)
            await asyncio.to_thread(state.feedback.close)
            await asyncio.to_thread(state.errors.close)

    app = FastAPI(title="Shipyard model server", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    access = Access(config.token, config.allowed_hosts)
    app.state.access = access
    handlers.install(app)
    oip.install(app)
    openapi.install(app)
    return FastPath(app, access)


def _plugin_jobs(config: ServingConfig) -> list[Any]:
    from importlib import import_module

    jobs = []
    for path in config.plugins:
        module, _, factory = path.partition(":")
        jobs.extend(getattr(import_module(module), factory)(config))
    return jobs


async def _periodic(job: Any, state: ServerState) -> None:
    """Run a plugin job every ``job.interval`` seconds in a thread; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(job.interval)
        try:
            await asyncio.to_thread(job.run, state)
        except Exception as exc:
            log.warning("Periodic job %s failed: %s: %s", type(job).__name__, type(exc).__name__, exc)


async def _convert_log_entries(log: PartitionedLog) -> None:
    """Turn logged answers into Arrow on the event loop, a slice at a time (see ``convert_some``)."""
    while True:
        await asyncio.sleep(0.05)
        while log.convert_some(128):
            await asyncio.sleep(0)


def _start_batcher(state: ServerState, deployment: LiveDeployment, slot: VariantSlot) -> None:
    metrics = state.metrics
    labels = (deployment.name, slot.name)

    def observe(requests: int, rows: int, seconds: float) -> None:
        metrics.batch_rows.labels(*labels).observe(rows)
        metrics.model_seconds.labels(*labels).observe(seconds)

    batching = deployment.spec.batching
    limit = None
    if slot.spec.shadow:
        limit = batching.max_batch_size * SHADOW_QUEUE_FACTOR
        batching = replace(batching, max_batch_size=batching.max_batch_size * SHADOW_BATCH_FACTOR)
    slot.batcher = Batcher(lambda: slot.serving.runner, batching, observe=observe,
                           name=f"{deployment.name}-{slot.name}", max_queue_rows=limit)
    slot.batcher.start()


def _on_swap(state: ServerState, slot: VariantSlot, serving: Serving, *, initial: bool = False) -> None:
    runner = serving.runner
    metrics = state.metrics
    metrics.load_seconds.labels(slot.deployment, slot.name).set(runner.load_seconds)
    metrics.model_info.labels(slot.deployment, slot.name, runner.name or runner.uri, str(runner.version or ""),
                              runner.runtime).set(1)
    if not initial:
        metrics.reloads.labels(slot.deployment, slot.name).inc()


def _watch_sighup(state: ServerState) -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, state.refresh_wake.set)


async def read_json(request: Any, limit: int, *, timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
                    decode: Callable[[Any], Any] | None = None) -> Any:
    """The body as JSON (passed through ``decode`` when given), refusing oversized bodies before reading them,
    bodies not whole ``timeout_s`` seconds after the headers, and Triton's binary extension. Large bodies are
    decoded off the event loop (:mod:`.limits`)."""
    if "inference-header-content-length" in request.headers:
        raise MalformedRequestError("This server speaks the JSON form of the inference protocol only; send "
                                    "tensors as JSON (tritonclient: binary_data=False).", field="body")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body is {int(declared):,} bytes; this server accepts at most {limit:,} "
                                   "(max_body_bytes in serving.yaml); split the request.", limit=limit)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(f"The body is over {limit:,} bytes, the most this server accepts; "
                                               "split the request.", limit=limit)
                chunks.append(chunk)
    except TimeoutError:
        raise body_timed_out(declared, size, timeout_s) from None
    if not size:
        raise MalformedRequestError("The request has no body; send a JSON object.", field="body")
    return await decode_body(b"".join(chunks), decode)


@dataclass
class Predicted:
    """One answered request, as the handlers render it."""

    request_id: str
    slot: VariantSlot
    answer: Answer
    runner: Runner
    ignored: list[str]  # columns of the request the model does not take (dropped, and said in the answer)


async def predict(state: ServerState, deployment: LiveDeployment, raw: RawRequest, *,
                  slot: VariantSlot | None = None, authorized: bool = False) -> Predicted:
    """Route, check, batch and log one request; shadows get a copy.

    The server picks the request id unless the client may write (``authorized``: it sent the token, or the
    server has none): whoever picks the id decides which prediction feedback joins.
    """
    started = time.perf_counter()
    slot = slot or deployment.variants[deployment.router.choose(raw.sticky_key)]
    serving = slot.serving
    try:
        if raw.request_id is not None and not authorized:
            key = "id" if raw.source == "inputs" else "request_id"
            raise UnauthorizedError(f"'{key}' is chosen by this server unless the request carries its token "
                                    f"('Authorization: Bearer <token>'); leave '{key}' out and use the one in the "
                                    "answer.", field=key)
        check_rows(raw, state.config.max_request_rows)
        columns = await sized(raw.rows, serving.checker.check, raw)
        # Every model column is there once check() passed, so only a longer request can hold others.
        ignored = serving.checker.ignored(raw) if len(raw.columns) > len(columns) else []
        request_id = raw.request_id or uuid.uuid4().hex
        state.remember(deployment.name, request_id, raw.rows)
    except ShipyardError as exc:  # refused inputs and reused ids count under the variant they were routed to
        state.metrics.requests.labels(deployment.name, slot.name, str(exc.http_status)).inc()
        raise
    assert slot.batcher is not None
    future = slot.batcher.submit(columns, raw.rows)
    assert future is not None  # live variants are never shed
    try:
        answer, runner = await future
    except BaseException as exc:  # nothing was logged: the id is free for a retry, and feedback cannot name it
        state.recent[deployment.name].pop(request_id, None)
        if isinstance(exc, ValidationError):
            state.metrics.requests.labels(deployment.name, slot.name, "422").inc()
        if not isinstance(exc, ModelOutputError):
            raise
        # never returned, never logged: counted, and a 503 for this variant only
        state.metrics.model_errors.labels(deployment.name, slot.name).inc()
        state.metrics.requests.labels(deployment.name, slot.name, str(exc.http_status)).inc()
        raise ModelOutputError(f"Variant {slot.name!r} of deployment {deployment.name!r} could not answer request "
                               f"{request_id}: {exc.message} Other requests are answered as usual.",
                               row=exc.row, output=exc.output) from None
    latency = time.perf_counter() - started
    sequence = _log(state, deployment, slot, runner, request_id, raw.sticky_key, columns, answer, latency)
    state.commits.logged(deployment.name, request_id, sequence)
    await state.commits.answered(sequence)  # durability: strict waits here for the group commit
    state.metrics.requests.labels(deployment.name, slot.name, "200").inc()
    state.metrics.latency.labels(deployment.name, slot.name).observe(time.perf_counter() - started)
    for shadow in deployment.shadows:
        _shadow(state, deployment, shadow, raw, request_id)
    if ignored:
        state.note_ignored(deployment.name, slot, ignored)
    return Predicted(request_id, slot, answer, runner, ignored)


def _shadow(state: ServerState, deployment: LiveDeployment, slot: VariantSlot, raw: RawRequest,
            request_id: str) -> None:
    if is_large(raw.rows):  # checked in a thread, then queued like a small one
        state.keep(asyncio.get_running_loop().create_task(_large_shadow(state, deployment, slot, raw, request_id)))
        return
    started = time.perf_counter()
    try:
        columns = slot.serving.checker.check(raw)
    except ValidationError as exc:
        log.info("Shadow %s/%s cannot take request %s: %s", deployment.name, slot.name, request_id, exc)
        return
    _queue_shadow(state, deployment, slot, raw, request_id, columns, started)


async def _large_shadow(state: ServerState, deployment: LiveDeployment, slot: VariantSlot, raw: RawRequest,
                        request_id: str) -> None:
    started = time.perf_counter()
    try:
        columns = await asyncio.to_thread(slot.serving.checker.check, raw)
    except ValidationError as exc:
        log.info("Shadow %s/%s cannot take request %s: %s", deployment.name, slot.name, request_id, exc)
        return
    _queue_shadow(state, deployment, slot, raw, request_id, columns, started)


def _queue_shadow(state: ServerState, deployment: LiveDeployment, slot: VariantSlot, raw: RawRequest,
                  request_id: str, columns: dict[str, list[Any]], started: float) -> None:
    assert slot.batcher is not None
    future = slot.batcher.submit(columns, raw.rows)
    if future is None:
        state.metrics.shadow_dropped.labels(deployment.name, slot.name).inc()
        return

    def done(finished: asyncio.Future[tuple[Answer, Runner]]) -> None:
        if finished.cancelled():
            return
        failure = finished.exception()
        if isinstance(failure, ModelOutputError):
            log.error("Shadow %s/%s could not answer request %s: %s", deployment.name, slot.name, request_id,
                      failure.message)
            state.metrics.model_errors.labels(deployment.name, slot.name).inc()
            return
        if failure is not None:
            log.warning("Shadow %s/%s failed on request %s: %s", deployment.name, slot.name, request_id, failure)
            state.metrics.shadow_dropped.labels(deployment.name, slot.name).inc()
            return
        answer, runner = finished.result()
        _log(state, deployment, slot, runner, request_id, raw.sticky_key, columns, answer,
             time.perf_counter() - started)

    future.add_done_callback(done)


def _log(state: ServerState, deployment: LiveDeployment, slot: VariantSlot, runner: Runner, request_id: str,
         sticky_key: str | None, columns: dict[str, list[Any]], answer: Answer, latency: float) -> int:
    """Hand one answer to the prediction log; returns its sequence number there."""
    now_ms = time.time_ns() // 1_000_000
    sequence = state.predictions.append(deployment.name, now_ms, PredictionEntry(
        request_id, now_ms, deployment.name, slot.name, slot.spec.shadow, runner.name, runner.version, runner.uri,
        runner.runtime, latency * 1000, sticky_key, columns, runner.kinds, answer.labels, answer.probabilities),
        large=is_large(len(answer.labels)))
    counter = state.metrics.predictions
    for label in set(answer.labels) if len(answer.labels) > 1 else answer.labels:
        count = answer.labels.count(label) if len(answer.labels) > 1 else 1
        counter.labels(deployment.name, slot.name, str(label)[:40]).inc(count)
    state.metrics.log_queue.set(state.predictions.queued)
    return sequence


async def record_feedback(state: ServerState, deployment: LiveDeployment, body: Any) -> dict[str, Any]:
    """Store labels for logged predictions; unknown request ids, and rows beyond the rows a request had, are
    reported back (``unknown``, ``unknown_rows``) and neither stored nor counted as accepted."""
    items = body if isinstance(body, list) else [body]
    entries: list[FeedbackEntry] = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(body, list) else ""
        if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
            raise MalformedRequestError(f"Feedback{where} must be an object with 'request_id' and 'label'.",
                                        field="request_id")
        request_id, label, row = item["request_id"], item["label"], item.get("row", 0)
        if isinstance(row, float) and row.is_integer():  # as in an integer column: 3.0 is row 3
            row = int(row)
        if not isinstance(request_id, str | int) or isinstance(request_id, bool) or not str(request_id):
            raise ValidationError(f"Feedback{where}: 'request_id' must be a string.", field="request_id")
        if label is None or isinstance(label, dict | list):
            raise ValidationError(f"Feedback{where}: 'label' must be a number, text or true/false.", field="label")
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:  # the log's row is int32
            raise ValidationError(f"Feedback{where}: 'row' must be a row index (0 or more).", field="row")
        entries.append(FeedbackEntry(str(request_id), row, label, time.time_ns() // 1_000_000))
    if not entries:
        raise ValidationError("The feedback list is empty.", field="request_id")
    rows = await _logged_rows(state, deployment.name, {entry.request_id for entry in entries})
    unknown = sorted({entry.request_id for entry in entries if entry.request_id not in rows})
    beyond = sorted({(entry.request_id, entry.row) for entry in entries
                     if entry.request_id in rows and entry.row >= rows[entry.request_id]})
    accepted = [entry for entry in entries if entry.row < rows.get(entry.request_id, 0)]
    if accepted:  # a label must never outlive its prediction: that goes to disk first (see .durability)
        await state.commits.before_feedback(deployment.name, (entry.request_id for entry in accepted))
        await asyncio.wrap_future(state.feedback.append_durable(deployment.name, accepted[0].timestamp_ms,
                                                                accepted))
    if not accepted:
        if unknown:
            raise NotFoundError(f"No prediction of deployment {deployment.name!r} has request_id "
                                f"{', '.join(unknown[:5])}; feedback must name a logged request.")
        request_id, row = beyond[0]
        raise NotFoundError(f"Request {request_id!r} of deployment {deployment.name!r} had {rows[request_id]} "
                            f"row(s), so it has no row {row}; 'row' is the record's index in its request.")
    return {"accepted": len(accepted), "unknown": unknown,
            "unknown_rows": [{"request_id": request_id, "row": row} for request_id, row in beyond]}


async def _logged_rows(state: ServerState, deployment: str, ids: set[str]) -> dict[str, int]:
    """How many rows each known request of ``ids`` had: this worker's recent ids, then the log."""
    recent: dict[str, int] = state.recent.get(deployment) or {}
    rows = {request_id: recent[request_id] for request_id in ids if request_id in recent}
    missing = ids - rows.keys()
    deadline = time.monotonic() + state.config.flush_interval_s * 2 + 0.5  # other workers flush within that
    while missing:
        found = await asyncio.to_thread(logged_rows, state.predictions_root, deployment, missing)
        rows.update(found)
        missing -= found.keys()
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return rows


def record_error(state: ServerState, deployment: str, status: int, exc: BaseException) -> None:
    """Log a refused or failed prediction request of a known deployment (monitoring's error rate)."""
    if deployment not in state.fleet.deployments:
        return
    now_ms = time.time_ns() // 1_000_000
    message = exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
    state.errors.append(deployment, now_ms, ErrorEntry(now_ms, status, type(exc).__name__,
                                                       getattr(exc, "field", None), message))


def require_write(access: Access, authorization: str | None) -> None:
    """Refuse a write (feedback) without the server's token, when it has one."""
    if not access.authorized(authorization):
        raise UnauthorizedError("This endpoint needs the server's token: send 'Authorization: Bearer <token>'.")


def error_body(exc: ShipyardError) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "message": exc.message, "field": getattr(exc, "field", None)}}

