"""Which variant answers a request: weighted random, or sticky by a key so a user keeps one model.

A sticky key is hashed to a point in [0, 1) and the point falls in one variant's share of the weights, so
the same key lands on the same variant in every worker process and after restarts, without any shared
state. Changing the weights moves only the keys whose points cross a boundary.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace
from itertools import accumulate

from .spec import Variant


class Router:
    def __init__(self, variants: Sequence[Variant], *, seed: int | None = None) -> None:
        total = sum(variant.weight for variant in variants)
        self._bounds = [weight / total for weight in accumulate(variant.weight for variant in variants)]
        self._bounds[-1] = 1.0
        self._random = random.Random(seed)

    def choose(self, sticky_key: str | None = None) -> int:
        """The index of the variant for this request."""
        point = sticky_point(sticky_key) if sticky_key is not None else self._random.random()
        for index, bound in enumerate(self._bounds):
            if point < bound:
                return index
        return len(self._bounds) - 1

    def share(self, index: int) -> float:
        """The probability that :meth:`choose` without a sticky key returns ``index`` (its propensity)."""
        return self._bounds[index] - (self._bounds[index - 1] if index else 0.0)


def sticky_point(key: str) -> float:
    """A stable point in [0, 1) for a key (the same in every process, unlike ``hash()``)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def bandit_router(variants: Sequence[Variant], probabilities: Sequence[float]) -> Router:
    """A router sending each variant its routing probability (``routing: thompson``, see :mod:`.thompson`)."""
    return Router([replace(variant, weight=chance) for variant, chance in zip(variants, probabilities, strict=True)])


def canary_router(variants: Sequence[Variant], canary: Variant | None, weight: float) -> Router:
    """A canary at ``weight`` percent after the primaries, which keep their proportions within the rest.

    The canary comes last, so its share is the top of [0, 1): as its weight grows, a deployment with one primary
    only ever moves sticky keys to the canary (with several primaries, keys near their boundaries also shift
    between them, as any change of weights does).
    """
    if canary is None:
        return Router(variants)
    total = sum(variant.weight for variant in variants)
    scaled = [replace(variant, weight=variant.weight / total * (100.0 - weight)) for variant in variants]
    return Router([*scaled, replace(canary, weight=weight)])
