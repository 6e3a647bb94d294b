"""The models a server holds: deployments, their variants and shadows, and alias hot swaps.

Every variant names a model URI; aliases (``models:/churn@champion``) are resolved to a version at start
and re-checked every ``refresh_interval_s`` seconds and on SIGHUP. When an alias has moved, the new version
loads in a background thread while the old one keeps answering; then one assignment swaps the variant's
``(runner, checker)`` pair, so every batch runs wholly on one version and no request waits for the load.
Each model version is loaded once per process, however many variants serve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..models import registry
from ..store import Store
from .batching import Batcher
from .inputs import InputChecker
from .routing import Router
from .runtime import Runner, load_runner
from .spec import Deployment, ServingConfig, Variant

log = logging.getLogger("shipyard.serving")


@dataclass(frozen=True)
class Serving:
    """What a variant currently serves: swapped as one object."""

    runner: Runner
    checker: InputChecker
    resolved: str  # models:/name/N (or the runs:/ URI)


class VariantSlot:
    def __init__(self, deployment: str, spec: Variant, serving: Serving) -> None:
        self.deployment = deployment
        self.spec = spec
        self.serving = serving
        self.batcher: Batcher | None = None

    @property
    def name(self) -> str:
        return self.spec.name


class LiveDeployment:
    def __init__(self, spec: Deployment, variants: list[VariantSlot], shadows: list[VariantSlot]) -> None:
        self.spec = spec
        self.name = spec.name
        self.variants = variants
        self.shadows = shadows
        self.router = Router(spec.variants)

    @property
    def slots(self) -> list[VariantSlot]:
        return self.variants + self.shadows

    def slot_for_version(self, version: int) -> VariantSlot | None:
        return next((slot for slot in self.variants if slot.serving.runner.version == version), None)


SwapObserver = Callable[[VariantSlot, Serving], None]


class Fleet:
    """Every deployment of one server process."""

    def __init__(self, config: ServingConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.deployments: dict[str, LiveDeployment] = {}
        self._runners: dict[tuple[str, str], Runner] = {}
        self._runner_lock = threading.Lock()
        self.on_swap: SwapObserver | None = None

    def load(self) -> None:
        """Resolve and load every variant (at start: a failure here stops the server with its message)."""
        for spec in self.config.deployments:
            variants = [VariantSlot(spec.name, variant, self._serving(variant, spec.runtime))
                        for variant in spec.variants]
            shadows = [VariantSlot(spec.name, variant, self._serving(variant, spec.runtime))
                       for variant in spec.shadows]
            self.deployments[spec.name] = LiveDeployment(spec, variants, shadows)

    def slots(self) -> Iterable[VariantSlot]:
        for deployment in self.deployments.values():
            yield from deployment.slots

    def refresh(self) -> list[tuple[VariantSlot, str, str]]:
        """Re-resolve every alias; load and swap in moved ones. Returns (slot, old, new) per swap.

        Blocking (runs in a thread): the event loop keeps serving the old versions meanwhile.
        """
        swaps = []
        for deployment in self.deployments.values():
            for slot in deployment.slots:
                try:
                    resolved = resolve_version(self.store, slot.spec.model)
                except Exception as exc:  # an alias deleted or the store busy: keep serving what we have
                    log.warning("Cannot re-resolve %s for %s/%s: %s", slot.spec.model, deployment.name, slot.name, exc)
                    continue
                if resolved == slot.serving.resolved:
                    continue
                try:
                    serving = self._serving(slot.spec, deployment.spec.runtime, resolved=resolved)
                except Exception as exc:
                    log.error("Cannot load %s (%s) for %s/%s; still serving %s: %s", resolved, slot.spec.model,
                              deployment.name, slot.name, slot.serving.resolved, exc)
                    continue
                old = slot.serving.resolved
                slot.serving = serving
                swaps.append((slot, old, resolved))
                if self.on_swap is not None:
                    self.on_swap(slot, serving)
                log.warning("%s/%s now serves %s (was %s)", deployment.name, slot.name, resolved, old)
        if swaps:
            self._forget_unused()
        return swaps

    def _forget_unused(self) -> None:
        """Drop runners no variant serves any more, so alias moves do not pile up models in memory."""
        used = {(slot.serving.resolved, deployment.spec.runtime)
                for deployment in self.deployments.values() for slot in deployment.slots}
        with self._runner_lock:
            for key in [key for key in self._runners if key not in used]:
                del self._runners[key]

    async def refresh_forever(self, interval: float, wake: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)
            wake.clear()
            await loop.run_in_executor(None, self.refresh)

    def _serving(self, variant: Variant, runtime: str, *, resolved: str | None = None) -> Serving:
        resolved = resolved or resolve_version(self.store, variant.model)
        key = (resolved, runtime)
        with self._runner_lock:
            runner = self._runners.get(key)
        if runner is None:
            runner = load_runner(self.store, resolved, runtime, trust=self.config.trust)
            with self._runner_lock:
                runner = self._runners.setdefault(key, runner)
        return Serving(runner, InputChecker(runner.signature, runner.input_ranges), resolved)


def resolve_version(store: Store, uri: str) -> str:
    """The fixed URI an alias points at now (``models:/churn@champion`` -> ``models:/churn/3``)."""
    version, _, _ = registry.resolve(store, uri)
    return version.uri if version is not None else uri


def check_resolvable(store: Store, config: ServingConfig) -> dict[str, Any]:
    """Resolve every URI before any worker starts, so a typo fails fast with the registry's message."""
    resolved = {}
    for deployment in config.deployments:
        for variant in deployment.all_variants:
            version, _, _ = registry.resolve(store, variant.model)
            if deployment.runtime == "onnx" and (version is None or "onnx.hash" not in version.tags):
                raise ConfigError(f"{variant.model} has no verified ONNX export, so deployment {deployment.name!r} "
                                  f"cannot use runtime: onnx; run `shipyard models export-onnx {variant.model} "
                                  "model.onnx` first or use runtime: auto.")
            resolved[f"{deployment.name}/{variant.name}"] = version.uri if version is not None else variant.model
    return resolved
