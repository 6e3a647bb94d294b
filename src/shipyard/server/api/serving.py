"""What a ``shipyard serve`` replica asks of the team server besides models: rollouts and bandit posteriors.

A serving replica started with ``SHIPYARD_TRACKING_URI`` (:mod:`shipyard.serving.remote_source`) polls these every
second, as a replica on a store reads the store: the running canary rollouts, and the reward sums of its
``routing: thompson`` deployments; when a label arrives for such a deployment it posts the rewards. Each handler
calls the same library function the store-backed server calls (:mod:`shipyard.models.rollouts`,
:mod:`shipyard.models.bandits`). Posting rewards needs no idempotency key: the store counts each (deployment,
request id, row) once, so a retried post adds nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from ...errors import ValidationError
from ...models.bandits import Reward, ScoreSums, add_score_sums, arm_states, record_rewards
from ...models.rollouts import running_rollouts
from .protocol import Call, field

MAX_REWARDS = 10_000  # one feedback request's rows (serving caps a request far below this)


def rollouts(call: Call) -> dict[str, Any]:
    """The running canary rollouts, each with every field of :class:`~shipyard.models.rollouts.Rollout`."""
    return {"rollouts": [asdict(rollout) for rollout in running_rollouts(call.settings.store)]}


def bandits(call: Call) -> dict[str, Any]:
    """``?deployments=churn,fraud``: deployment -> variant -> its reward sums (never-labelled variants absent)."""
    text = call.request.query_params.get("deployments", "")
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValidationError("Reading bandit posteriors needs the query parameter 'deployments' (names separated "
                              "by commas, e.g. deployments=churn).", field="deployments")
    states = arm_states(call.settings.store, names)
    return {"arms": {deployment: {variant: asdict(state) for variant, state in arms.items()}
                     for deployment, arms in states.items()}}


def rewards(call: Call) -> dict[str, Any]:
    """``{"deployment": "churn", "rewards": [{"request_id", "row", "variant", "reward", "propensity"}, ...]}``: the
    rewards not counted yet are added to the posteriors; answers how many were new."""
    deployment = field(call.body, "deployment", str, required=True)
    items = field(call.body, "rewards", list, required=True)
    if len(items) > MAX_REWARDS:
        raise ValidationError(f"The field 'rewards' holds {len(items)} rewards; send at most {MAX_REWARDS} at once.",
                              field="rewards")
    return {"added": record_rewards(call.settings.store, deployment, [_reward(item, index)
                                                                      for index, item in enumerate(items)])}


def scores(call: Call) -> dict[str, Any]:
    """``{"deployment": "churn", "scores": {"a": {"count", "expected", "squares"}, ...}}``: one beat's answered
    predictions' scores, added to each variant's provisional evidence. Sums are added, so the write runs once per
    idempotency key (a retry after a lost answer adds nothing)."""
    deployment = field(call.body, "deployment", str, required=True)
    given = field(call.body, "scores", dict, required=True)
    sums = {str(variant): _sums(item, f"scores.{variant}") for variant, item in given.items()}
    return call.once(lambda conn: {"added": add_score_sums(deployment, sums)(conn)})


def _sums(item: Any, where: str) -> ScoreSums:
    if not isinstance(item, dict):
        raise ValidationError(f"The field '{where}' must be an object.", field=where)
    count = field(item, "count", int, required=True)
    expected = float(field(item, "expected", (int, float), required=True))
    squares = float(field(item, "squares", (int, float), required=True))
    if count < 0 or not 0.0 <= expected <= count or not 0.0 <= squares <= count:
        raise ValidationError(f"The field '{where}' must hold a count of 0 or more and sums of probabilities within "
                              f"it, got count {count}, expected {expected}, squares {squares}.", field=where)
    return ScoreSums(count, expected, squares)


def _reward(item: Any, index: int) -> Reward:
    where = f"rewards[{index}]"
    if not isinstance(item, dict):
        raise ValidationError(f"The field '{where}' must be an object.", field=where)
    request_id = field(item, "request_id", str, required=True)
    row = field(item, "row", int, required=True)
    variant = field(item, "variant", str, required=True)
    reward = float(field(item, "reward", (int, float), required=True))
    propensity = float(field(item, "propensity", (int, float), required=True))
    if not 0.0 <= reward <= 1.0 or not math.isfinite(reward):
        raise ValidationError(f"The field '{where}.reward' must be a number in [0, 1], got {reward}.",
                              field=f"{where}.reward")
    if not 0.0 < propensity <= 1.0:
        raise ValidationError(f"The field '{where}.propensity' must be a probability above 0, got {propensity}.",
                              field=f"{where}.propensity")
    if row < 0:
        raise ValidationError(f"The field '{where}.row' must be 0 or more, got {row}.", field=f"{where}.row")
    expected = field(item, "expected", (int, float))
    if expected is not None and not 0.0 <= float(expected) <= 1.0:
        raise ValidationError(f"The field '{where}.expected' must be a probability, got {expected}.",
                              field=f"{where}.expected")
    return Reward(request_id, row, variant, reward, propensity, None if expected is None else float(expected))
