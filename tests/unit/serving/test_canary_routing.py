"""A canary's weight in the router: the primaries keep their proportions in the rest, and as the canary grows
sticky keys only ever move to it."""

from __future__ import annotations

from collections import Counter

import pytest

from shipyard.serving.routing import canary_router
from shipyard.serving.spec import Variant

PRIMARIES = (Variant("champion", "models:/churn@champion", 80.0), Variant("other", "models:/churn@other", 20.0))
CANARY = Variant("rollout-1", "models:/churn/3", 0.0)


def test_the_canary_takes_its_weight_and_the_primaries_share_the_rest() -> None:
    router = canary_router(PRIMARIES, CANARY, 25.0)
    counts = Counter(router.choose(f"key-{index}") for index in range(40_000))
    assert counts[2] / 40_000 == pytest.approx(0.25, abs=0.01)
    assert counts[0] / 40_000 == pytest.approx(0.60, abs=0.01)  # 80% of the remaining 75%
    assert counts[1] / 40_000 == pytest.approx(0.15, abs=0.01)


def test_no_canary_is_the_file_weights() -> None:
    router = canary_router(PRIMARIES, None, 0.0)
    counts = Counter(router.choose(f"key-{index}") for index in range(20_000))
    assert set(counts) == {0, 1} and counts[0] / 20_000 == pytest.approx(0.8, abs=0.015)


def test_all_traffic_at_one_hundred_percent() -> None:
    router = canary_router(PRIMARIES, CANARY, 100.0)
    assert {router.choose(f"key-{index}") for index in range(2000)} == {2}


def test_with_one_primary_sticky_keys_move_only_towards_the_canary() -> None:
    keys = [f"customer-{index}" for index in range(5000)]
    chosen = {weight: [canary_router(PRIMARIES[:1], CANARY, weight).choose(key) for key in keys]
              for weight in (5.0, 25.0, 50.0)}
    for smaller, larger in ((5.0, 25.0), (25.0, 50.0)):
        for before, after in zip(chosen[smaller], chosen[larger], strict=True):
            assert before == after or after == 1  # a key leaves the primary only for the canary
        assert chosen[smaller].count(1) < chosen[larger].count(1)
