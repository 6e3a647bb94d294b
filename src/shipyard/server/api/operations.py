"""Monitoring and canary rollouts through Shipyard's own API: what ``shipyard monitor`` and ``shipyard rollout`` call
when a tracking URI is set.

Monitoring reads the prediction log itself (a folder or ``s3://``, never through the server); from the server it
reads the facts about model versions (:mod:`shipyard.monitoring.model_facts`): the training profile, the training
run's metrics, and the labelled reference the gate kept. Rollouts are started, read, judged and aborted here with
the functions of :mod:`shipyard.models.rollouts` the local commands call (the client is
:mod:`shipyard.models.rollout_book`). A reader reads; a writer starts, judges and aborts; the check that finishes a
rollout onto a protected alias (``champion`` by default) moves that alias, so it needs an admin, as any move of it
does. Every change is audited under the caller's token name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ...errors import ConflictError, ValidationError
from ...models import rollouts
from ...models.rollout_book import json_safe
from ...models.uri import parse_model_uri
from ...monitoring.model_facts import training_metrics
from ...monitoring.source import training_reference
from ..auth import require
from ..roles import ADMIN
from .protocol import Call, field

# -------------------------------------------------------------------------------------------------- monitoring


def monitoring_reference(call: Call) -> dict[str, Any]:
    """``?uri=models:/churn/3``: the training profile stored with the version (drift's reference)."""
    reference = training_reference(call.settings.store, _uri(call))
    return {"profile": reference.profile, "prediction_profile": reference.prediction_profile,
            "target_profile": reference.target_profile}


def monitoring_baseline(call: Call) -> dict[str, Any]:
    """``?uri=...``: the metrics the version's training run logged (what quality is compared with)."""
    return {"metrics": training_metrics(call.settings.store, _uri(call))}


def _uri(call: Call) -> str:
    uri = call.request.query_params.get("uri", "").strip()
    if not uri:
        raise ValidationError("This needs the query parameter 'uri' (e.g. models:/churn/3).", field="uri")
    try:
        parse_model_uri(uri)
    except ValidationError as exc:  # the query parameter is named uri
        raise ValidationError(exc.message, field="uri") from None
    return uri


# ---------------------------------------------------------------------------------------------------- rollouts


def start_rollout(call: Call) -> dict[str, Any]:
    """``{"name", "candidate", "alias", "steps", "policy"}``: start a canary (409 while one of the alias runs)."""
    name = field(call.body, "name", str, required=True)
    candidate = field(call.body, "candidate", (str, int), required=True)
    alias = field(call.body, "alias", str) or "champion"
    steps = field(call.body, "steps", list)
    policy = field(call.body, "policy", dict) or {}
    parsed = rollouts.parse_steps(steps) if steps is not None else rollouts.DEFAULT_STEPS
    return _once(call, lambda also: rollouts.start_rollout(call.settings.store, name, str(candidate), alias=alias,
                                                            steps=parsed, policy=policy, actor=call.identity.name,
                                                            also=also))


def get_rollout(call: Call) -> dict[str, Any]:
    return {"rollout": json_safe(rollouts.get_rollout(call.settings.store, _rollout_id(call)).to_dict())}


def latest_rollout(call: Call) -> dict[str, Any]:
    """``?name=churn[&alias=champion]``: the running rollout of the model, else its latest."""
    name = call.request.query_params.get("name", "").strip()
    if not name:
        raise ValidationError("Reading rollouts needs the query parameter 'name' (the registered model).",
                              field="name")
    alias = call.request.query_params.get("alias") or None
    return {"rollout": json_safe(rollouts.latest_rollout(call.settings.store, name, alias).to_dict())}


def record_check(call: Call) -> dict[str, Any]:
    """``{"action", "reason", "statistics", "checks", "step_index"}``: apply one judged check to the rollout as the
    judge read it (``checks`` and ``step_index`` as it saw them; 409 when it changed since)."""
    replayed = call.recall()  # first: a replayed check must not meet the conflict its own first answer caused
    if replayed is not None:
        return replayed
    action = field(call.body, "action", str, required=True)
    if action not in ("advance", "hold", "rollback"):
        raise ValidationError(f"The field 'action' must be advance, hold or rollback, got {action[:40]!r}.",
                              field="action")
    reason = field(call.body, "reason", str, required=True)
    statistics = field(call.body, "statistics", dict) or {}
    seen_checks = field(call.body, "checks", int, required=True)
    seen_step = field(call.body, "step_index", int, required=True)
    store = call.settings.store
    rollout = rollouts.get_rollout(store, _rollout_id(call))
    if rollout.running and (rollout.checks, rollout.step_index) != (seen_checks, seen_step):
        raise ConflictError(f"Rollout {rollout.id} of {rollout.name} changed while it was judged (now check "
                            f"{rollout.checks} at {rollout.weight:g}%); the next check starts from there.")
    if action == "advance" and rollout.completing and rollout.alias in call.settings.protected_aliases:
        require(call.identity, ADMIN, f"Finishing a rollout onto the protected alias {rollout.alias!r}")
    if not rollout.running:
        raise ConflictError(f"Rollout {rollout.id} of {rollout.name} is {rollout.status}; no check applies to it.")
    return _once(call, lambda also: rollouts.record_check(store, rollout, action, reason, statistics,
                                                           actor=call.identity.name, also=also))


def abort_rollout(call: Call) -> dict[str, Any]:
    """``{"name", "alias", "reason"}``: stop the running rollout; all traffic goes back to the primary."""
    name = field(call.body, "name", str, required=True)
    alias, reason = field(call.body, "alias", str), field(call.body, "reason", str)
    return _once(call, lambda also: rollouts.abort_rollout(call.settings.store, name, alias=alias, reason=reason,
                                                            actor=call.identity.name, also=also))


def _once(call: Call, write: Callable[[rollouts.Also], rollouts.Rollout]) -> dict[str, Any]:
    """Run a rollout write at most once per idempotency key: the answer is recorded under the key in the write's own
    transaction (``also``), so a retry after any crash gets either the original answer or a first write, never a
    409 from its own earlier success; a write that fails records nothing."""
    replayed = call.recall()
    if replayed is not None:
        return replayed
    answer: dict[str, Any] = {}

    def remember(conn: Connection, rollout: rollouts.Rollout) -> None:
        answer["rollout"] = json_safe(rollout.to_dict())
        call.remember(conn, answer)

    try:
        write(remember)
    except IntegrityError:  # the same request arrived twice at once: the other copy recorded its answer first
        replayed = call.recall()
        if replayed is None:
            raise
        return replayed
    return answer


def _rollout_id(call: Call) -> int:
    text = str(call.path["rollout_id"])
    if not text.isdigit():
        raise ValidationError(f"A rollout id is a number, got {text[:20]!r}.", field="rollout_id")
    return int(text)
