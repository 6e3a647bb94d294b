"""The ASGI app: ``create_app(config)`` builds it; models load in its lifespan, state lives on ``app.state``.

The factory is the only module that knows the whole server: it makes the state (:mod:`.state`), installs
the routes (:mod:`.handlers`, :mod:`.oip`, :mod:`.openapi`) and the one error layer (:mod:`.http_errors`),
and puts the fast path (:mod:`.fastpath`) in front. Nothing imports it but the server (:mod:`.server`) and
tests: routes find the state on the request and call the core (:mod:`.prediction`, :mod:`.feedback`).

Handlers take the raw request and answer with bytes from orjson: request bodies are checked by the
deployment's compiled signature (:mod:`.inputs`), not by pydantic, because per-request overhead is the
budget that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator
from dataclasses import replace

from ..predlog.writer import PartitionedLog
from ..store import Store, current_store
from .access import Access
from .batching import Batcher
from .fastpath import FastPath
from .fleet import LiveDeployment, Serving, VariantSlot
from .plugins import load_jobs, run_periodically
from .source import ModelSource, StoreSource
from .spec import ServingConfig
from .state import ServerState

# Shadows answer nobody, so they take bigger batches (cheaper per row) and may fall further behind before
# copies are shed; shedding, never unbounded queues, is what keeps a slow shadow from hurting live traffic.
SHADOW_BATCH_FACTOR = 8
SHADOW_QUEUE_FACTOR = 64


def create_app(config: ServingConfig, *, store: Store | None = None, source: ModelSource | None = None,
               preload: bool = False, plugins: bool = True) -> FastPath:
    """The ASGI app serving ``config``'s deployments.

    Models load when the app starts, or here with ``preload`` (the server does that, so a model that cannot
    load stops it with the model's own error before it listens). ``plugins=False`` leaves out the periodic
    jobs of ``config.plugins`` (the server runs them in one worker only). The models come from ``source`` (a team
    server, :mod:`.remote_source`), else from ``store``, else from the current store.
    """
    from fastapi import FastAPI

    from . import handlers, http_errors, oip, openapi

    def origin() -> ModelSource:
        return source if source is not None else StoreSource(store or current_store())

    loaded: ServerState | None = None
    if preload:
        loaded = ServerState(config, origin())
        loaded.fleet.load()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = loaded or ServerState(config, origin())
        app.state.serving = state
        if loaded is None:
            await asyncio.to_thread(state.fleet.load)
        state.fleet.on_swap = lambda slot, serving: _on_swap(state, slot, serving)
        state.fleet.on_slot_added = lambda deployment, slot: _add_slot(state, deployment, slot)
        state.fleet.on_slot_retired = lambda deployment, slot: _retire_slot(state, slot)
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
            for job in load_jobs(config):
                state.tasks.append(asyncio.create_task(run_periodically(job, state)))
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
            for slot in [*state.fleet.slots(), *state.fleet.retiring_slots()]:
                if slot.batcher is not None:
                    await slot.batcher.stop()
            await asyncio.to_thread(state.predictions.close)
            await asyncio.to_thread(state.feedback.close)
            await asyncio.to_thread(state.errors.close)

    app = FastAPI(title="Shipyard model server", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    access = Access(config.token, config.allowed_hosts)
    app.state.access = access
    http_errors.install(app)
    handlers.install(app)
    oip.install(app)
    openapi.install(app)
    return FastPath(app, access)


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


def _add_slot(state: ServerState, deployment: LiveDeployment, slot: VariantSlot) -> None:
    """A canary slot a rollout adds while serving: its batcher starts before any request can reach it."""
    _start_batcher(state, deployment, slot)
    _on_swap(state, slot, slot.serving, initial=True)


def _retire_slot(state: ServerState, slot: VariantSlot) -> None:
    if slot.batcher is not None:
        state.keep(asyncio.get_running_loop().create_task(slot.batcher.stop()))


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
