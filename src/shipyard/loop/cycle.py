"""One cycle of a loop: its steps in order, retried as configured, every result on record.

A failing step stops the cycle (later steps, the promotion among them, never run), is retried from that
step after ``retry_delay`` up to ``retries`` times, and on final failure the ``notify`` webhook gets the
loop, cycle, step and error. Each step's result (the stage runs it made, the version it registered, the
promotion decision with both scores) is written to the cycle record as soon as the step ends, so
``shipyard loop history`` links a cycle to everything it produced even if the process dies later.

An orchestrator that owns the retries (the exported Airflow DAG) runs one step per task with a cycle key and its
own try number (``attempt``): the step then runs once, the result joins the keyed cycle, and the webhook goes out
only from the last attempt, so neither the runs nor the messages multiply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFoundError, ShipyardError, ValidationError
from ..models.promote import promote
from ..monitoring import alerts
from ..pipeline.repro import repro
from ..pipeline.spec import Pipeline
from ..store import Store
from .backend import LoopBackend, loop_backend
from .spec import Loop, Step

log = logging.getLogger("shipyard.loop")
Say = Callable[[str], None]


@dataclass
class CycleResult:
    loop: str
    number: int
    status: str  # succeeded | failed | interrupted
    steps: list[dict[str, Any]]
    error: str | None = None

    @property
    def promoted(self) -> bool:
        return any(step.get("kind") in ("promote", "rollout") and step.get("promoted") for step in self.steps)


def run_cycle(store: Store | LoopBackend, pipeline: Pipeline, loop: Loop, *, trigger: str = "manual",
              only_step: int | None = None, say: Say | None = None, stop: threading.Event | None = None,
              cycle_key: str | None = None, attempt: int | None = None) -> CycleResult:
    """Run one cycle (or only step ``only_step``, 0-based) under the loop's lock.

    Args:
        cycle_key: join the loop's cycle with this key (or start it): one cycle per orchestrator run.
        attempt: the orchestrator's try number (1 first). Given, each step runs once, without the loop's own
            retries (the orchestrator retries), and ``notify`` is called only when ``attempt > retries``.

    ``store`` is a store or where the loop's state is kept (:mod:`.backend`; a team server's ``ServerBackend``).
    """
    tell = say or (lambda message: None)
    stop = stop or threading.Event()
    backend = loop_backend(store)
    check_registry(backend, loop)
    lock = backend.lock(loop.name)
    number, results = lock.start_cycle(trigger if cycle_key is None else f"key {cycle_key}", key=cycle_key)
    tell(f"cycle {number} of loop '{loop.name}' " + ("started" if not results else "joined")
         + f" ({trigger if cycle_key is None else f'key {cycle_key}'})")
    steps = list(enumerate(loop.steps)) if only_step is None else [(only_step, loop.steps[only_step])]
    retries = loop.retries if attempt is None else 0
    first_try = 0 if attempt is None else attempt - 1  # 0-based, as ``tried`` counts
    error: str | None = None
    position = 0
    tried = first_try
    try:
        while position < len(steps):
            if stop.is_set():
                lock.finish(number, "interrupted", "the scheduler was asked to stop between steps")
                return CycleResult(loop.name, number, "interrupted", results, "stopped between steps")
            index, step = steps[position]
            started = time.perf_counter()
            try:
                outcome = run_step(backend, pipeline, step, say=tell)
            except Exception as exc:  # any failure stops the cycle; the record says which step and why
                error = f"step {index + 1} ({step.describe()}) failed: {_reason(exc)}"
                results.append({"step": index + 1, "kind": step.kind, "status": "failed", "attempt": tried + 1,
                                "error": _reason(exc), "seconds": round(time.perf_counter() - started, 3)})
                lock.record_steps(number, results)
                tell(error)
                if tried < retries:
                    tried += 1
                    tell(f"retrying step {index + 1} in {loop.retry_delay_s:g}s (attempt {tried + 1} of "
                         f"{retries + 1})")
                    if stop.wait(loop.retry_delay_s):
                        continue  # the stop check at the top ends the cycle
                    continue
                break
            results.append({"step": index + 1, "kind": step.kind, "status": "succeeded", "attempt": tried + 1,
                            "seconds": round(time.perf_counter() - started, 3), **outcome})
            lock.record_steps(number, results)
            tell(f"step {index + 1} ({step.describe()}): {summarize(outcome)}")
            position += 1
            tried = first_try
            error = None
    except BaseException:
        lock.finish(number, "interrupted", "the cycle's process was interrupted")
        raise
    status = "failed" if error is not None else _status_of_keyed(loop, results) if cycle_key else "succeeded"
    lock.finish(number, status, error)
    last_word = tried + 1 > loop.retries  # the orchestrator will not try again (always so without --attempt)
    if error is not None and loop.notify and last_word:
        failure = alerts.post(loop.notify, alerts.loop_failure(loop.name, number, status, error, results),
                              agent=alerts.LOOP_AGENT)
        if failure is not None:  # reported, never fatal to the scheduler
            tell(f"could not notify {loop.notify}: {failure}")
    return CycleResult(loop.name, number, status, results, error)


def _status_of_keyed(loop: Loop, results: list[dict[str, Any]]) -> str:
    """A keyed cycle has succeeded once every step's latest result is a success; until then it is running."""
    latest = {result["step"]: result["status"] for result in results}
    done = all(latest.get(number) == "succeeded" for number in range(1, len(loop.steps) + 1))
    return "succeeded" if done else "running"


