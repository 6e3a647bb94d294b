"""Bandit routing's shared state: each variant's reward sums in the store, where every server agrees on them.

A ``routing: thompson`` deployment (``serving/spec.py``) routes by posteriors built from these sums; every server
process and replica reads them once a second (``serving/fleet.py``), so all of them route alike. A label is
counted when it arrives, on whichever replica receives it: :func:`record_rewards` adds a row per labelled
prediction to ``bandit_rewards`` and its reward and inverse propensity to the variant's sums in
``bandit_arms``, in one transaction. The row's key is the prediction's ``(deployment, request_id, row)``, so a
label posted twice (a client's retry, two replicas) is counted once: the first label of a prediction is the one
that counts. A prediction whose label has not arrived counts for nothing (pending is not a failure).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from ..store import Store
from ..store.dialect import insert_ignore, insert_one_ignore
from ..store.schema import bandit_arms, bandit_rewards

_SUMS = ("count", "reward", "weight", "weighted_reward", "weight_squares", "weight_squares_reward",
         "weight_squares_reward_squares")


@dataclass(frozen=True)
class Reward:
    """One labelled prediction: the variant that answered, its reward in [0, 1] and its routing propensity."""

    request_id: str
    row: int
    variant: str
    reward: float
    propensity: float


@dataclass(frozen=True)
class ArmState:
    """A variant's sums over its labelled requests (``w = 1 / propensity``); see ``monitoring/stats/bandit.py``."""

    variant: str
    count: int
    reward: float
    weight: float
    weighted_reward: float
    weight_squares: float
    weight_squares_reward: float
    weight_squares_reward_squares: float
    updated_at: int

    @property
    def successes(self) -> float:
        return self.reward

    @property
    def failures(self) -> float:
        return self.count - self.reward


def record_rewards(store: Store, deployment: str, rewards: list[Reward]) -> int:
    """Count the labels not counted yet; returns how many were new (a repeated label adds nothing)."""
    if not rewards:
        return 0
    now = time.time_ns() // 1_000_000

    def write(conn: Connection) -> int:
        added: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(_SUMS))
        for item in rewards:
            if not insert_one_ignore(conn, bandit_rewards, {
                    "deployment": deployment, "request_id": item.request_id, "row": item.row,
                    "variant": item.variant, "reward": item.reward, "propensity": item.propensity,
                    "created_at": now}):
                continue
            w, r = 1.0 / item.propensity, item.reward
            for index, value in enumerate((1.0, r, w, w * r, w * w, w * w * r, w * w * r * r)):
                added[item.variant][index] += value
        if not added:
            return 0
        insert_ignore(conn, bandit_arms, [{"deployment": deployment, "variant": variant, "updated_at": now,
                                           **dict.fromkeys(_SUMS, 0)} for variant in sorted(added)])
        for variant, sums in sorted(added.items()):
            increments = {name: bandit_arms.c[name] + value for name, value in zip(_SUMS, sums, strict=True)}
            conn.execute(update(bandit_arms).where(bandit_arms.c.deployment == deployment,
                                                   bandit_arms.c.variant == variant)
                         .values(updated_at=now, **increments))
        return int(sum(sums[0] for sums in added.values()))

    return store.db.write(write)


def arm_states(store: Store, deployments: list[str] | None = None) -> dict[str, dict[str, ArmState]]:
    """deployment -> variant -> its sums (variants never labelled are absent), in one small query."""
    def read(conn: Connection) -> list[object]:
        query = select(bandit_arms)
        if deployments is not None:
            query = query.where(bandit_arms.c.deployment.in_(deployments))
        return list(conn.execute(query).all())

    states: dict[str, dict[str, ArmState]] = defaultdict(dict)
    for row in store.db.read(read):
        values = row._mapping  # type: ignore[attr-defined]
        states[values["deployment"]][values["variant"]] = ArmState(
            variant=values["variant"], count=int(values["count"]), updated_at=int(values["updated_at"]),
            **{name: float(values[name]) for name in _SUMS[1:]})
    return dict(states)
