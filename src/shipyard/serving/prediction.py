"""The prediction core: route, check, batch, answer and log one request, and give shadows their copy.

No HTTP here: the routes (:mod:`.handlers`, :mod:`.oip`, :mod:`.fastpath`) read the body into a
:class:`~shipyard.serving.inputs.RawRequest`, call :func:`predict` and render its :class:`Predicted` in
their protocol's shape (:mod:`.answers`). Errors are ``ShipyardError`` subclasses carrying their HTTP
status; the routes map them to answers in one place (:mod:`.http_errors`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from ..errors import ModelOutputError, NotFoundError, ShipyardError, UnauthorizedError, ValidationError
from ..predlog.schema import ErrorEntry, PredictionEntry
from .fleet import LiveDeployment, VariantSlot
from .inputs import RawRequest
from .limits import check_rows, is_large, sized
from .runtime import Answer, Runner
from .scores import stated_correct
from .state import ServerState

log = logging.getLogger("shipyard.serving")
# The variant a failed request was routed to, for the error log (a canary's error rate is judged per variant).
# Weak keys: an entry lives as long as its exception, which the route holds until it has recorded it.
_ROUTED: weakref.WeakKeyDictionary[BaseException, str] = weakref.WeakKeyDictionary()


@dataclass
class Predicted:
    """One answered request, as the routes render it (:mod:`.answers`)."""

    request_id: str
    slot: VariantSlot
    answer: Answer
    runner: Runner
    ignored: list[str]  # columns of the request the model does not take (dropped, and said in the answer)


def infer_target(state: ServerState, name: str, version: str | None) -> tuple[LiveDeployment, VariantSlot | None]:
    """The deployment and, for ``/versions/{version}/infer``, the variant serving that version: a 404 before the
    body is read."""
    deployment = state.deployment(name)
    slot = None
    if version is not None:
        # isascii: "²" is a digit to isdigit() but not to int(); the length keeps int() under its digit limit.
        number = version.isascii() and version.isdigit() and len(version) <= 18
        slot = deployment.slot_for_version(int(version)) if number else None
        if slot is None:
            serving = sorted({str(item.serving.runner.version) for item in deployment.variants})
            raise NotFoundError(f"Deployment {name!r} does not serve version {version!r} (it serves "
                                f"{', '.join(serving)}).")
    return deployment, slot


async def predict(state: ServerState, deployment: LiveDeployment, raw: RawRequest, *,
                  slot: VariantSlot | None = None, authorized: bool = False) -> Predicted:
    """Route, check, batch and log one request; shadows get a copy.

    The server picks the request id unless the client may write (``authorized``: it sent the token, or the
    server has none): whoever picks the id decides which prediction feedback joins.
    """
    started = time.perf_counter()
    propensity = None
    if slot is None:
        router = deployment.router
        index = router.choose(raw.sticky_key)
        slot = deployment.variants[index]
        if deployment.spec.thompson:  # what inverse propensity weighting of its labels needs
            propensity = router.share(index)
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
        _ROUTED[exc] = slot.name
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
            if isinstance(exc, Exception):
                _ROUTED[exc] = slot.name
            raise
        # never returned, never logged: counted, and a 503 for this variant only
        state.metrics.model_errors.labels(deployment.name, slot.name).inc()
        state.metrics.requests.labels(deployment.name, slot.name, str(exc.http_status)).inc()
        failure = ModelOutputError(f"Variant {slot.name!r} of deployment {deployment.name!r} could not answer "
                                   f"request {request_id}: {exc.message} Other requests are answered as usual.",
                                   row=exc.row, output=exc.output)
        _ROUTED[failure] = slot.name
        raise failure from None
    latency = time.perf_counter() - started
    sequence = _log(state, deployment, slot, runner, request_id, raw.sticky_key, columns, answer, latency,
                    propensity)
    state.commits.logged(deployment.name, request_id, sequence)
    if propensity is not None and deployment.spec.reward == "accuracy":  # provisional evidence until the labels
        # the confidence map of the version that answered (none if an alias moved since: its scores count raw)
        confidence = slot.serving.confidence if slot.serving.runner is runner else None
        scores = stated_correct(answer.probabilities, confidence)
        if scores is not None:
            deployment.pending_scores.add(slot.name, scores)
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
         sticky_key: str | None, columns: dict[str, list[Any]], answer: Answer, latency: float,
         propensity: float | None = None) -> int:
    """Hand one answer to the prediction log; returns its sequence number there."""
    now_ms = time.time_ns() // 1_000_000
    sequence = state.predictions.append(deployment.name, now_ms, PredictionEntry(
        request_id, now_ms, deployment.name, slot.name, slot.spec.shadow, runner.name, runner.version, runner.uri,
        runner.runtime, latency * 1000, sticky_key, columns, runner.kinds, answer.labels, answer.probabilities,
        propensity),
        large=is_large(len(answer.labels)))
    counter = state.metrics.predictions
    for label in set(answer.labels) if len(answer.labels) > 1 else answer.labels:
        count = answer.labels.count(label) if len(answer.labels) > 1 else 1
        counter.labels(deployment.name, slot.name, str(label)[:40]).inc(count)
    state.metrics.log_queue.set(state.predictions.queued)
    return sequence


def record_error(state: ServerState, deployment: str, status: int, exc: BaseException) -> None:
    """Log a refused or failed prediction request of a known deployment (monitoring's error rate)."""
    if deployment not in state.fleet.deployments:
        return
    now_ms = time.time_ns() // 1_000_000
    message = exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
    state.errors.append(deployment, now_ms, ErrorEntry(now_ms, status, type(exc).__name__,
                                                       getattr(exc, "field", None), message, _ROUTED.get(exc)))