def check_registry(store: Store | LoopBackend, loop: Loop) -> None:
    """Before anything runs: every promote names a model and candidate that exist or that the loop registers.

    Raises:
        ConfigError: naming the loop, the step and what is missing.
    """
    from ..errors import ConfigError

    backend = loop_backend(store)
    registers = {(step.args["name"], step.args.get("alias")) for step in loop.steps if step.kind == "register"}
    for index, step in enumerate(loop.steps):
        if step.kind not in ("promote", "rollout"):
            continue
        name, candidate = step.args["name"], str(step.args["candidate"])
        where = f"loop '{loop.name}', steps[{index}] ({step.kind})"
        if any(registered == name for registered, _ in registers):
            continue  # the loop registers it before promoting
        if not backend.registered(name):
            raise ConfigError(f"{where}: no model is registered as {name!r} and no register step of the loop "
                              "registers it; fix 'name' or add a register step.")
        try:
            if candidate.isdigit():
                backend.version(name, int(candidate))
            else:
                backend.resolve_alias(name, candidate)
        except NotFoundError as exc:
            raise ConfigError(f"{where}: candidate {candidate!r}: {exc.message}") from None


def run_step(store: Store | LoopBackend, pipeline: Pipeline, step: Step, *, say: Say) -> dict[str, Any]:
    """Do one step; returns what it produced, for the cycle record."""
    backend = loop_backend(store)
    if step.kind == "repro":
        outcomes = repro(pipeline.root, step.args["stages"] or None, on_event=lambda stage, message: None)
        return {"stages": [{"stage": outcome.name, "status": outcome.action, "run_id": outcome.run_id}
                           for outcome in outcomes]}
    if step.kind == "register":
        return _register(backend, pipeline, step.args)
    if step.kind == "rollout":
        return _rollout(backend, pipeline, step.args, say)
    args = step.args
    data = Path(args["data"])
    decision = promote(backend.gate(), args["name"], candidate=args["candidate"], alias=args["alias"],
                       data=data if data.is_absolute() else pipeline.root / data, target=args["target"],
                       metric=args["metric"], min_delta=float(args["min_delta"]))
    return {"promoted": decision.promoted, "name": args["name"], "alias": args["alias"],
            "candidate_version": decision.candidate_version, "candidate_score": decision.candidate_score,
            "current_version": decision.current_version, "current_score": decision.current_score,
            "metric": args["metric"], "reason": decision.reason, "test": decision.test, "p_value": decision.p_value,
            "ci_low": decision.ci_low, "ci_high": decision.ci_high,
            "min_detectable_effect": decision.min_detectable_effect}


