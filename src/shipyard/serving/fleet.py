"""The models a server holds: deployments, their variants and shadows, and alias hot swaps.

Every variant names a model URI; aliases (``models:/churn@champion``) are resolved to a version at start
and re-checked every ``refresh_interval_s`` seconds and on SIGHUP. When an alias has moved, the new version
loads in a background thread while the old one keeps answering; then one assignment swaps the variant's
``(runner, checker)`` pair, so every batch runs wholly on one version and no request waits for the load.
Each model version is loaded once per process, however many variants serve it.

Canary rollouts (``models/rollouts.py``) are read from the model source every :data:`ROLLOUT_POLL_S` seconds. A
rollout of ``name@alias`` applies to each deployment with a live variant serving ``models:/name@alias``: it
gains the slot ``rollout-<id>``, the candidate answering the rollout's weight in percent of the requests
(the primaries share the rest in their ``serving.yaml`` proportions), and ``rollout-<id>-shadow``, the
candidate answering a shadow copy of the others, so the judge can count how often the two disagree on the
same inputs. The store is read and the candidate loaded in a thread (:meth:`Fleet.plan_canaries`); the slots
and the router change on the event loop (:meth:`Fleet.apply_canaries`), between requests, so no request sees
a router and a variant list that disagree. When the rollout ends, both slots leave and the weights return.

A ``routing: thompson`` deployment reads its variants' reward sums from the source on the same beat
(:meth:`Fleet.plan_bandits`, ``models/bandits.py``) and routes by the floored Thompson probabilities they give
(:mod:`.thompson`), so every process and replica routes alike within a second of a label. Rollouts do not
apply to it: the bandit already moves traffic by the evidence.

The source (:mod:`.source`) is the store this process opens, or a team server: the fleet reads both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..calibration import Calibration
from ..errors import ConfigError
from ..models.rollouts import Rollout
from .batching import Batcher
from .inputs import InputChecker
from .routing import Router, bandit_router, canary_router
from .runtime import Runner
from .scores import PendingScores, add_scores
from .source import ModelSource
from .spec import Deployment, ServingConfig, Variant
from .thompson import posterior_counts, routing_probabilities

log = logging.getLogger("shipyard.serving")
ROLLOUT_POLL_S = 1.0  # how often a server reads the running rollouts: a rollback reaches every process this fast
RETIRE_AFTER_S = 30.0  # a removed canary's batcher stops this much later: a request routed to it may be in flight


@dataclass(frozen=True)
class Serving:
    """What a variant currently serves: swapped as one object."""

    runner: Runner
    checker: InputChecker
    resolved: str  # models:/name/N (or the runs:/ URI)
    confidence: Calibration | None = None  # routing: thompson, reward: accuracy: stated confidence -> P(correct)


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
        self.router = bandit_router(spec.variants, [1 / len(spec.variants)] * len(spec.variants)) \
            if spec.thompson else Router(spec.variants)
        self.bandit_probabilities: list[float] | None = None  # routing: thompson, once the store was read
        self.pending_scores = PendingScores()  # routing: thompson, P(correct) answered, for the store (.scores)
        self.canary_rollout: Rollout | None = None
        self.canary: VariantSlot | None = None
        self.canary_shadow: VariantSlot | None = None
        self._base = (list(variants), list(shadows))

    def set_canary(self, rollout: Rollout | None, live: VariantSlot | None, shadow: VariantSlot | None) -> None:
        """Route ``rollout.weight`` percent to ``live`` (None: no canary); call on the event loop only."""
        variants, shadows = self._base
        self.canary_rollout, self.canary, self.canary_shadow = rollout, live, shadow
        self.variants = variants + ([live] if live is not None else [])
        self.shadows = shadows + ([shadow] if shadow is not None else [])
        self.router = canary_router(self.spec.variants, live.spec if live is not None else None,
                                    rollout.weight if rollout is not None else 0.0)

    def set_bandit(self, probabilities: list[float]) -> None:
        """Route by these probabilities, one per variant of ``serving.yaml`` (call on the event loop only)."""
        self.bandit_probabilities = probabilities
        self.router = bandit_router(self.spec.variants, probabilities)

    @property
    def slots(self) -> list[VariantSlot]:
        return self.variants + self.shadows

    def slot_for_version(self, version: int) -> VariantSlot | None:
        return next((slot for slot in self.variants if slot.serving.runner.version == version), None)


SwapObserver = Callable[[VariantSlot, Serving], None]
SlotHook = Callable[[LiveDeployment, VariantSlot], None]


@dataclass(frozen=True)
class CanaryPlan:
    """What one deployment's canary becomes: none (``rollout`` None), a new weight, or newly loaded slots."""

    deployment: str
    rollout: Rollout | None
    live: VariantSlot | None = None
    shadow: VariantSlot | None = None


