"""Canary rollouts in the registry: the candidate's share of traffic, step by step, shared through the store.

A rollout names a model, the alias its servers serve (the primary, ``champion`` by default) and a candidate
version. Every server process and replica reads the running rollouts from the store (see
``serving/fleet.py``), so they all route the same share to the candidate; the judge (``monitoring``) decides
at each check whether to advance, hold or roll back, and this module applies the decision: one conditional
update (two judges never apply one look twice) and the audit log entry with the decision and its statistics,
in one transaction (with a team server's idempotency record too, see ``also``). Rolling back sets the weight to
0 at once; finishing the last step moves the alias.

Statuses: ``running`` -> ``completed`` (the alias moved) | ``rolled_back`` (the judge) | ``aborted`` (a person).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..errors import ConflictError, NotFoundError, ValidationError
from ..store import Store
from ..store.schema import registered_models, rollouts
from . import registry

RUNNING, COMPLETED, ROLLED_BACK, ABORTED = "running", "completed", "rolled_back", "aborted"
Also = Callable[[Connection, "Rollout"], None]  # more of a rollout write's transaction, given the rollout it left
DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)


@dataclass(frozen=True)
class Rollout:
    id: int
    name: str
    alias: str
    candidate: str
    primary_version: int
    candidate_version: int
    steps: tuple[float, ...]
    step_index: int
    weight: float
    status: str
    policy: dict[str, Any]
    checks: int
    started_at: int
    step_started_at: int
    updated_at: int
    finished_at: int | None
    reason: str | None
    last_verdict: dict[str, Any] | None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def variant(self) -> str:
        """The variant the candidate answers under in the prediction log (its shadow copies: ``-shadow`` added)."""
        return f"rollout-{self.id}"

    @property
    def completing(self) -> bool:
        """Advancing from this step finishes the rollout (the next step is the last, 100%)."""
        return self.step_index + 1 >= len(self.steps) - 1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "alias": self.alias, "candidate": self.candidate,
                "primary_version": self.primary_version, "candidate_version": self.candidate_version,
                "steps": list(self.steps), "step_index": self.step_index, "weight": self.weight,
                "status": self.status, "policy": self.policy, "checks": self.checks,
                "started_at": self.started_at, "step_started_at": self.step_started_at,
                "updated_at": self.updated_at, "finished_at": self.finished_at, "reason": self.reason,
                "last_verdict": self.last_verdict}


def rollout_from_dict(document: dict[str, Any]) -> Rollout:
    """The inverse of :meth:`Rollout.to_dict` (what a team server answers)."""
    return Rollout(int(document["id"]), document["name"], document["alias"], document["candidate"],
                   int(document["primary_version"]), int(document["candidate_version"]),
                   tuple(float(step) for step in document["steps"]), int(document["step_index"]),
                   float(document["weight"]), document["status"], dict(document["policy"]), int(document["checks"]),
                   int(document["started_at"]), int(document["step_started_at"]), int(document["updated_at"]),
                   document.get("finished_at"), document.get("reason"), document.get("last_verdict"))


def parse_steps(text: str | list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """``"5,25,50,100"`` -> ``(5.0, 25.0, 50.0, 100.0)``: rising percentages that end at 100."""
    items = [item.strip() for item in text.split(",")] if isinstance(text, str) else list(text)
    try:
        steps = tuple(float(item) for item in items)
    except (TypeError, ValueError):
        raise ValidationError(f"--steps must be percentages separated by commas, such as 5,25,50,100; got "
                              f"{text!r}.", field="steps") from None
    if len(steps) < 2 or steps[-1] != 100 or any(not 0 < step <= 100 for step in steps) \
            or any(later <= earlier for earlier, later in pairwise(steps)):
        raise ValidationError(f"--steps must rise from above 0 to exactly 100 with at least two steps, such as "
                              f"5,25,50,100; got {text!r}.", field="steps")
    return steps


def start_rollout(store: Store, name: str, candidate: str, *, alias: str = "champion",
                  steps: tuple[float, ...] = DEFAULT_STEPS, policy: dict[str, Any] | None = None,
                  actor: str | None = None, also: Also | None = None) -> Rollout:
    """Start shifting ``alias``'s traffic to ``candidate`` (an alias such as ``challenger``, or a version number).

    ``actor`` is who started it, for the audit log (a team server passes its caller's token name). The rollout,
    its audit entry and ``also`` (given the new rollout: a server records its idempotency key there) are one
    transaction.

    Raises:
        NotFoundError: the model, the alias or the candidate does not exist.
        ValidationError: the candidate is the version the alias already serves, or the steps are malformed.
        ConflictError: a rollout of this model and alias is already running.
    """
    steps = parse_steps(steps)
    primary = registry.resolve(store, f"models:/{name}@{alias}")[0]
    chosen = registry.resolve(store, f"models:/{name}/{candidate}" if str(candidate).isdigit()
                              else f"models:/{name}@{candidate}")[0]
    assert primary is not None and chosen is not None
    if chosen.version == primary.version:
        raise ValidationError(f"{name}@{alias} already serves version {primary.version}; a rollout needs another "
                              "version as the candidate.", field="candidate")
    now = _now_ms()
    settings = dict(policy or {})

    def write(conn: Connection) -> Rollout:
        conn.execute(select(registered_models.c.name).where(registered_models.c.name == name).with_for_update())
        running = conn.execute(select(rollouts.c.id, rollouts.c.candidate_version).where(
            rollouts.c.name == name, rollouts.c.alias == alias, rollouts.c.status == RUNNING)).first()
        if running is not None:
            raise ConflictError(f"Rollout {running.id} of {name}@{alias} (to version {running.candidate_version}) is "
                                f"still running; wait for it or stop it with `shipyard rollout abort {name}`.")
        inserted = conn.execute(insert(rollouts).values(
            name=name, alias=alias, candidate=str(candidate), primary_version=primary.version,
            candidate_version=chosen.version, steps=json.dumps(list(steps)), step_index=0, weight=steps[0],
            status=RUNNING, policy=json.dumps(settings, sort_keys=True), checks=0, started_at=now,
            step_started_at=now, updated_at=now)).inserted_primary_key
        assert inserted is not None
        rollout_id = int(inserted[0])
        registry.decision_write(name, alias, "rollout_start", primary.version, chosen.version,
                                f"canary rollout {rollout_id} started at {steps[0]:g}% (steps "
                                f"{', '.join(f'{step:g}' for step in steps)})",
                                {"rollout": rollout_id, "steps": list(steps), "policy": settings}, actor=actor)(conn)
        return _finish(conn, rollout_id, also)

    return store.db.write(write)


def get_rollout(store: Store, rollout_id: int) -> Rollout:
    row = store.db.read(lambda conn: conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first())
    if row is None:
        raise NotFoundError(f"No rollout has the id {rollout_id}; `shipyard rollout status MODEL` shows them.")
    return _from_row(row)


def latest_rollout(store: Store, name: str, alias: str | None = None) -> Rollout:
    """The running rollout of ``name`` (and ``alias``), else its most recent one.

    Raises:
        NotFoundError: the model is unknown or was never rolled out.
    """
    registry.require_model(store, name)

    def query(conn: Connection) -> Any:
        chosen = select(rollouts).where(rollouts.c.name == name)
        if alias is not None:
            chosen = chosen.where(rollouts.c.alias == alias)
        return conn.execute(chosen.order_by((rollouts.c.status == RUNNING).desc(), rollouts.c.id.desc())).first()

    row = store.db.read(query)
    if row is None:
        raise NotFoundError(f"Model {name!r} has no rollout yet; start one with `shipyard rollout start {name} "
                            "--candidate challenger`.")
    return _from_row(row)


def running_rollouts(store: Store) -> list[Rollout]:
    """Every running rollout (what a server polls: one small indexed query)."""
    rows = store.db.read(lambda conn: conn.execute(select(rollouts).where(rollouts.c.status == RUNNING)
                                                   .order_by(rollouts.c.id)).all())
    return [_from_row(row) for row in rows]


def record_check(store: Store, rollout: Rollout, action: str, reason: str, statistics: dict[str, Any], *,
                 actor: str | None = None, also: Also | None = None) -> Rollout:
    """Apply one judged check (``advance``, ``hold`` or ``rollback``) and write it to the audit log, in one
    transaction with ``also`` (as for :func:`start_rollout`).

    The update applies only if nobody changed the rollout since ``rollout`` was read, so two judges looking at
    once cannot both advance it.

    Raises:
        ConflictError: the rollout changed meanwhile (another judge, or ``rollout abort``).
    """
    now = _now_ms()
    verdict = {"action": action, "reason": reason, "statistics": statistics, "at": now}
    values: dict[str, Any] = {"checks": rollout.checks + 1, "updated_at": now, "last_verdict": _json(verdict)}
    event = f"rollout_{action}"
    from_version, to_version = rollout.primary_version, rollout.candidate_version
    completed = False
    if action == "rollback":
        values.update(status=ROLLED_BACK, weight=0.0, finished_at=now, reason=reason)
    elif action == "advance":
        index = rollout.step_index + 1
        values.update(step_index=index, weight=rollout.steps[index], step_started_at=now)
        if index == len(rollout.steps) - 1:
            completed = True
            values.update(status=COMPLETED, finished_at=now, reason=reason)
    elif action != "hold":
        raise ValidationError(f"A check decides advance, hold or rollback, not {action!r}.", field="action")
    weight = values.get("weight", rollout.weight)
    details = {"rollout": rollout.id, "check": rollout.checks + 1, "weight": weight, "statistics": statistics}
    audit = registry.alias_move(rollout.name, rollout.alias, rollout.candidate_version, action="rollout_complete",
                                reason=f"canary rollout {rollout.id} completed: {reason}", details=details,
                                actor=actor) if completed else \
        registry.decision_write(rollout.name, rollout.alias, event, from_version, to_version,
                                f"rollout {rollout.id} at {weight:g}%: {reason}", details, actor=actor)

    def write(conn: Connection) -> Rollout:
        _update_if_unchanged(conn, rollout, values)
        audit(conn)
        return _finish(conn, rollout.id, also)

    return store.db.write(write)


def abort_rollout(store: Store, name: str, *, alias: str | None = None, reason: str | None = None,
                  actor: str | None = None, also: Also | None = None) -> Rollout:
    """Stop the running rollout of ``name`` and send all traffic back to the primary at once (one transaction with
    its audit entry and ``also``, as for :func:`start_rollout`).

    Raises:
        NotFoundError: no rollout of ``name`` is running.
    """
    rollout = latest_rollout(store, name, alias)
    if not rollout.running:
        raise NotFoundError(f"No rollout of {name!r} is running (the latest, {rollout.id}, is {rollout.status}).")
    now = _now_ms()
    why = reason or "aborted by hand"
    audit = registry.decision_write(name, rollout.alias, "rollout_abort", rollout.primary_version,
                                    rollout.candidate_version, f"rollout {rollout.id} aborted: {why}",
                                    {"rollout": rollout.id, "weight_before": rollout.weight}, actor=actor)

    def write(conn: Connection) -> Rollout:
        _update_if_unchanged(conn, rollout, {"status": ABORTED, "weight": 0.0, "finished_at": now, "updated_at": now,
                                             "reason": why})
        audit(conn)
        return _finish(conn, rollout.id, also)

    return store.db.write(write)


def _update_if_unchanged(conn: Connection, rollout: Rollout, values: dict[str, Any]) -> None:
    result = conn.execute(update(rollouts).where(
        rollouts.c.id == rollout.id, rollouts.c.status == RUNNING, rollouts.c.checks == rollout.checks,
        rollouts.c.step_index == rollout.step_index).values(**values))
    if result.rowcount != 1:
        current = _read(conn, rollout.id)
        raise ConflictError(f"Rollout {rollout.id} of {rollout.name} changed while it was judged (now "
                            f"{current.status} at {current.weight:g}%); the next check starts from there.")


def _finish(conn: Connection, rollout_id: int, also: Also | None) -> Rollout:
    """The rollout as the write left it, after ``also`` ran on it in the same transaction."""
    rollout = _read(conn, rollout_id)
    if also is not None:
        also(conn, rollout)
    return rollout


def _read(conn: Connection, rollout_id: int) -> Rollout:
    row = conn.execute(select(rollouts).where(rollouts.c.id == rollout_id)).first()
    if row is None:
        raise NotFoundError(f"No rollout has the id {rollout_id}; `shipyard rollout status MODEL` shows them.")
    return _from_row(row)


def _from_row(row: Any) -> Rollout:
    return Rollout(row.id, row.name, row.alias, row.candidate, row.primary_version, row.candidate_version,
                   tuple(json.loads(row.steps)), row.step_index, row.weight, row.status, json.loads(row.policy),
                   row.checks, row.started_at, row.step_started_at, row.updated_at, row.finished_at, row.reason,
                   json.loads(row.last_verdict) if row.last_verdict else None)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=float)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