def _register(backend: LoopBackend, pipeline: Pipeline, args: dict[str, Any]) -> dict[str, Any]:
    if "model" in args:
        uri = str(args["model"])
    else:
        run = backend.latest_stage_run(pipeline.name, str(args["stage"]))
        if run is None:
            raise NotFoundError(f"No finished run of stage '{args['stage']}' in pipeline '{pipeline.name}' to register "
                                "a model from; add a repro step before register.")
        uri = f"runs:/{run}/{args['artifact']}"
    run_id, path = uri[len("runs:/"):].split("/", 1) if uri.startswith("runs:/") else ("", "")
    existing = next((version for version in (backend.versions(args["name"]) if backend.registered(args["name"])
                                             else [])
                     if version.run_id == run_id and version.path == path), None)
    version = existing or backend.register(uri, args["name"], description=args.get("description"))
    if args.get("alias"):
        backend.set_alias(args["name"], args["alias"], version.version, reason="loop register step")
    return {"name": args["name"], "version": version.version, "run_id": version.run_id, "source": uri,
            "reused": existing is not None, "alias": args.get("alias")}


def _rollout(backend: LoopBackend, pipeline: Pipeline, args: dict[str, Any], say: Say) -> dict[str, Any]:
    """Start a canary rollout and judge it until it completes, is rolled back or ``timeout`` passes.

    A rollback is the judge's answer, not a failure of the step (as a promotion held back is not): the cycle
    goes on, and its record says ``promoted: false`` with the judge's reason.
    """
    from ..models.rollout_book import rollout_book
    from ..models.rollouts import COMPLETED
    from ..monitoring.rollout_runner import run_rollout

    policy: dict[str, Any] = {key: args[key] for key in ("max_labels", "min_requests", "alpha", "shadow")
                              if key in args}
    log_dir = args.get("log_dir")
    if log_dir is not None and not Path(log_dir).is_absolute() and "://" not in str(log_dir):
        log_dir = str(pipeline.root / log_dir)
    if backend.store is None and log_dir is None:
        raise ValidationError("A rollout step through a tracking server reads the prediction log where the servers "
                              "write it: set log_dir in the step (a folder or s3://bucket/prefix).", field="log_dir")
    book = rollout_book(backend.rollouts())
    rollout = book.start(args["name"], str(args["candidate"]), alias=args["alias"], steps=tuple(args["steps"]),
                         policy=policy)
    say(f"rollout {rollout.id}: v{rollout.candidate_version} at {rollout.weight:g}% of {args['name']}@{args['alias']}")
    rollout = run_rollout(book, rollout.id, interval_s=float(args["interval_s"]), timeout_s=args["timeout_s"],
                          log_dir=log_dir, on_check=lambda current, verdict: say(
                              f"rollout {current.id} check {current.checks}: {verdict.action} at "
                              f"{current.weight:g}%: {verdict.reason}"))
    return {"promoted": rollout.status == COMPLETED, "rollout": rollout.id, "status": rollout.status,
            "name": args["name"], "alias": args["alias"], "candidate_version": rollout.candidate_version,
            "current_version": rollout.primary_version, "weight": rollout.weight, "checks": rollout.checks,
            "reason": rollout.reason}


def summarize(outcome: dict[str, Any]) -> str:
    if "stages" in outcome:
        return ", ".join(f"{item['stage']} {item['status']}" for item in outcome["stages"]) or "nothing to do"
    if "rollout" in outcome:
        return (f"rollout {outcome['rollout']} of v{outcome['candidate_version']} {outcome['status']} at "
                f"{outcome['weight']:g}% after {outcome['checks']} checks" + (f": {outcome['reason']}"
                                                                           if outcome.get("reason") else ""))
    if "promoted" in outcome:
        verdict = "promoted" if outcome["promoted"] else "held back"
        scores = f"{outcome['candidate_score']:.4f}"
        if outcome.get("current_score") is not None:
            scores += f" vs v{outcome['current_version']}'s {outcome['current_score']:.4f}"
        return f"v{outcome['candidate_version']} {verdict} ({outcome['metric']} {scores})"
    reused = " (already registered)" if outcome.get("reused") else ""
    alias = f", alias {outcome['alias']}" if outcome.get("alias") else ""
    return f"{outcome['name']} v{outcome['version']}{reused}{alias}"


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