class Fleet:
    """Every deployment of one server process."""

    def __init__(self, config: ServingConfig, source: ModelSource) -> None:
        self.config = config
        self.source = source
        self.deployments: dict[str, LiveDeployment] = {}
        self._runners: dict[tuple[str, str], Runner] = {}
        self._runner_lock = threading.Lock()
        self._confidences: dict[str, Calibration | None] = {}
        self.on_swap: SwapObserver | None = None
        self.on_slot_added: SlotHook | None = None  # starts a canary slot's batcher (the app sets it)
        self.on_slot_retired: SlotHook | None = None  # stops it once no request can be on its way to it
        self._retiring: list[tuple[float, LiveDeployment, VariantSlot]] = []
        self._rollouts_unreadable = False
        self._bandits_unreadable = False

    def load(self) -> None:
        """Resolve and load every variant (at start: a failure here stops the server with its message)."""
        for spec in self.config.deployments:
            variants = [VariantSlot(spec.name, variant, self._serving(variant, spec)) for variant in spec.variants]
            shadows = [VariantSlot(spec.name, variant, self._serving(variant, spec)) for variant in spec.shadows]
            self.deployments[spec.name] = LiveDeployment(spec, variants, shadows)

    def slots(self) -> Iterable[VariantSlot]:
        for deployment in self.deployments.values():
            yield from deployment.slots

    def retiring_slots(self) -> list[VariantSlot]:
        """Canary slots removed from routing whose batchers have not been stopped yet."""
        return [slot for _, _, slot in self._retiring]

    def refresh(self) -> list[tuple[VariantSlot, str, str]]:
        """Re-resolve every alias; load and swap in moved ones. Returns (slot, old, new) per swap.

        Blocking (runs in a thread): the event loop keeps serving the old versions meanwhile.
        """
        swaps = []
        for deployment in self.deployments.values():
            for slot in deployment.slots:
                try:
                    resolved = self.source.resolve(slot.spec.model).uri
                except Exception as exc:  # an alias deleted or the store busy: keep serving what we have
                    log.warning("Cannot re-resolve %s for %s/%s: %s", slot.spec.model, deployment.name, slot.name, exc)
                    continue
                if resolved == slot.serving.resolved:
                    continue
                try:
                    serving = self._serving(slot.spec, deployment.spec, resolved=resolved)
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
            for uri in [uri for uri in self._confidences if uri not in {resolved for resolved, _ in used}]:
                del self._confidences[uri]

    async def refresh_forever(self, interval: float, wake: asyncio.Event) -> None:
        """Re-resolve aliases every ``interval`` seconds (or when woken), and rollouts every second."""
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, min(ROLLOUT_POLL_S, due - loop.time())))
            if wake.is_set() or loop.time() >= due:
                wake.clear()
                await loop.run_in_executor(None, self.refresh)
                due = loop.time() + interval
            self.apply_canaries(await loop.run_in_executor(None, self.plan_canaries))
            self.apply_bandits(await loop.run_in_executor(None, self.plan_bandits))

    def plan_bandits(self) -> list[tuple[str, list[float]]]:
        """Each ``routing: thompson`` deployment's routing probabilities from the store's reward sums
        (blocking: runs in a thread)."""
        bandits = [deployment for deployment in self.deployments.values() if deployment.spec.thompson]
        if not bandits:
            return []
        try:
            for deployment in bandits:
                add_scores(self.source, deployment.name, deployment.pending_scores)
            states = self.source.arm_states([deployment.name for deployment in bandits])
        except Exception as exc:  # the store busy or unreachable: keep routing as now (said once, not per second)
            if not self._bandits_unreadable:
                log.warning("Cannot read the bandit posteriors (routing stays as it is): %s", exc)
            self._bandits_unreadable = True
            return []
        self._bandits_unreadable = False
        plans = []
        for deployment in bandits:
            arms = states.get(deployment.name, {})
            successes, failures = posterior_counts([arms.get(variant.name) for variant in deployment.spec.variants],
                                                   deployment.spec.score_doubt)
            chances = routing_probabilities(successes, failures, deployment.spec.min_propensity)
            plans.append((deployment.name, [float(chance) for chance in chances]))
        return plans

    def apply_bandits(self, plans: list[tuple[str, list[float]]]) -> None:
        for name, probabilities in plans:
            self.deployments[name].set_bandit(probabilities)

    def plan_canaries(self) -> list[CanaryPlan]:
        """Read the running rollouts and load any new candidate (blocking: runs in a thread)."""
        try:
            running = self.source.running_rollouts()
        except Exception as exc:  # the store busy or unreachable: keep the weights we have (said once, not per second)
            if not self._rollouts_unreadable:
                log.warning("Cannot read the running rollouts (the weights stay as they are): %s", exc)
            self._rollouts_unreadable = True
            return []
        self._rollouts_unreadable = False
        plans = []
        ended = False
        for deployment in self.deployments.values():
            if deployment.spec.thompson:
                continue
            served = {variant.model for variant in deployment.spec.variants}
            rollout = next((item for item in running if f"models:/{item.name}@{item.alias}" in served), None)
            current = deployment.canary_rollout
            if rollout is None:
                if current is not None:
                    plans.append(CanaryPlan(deployment.name, None))
                    ended = True
                continue
            if current is not None and current.id == rollout.id:
                if current.weight != rollout.weight:
                    plans.append(CanaryPlan(deployment.name, rollout))
                continue
            name, uri = rollout.variant, f"models:/{rollout.name}/{rollout.candidate_version}"
            try:
                serving = self._serving(Variant(name, uri), deployment.spec, resolved=uri)
            except Exception as exc:
                log.error("Cannot load %s, the candidate of rollout %s, for %s; its traffic stays with the "
                          "primary: %s", uri, rollout.id, deployment.name, exc)
                continue
            live = VariantSlot(deployment.name, Variant(name, uri, rollout.weight), serving)
            shadow = VariantSlot(deployment.name, Variant(f"{name}-shadow", uri, 0.0, shadow=True), serving) \
                if rollout.policy.get("shadow", True) else None
            plans.append(CanaryPlan(deployment.name, rollout, live, shadow))
        if ended:  # a completed rollout moved the alias: swap the primaries first, or they would get back the
            self.refresh()  # traffic with the old version until the next alias refresh
        return plans

    def apply_canaries(self, plans: list[CanaryPlan]) -> None:
        """Install ``plans`` (on the event loop): new slots get their batchers before a request can reach them;
        removed ones are retired :data:`RETIRE_AFTER_S` seconds later."""
        now = time.monotonic()
        for item in plans:
            deployment = self.deployments[item.deployment]
            old = [slot for slot in (deployment.canary, deployment.canary_shadow) if slot is not None]
            if item.live is not None:
                for slot in (item.live, item.shadow):
                    if slot is not None and self.on_slot_added is not None:
                        self.on_slot_added(deployment, slot)
                deployment.set_canary(item.rollout, item.live, item.shadow)
            elif item.rollout is not None:  # a new weight for the slots already serving
                deployment.set_canary(item.rollout, deployment.canary, deployment.canary_shadow)
                old = []
            else:
                deployment.set_canary(None, None, None)
            self._retiring.extend((now + RETIRE_AFTER_S, deployment, slot) for slot in old)
            rollout = item.rollout
            log.warning("%s: %s", deployment.name, "the rollout ended; the primary variants answer every request"
                        if rollout is None else f"rollout {rollout.id} sends {rollout.weight:g}% of requests to "
                        f"version {rollout.candidate_version}")
        due = [entry for entry in self._retiring if entry[0] <= now]
        self._retiring = [entry for entry in self._retiring if entry[0] > now]
        for _, deployment, slot in due:
            if self.on_slot_retired is not None:
                self.on_slot_retired(deployment, slot)
        if due:
            self._forget_unused()

    def _serving(self, variant: Variant, deployment: Deployment, *, resolved: str | None = None) -> Serving:
        resolved = resolved or self.source.resolve(variant.model).uri
        runtime = deployment.runtime
        key = (resolved, runtime)
        with self._runner_lock:
            runner = self._runners.get(key)
        if runner is None:
            runner = self.source.load_runner(resolved, runtime, trust=self.config.trust)
            with self._runner_lock:
                runner = self._runners.setdefault(key, runner)
        confidence = self._confidence(resolved) if deployment.thompson and deployment.reward == "accuracy" else None
        return Serving(runner, InputChecker(runner.signature, runner.input_ranges), resolved, confidence)

    def _confidence(self, resolved: str) -> Calibration | None:
        """The version's confidence map (``.scores``), derived once per version from its labelled reference. A
        reference that cannot be read leaves the raw scores: the bandit's rectifier then corrects their bias from
        the labels, as it did before the map existed."""
        with self._runner_lock:
            if resolved in self._confidences:
                return self._confidences[resolved]
        try:
            confidence = self.source.confidence_map(resolved)
        except Exception as exc:
            log.warning("Cannot read the labelled reference of %s; the bandit counts its raw scores: %s", resolved, exc)
            confidence = None
        with self._runner_lock:
            return self._confidences.setdefault(resolved, confidence)


def check_resolvable(source: ModelSource, config: ServingConfig) -> dict[str, Any]:
    """Resolve every URI before any worker starts, so a typo fails fast with the registry's message."""
    resolved = {}
    for deployment in config.deployments:
        for variant in deployment.all_variants:
            found = source.resolve(variant.model)
            if deployment.runtime == "onnx" and not found.has_onnx:
                raise ConfigError(f"{variant.model} has no verified ONNX export, so deployment {deployment.name!r} "
                                  f"cannot use runtime: onnx; run `shipyard models export-onnx {variant.model} "
                                  "model.onnx` first or use runtime: auto.")
            resolved[f"{deployment.name}/{variant.name}"] = found.uri
    return resolved
