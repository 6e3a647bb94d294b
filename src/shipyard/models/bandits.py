"""Bandit routing's shared state: each variant's reward sums in the store, where every server agrees on them.

A ``routing: thompson`` deployment (``serving/spec.py``) routes by posteriors built from these sums; every server
process and replica reads them once a second (``serving/fleet.py``), so all of them route alike. A label is
counted when it arrives, on whichever replica receives it: :func:`record_rewards` adds a row per labelled
prediction to ``bandit_rewards`` and its reward and inverse propensity to the variant's sums in
``bandit_arms``, in one transaction. The row's key is the prediction's ``(deployment, request_id, row)``, so a
label posted twice (a client's retry, two replicas) is counted once: the first label of a prediction is the one
that counts. A prediction whose label has not arrived counts for nothing (pending is not a failure) among the
label sums.

Its calibrated P(correct) counts provisionally instead (``serving/thompson.py`` ``scored_counts``, migration
0012): :func:`record_scores` adds each scored prediction's ``q`` to the variant's ``scored`` sums, and when its
label is counted, :func:`record_rewards` adds the same ``q`` and the reward to the ``labelled_*`` sums (in the
transaction that counts the label, so once). Pending is ``scored - labelled``: a label replaces its prediction's
provisional evidence rather than adding to it. A label can be counted before its prediction's score reaches
the store (the servers add scores once a second); the posterior then sees it as labelled a second early.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from ..store import Store
from ..store.dialect import insert_ignore, insert_one_ignore
from ..store.schema import bandit_arms, bandit_rewards

_SUMS = ("count", "reward", "weight", "weighted_reward", "weight_squares", "weight_squares_reward",
         "weight_squares_reward_squares")
_LABELLED_SCORES = ("labelled_scored", "labelled_expected", "labelled_scored_reward")
_SCORES = ("scored", "scored_expected", "scored_squares")
_ALL = (*_SUMS, *_SCORES, *_LABELLED_SCORES)


@dataclass(frozen=True)
class Reward:
    """One labelled prediction: the variant that answered, its reward in [0, 1] and its routing propensity."""

    request_id: str
    row: int
    variant: str
    reward: float
    propensity: float
    expected: float | None = None  # the prediction's calibrated P(correct), when it carried one


@dataclass(frozen=True)
class ScoreSums:
    """Scored predictions of one variant not yet added to the store: their count, sum q and sum q^2."""

    count: int = 0
    expected: float = 0.0
    squares: float = 0.0

    def add(self, expected: float) -> ScoreSums:
        return ScoreSums(self.count + 1, self.expected + expected, self.squares + expected * expected)


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
    scored: int = 0  # predictions that carried a calibrated P(correct) q (labelled or pending)
    scored_expected: float = 0.0  # sum q
    scored_squares: float = 0.0  # sum q^2
    labelled_scored: int = 0  # of them, labelled
    labelled_expected: float = 0.0  # sum q over the labelled
    labelled_scored_reward: float = 0.0  # sum r over the labelled

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
        names = (*_SUMS, *_LABELLED_SCORES)
        added: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(names))
        for item in rewards:
            if not insert_one_ignore(conn, bandit_rewards, {
                    "deployment": deployment, "request_id": item.request_id, "row": item.row,
                    "variant": item.variant, "reward": item.reward, "propensity": item.propensity,
                    "created_at": now, "expected": item.expected}):
                continue
            w, r = 1.0 / item.propensity, item.reward
            scored = (1.0, item.expected, r) if item.expected is not None else (0.0, 0.0, 0.0)
            for index, value in enumerate((1.0, r, w, w * r, w * w, w * w * r, w * w * r * r, *scored)):
                added[item.variant][index] += value
        if not added:
            return 0
        _add(conn, deployment, names, added, now)
        return int(sum(sums[0] for sums in added.values()))

    return store.db.write(write)


def record_scores(store: Store, deployment: str, scores: dict[str, ScoreSums]) -> None:
    """Add scored predictions (variant -> their sums) to the provisional evidence, whose labels are pending."""
    store.db.write(add_score_sums(deployment, scores))


def add_score_sums(deployment: str, scores: dict[str, ScoreSums]) -> Callable[[Connection], int]:
    """:func:`record_scores` as a write for a caller's transaction (a server's idempotent request); returns how
    many predictions it added."""
    scores = {variant: sums for variant, sums in scores.items() if sums.count}
    added = {variant: [float(sums.count), sums.expected, sums.squares] for variant, sums in scores.items()}

    def write(conn: Connection) -> int:
        if added:
            _add(conn, deployment, _SCORES, added, time.time_ns() // 1_000_000)
        return sum(sums.count for sums in scores.values())

    return write


def _add(conn: Connection, deployment: str, names: tuple[str, ...], added: dict[str, list[float]], now: int) -> None:
    """Add ``added`` (variant -> one value per column of ``names``) to the variants' rows, made if missing."""
    insert_ignore(conn, bandit_arms, [{"deployment": deployment, "variant": variant, "updated_at": now,
                                       **dict.fromkeys(_ALL, 0)} for variant in sorted(added)])
    for variant, sums in sorted(added.items()):
        increments = {name: bandit_arms.c[name] + value for name, value in zip(names, sums, strict=True)}
        conn.execute(update(bandit_arms).where(bandit_arms.c.deployment == deployment,
                                               bandit_arms.c.variant == variant)
                     .values(updated_at=now, **increments))


def arm_states(store: Store, deployments: list[str] | None = None) -> dict[str, dict[str, ArmState]]:
    """deployment -> variant -> its sums (variants never labelled nor scored are absent), in one small query."""
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
            scored=int(values["scored"]), labelled_scored=int(values["labelled_scored"]),
            **{name: float(values[name]) for name in (*_SUMS[1:], *_SCORES[1:], *_LABELLED_SCORES[1:])})
    return dict(states)
