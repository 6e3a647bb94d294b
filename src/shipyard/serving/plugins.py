"""Plugin jobs: found by name in ``serving.yaml``'s ``plugins``, run periodically in a thread, never fatal.

Serving imports no package above it: a plugin is named ``"package.module:factory"`` and imported when the
app starts. The protocols a factory and its jobs follow are in :mod:`.types`.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import import_module

from .spec import ServingConfig
from .types import PluginFactory, PluginJob, PluginState

log = logging.getLogger("shipyard.serving")


def load_jobs(config: ServingConfig) -> list[PluginJob]:
    """The jobs of every plugin factory ``config.plugins`` names, each called with ``config``."""
    jobs: list[PluginJob] = []
    for path in config.plugins:
        module, _, name = path.partition(":")
        factory: PluginFactory = getattr(import_module(module), name)
        jobs.extend(factory(config))
    return jobs


async def run_periodically(job: PluginJob, state: PluginState) -> None:
    """Run ``job`` every ``job.interval`` seconds in a thread; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(job.interval)
        try:
            await asyncio.to_thread(job.run, state)
        except Exception as exc:
            log.warning("Periodic job %s failed: %s: %s", type(job).__name__, type(exc).__name__, exc)
