"""Which variant answers: weighted shares, sticky keys stable across processes and weight changes."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from shipyard.serving.routing import Router, sticky_point
from shipyard.serving.spec import Variant


def variants(*weights: float) -> list[Variant]:
    return [Variant(f"v{index}", f"models:/churn/{index + 1}", weight) for index, weight in enumerate(weights)]


def test_sticky_points_are_golden_values() -> None:
    """BLAKE2b of the key, not hash(): the same in every process, on every machine, after restarts."""
    assert sticky_point("customer-1") == pytest.approx(0.9540507350117989, abs=1e-15)
    assert sticky_point("alice") == pytest.approx(0.3043658763184171, abs=1e-15)
    assert sticky_point("") == pytest.approx(0.8931675160897388, abs=1e-15)
    assert sticky_point("ü") == pytest.approx(0.3357180333125356, abs=1e-15)


def test_sticky_points_agree_in_another_process() -> None:
    keys = [f"user-{index}" for index in range(20)]
    code = ("import sys; from shipyard.serving.routing import sticky_point; "
            "print(' '.join(repr(sticky_point(k)) for k in sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, *keys], capture_output=True, text=True, check=True,
                          env={"PYTHONHASHSEED": "123", "PATH": ""}, timeout=60)
    assert [float(value) for value in done.stdout.split()] == [sticky_point(key) for key in keys]


def test_a_sticky_key_always_gets_the_same_variant() -> None:
    router = Router(variants(50, 30, 20))
    for key in (f"k{index}" for index in range(200)):
        first = router.choose(key)
        assert all(router.choose(key) == first for _ in range(5))
        assert Router(variants(50, 30, 20), seed=99).choose(key) == first  # the seed only drives keyless choices


def test_sticky_keys_fill_each_share_in_proportion() -> None:
    router = Router(variants(80, 20))
    counts = Counter(router.choose(f"customer-{index}") for index in range(20_000))
    assert counts[1] / 20_000 == pytest.approx(0.2, abs=0.015)


@pytest.mark.parametrize("weights", [(80, 20), (1, 1, 2), (0.5, 0.25, 0.25)])
def test_keyless_choices_follow_the_weights(weights: tuple[float, ...]) -> None:
    router = Router(variants(*weights), seed=7)
    draws = 20_000
    counts = Counter(router.choose() for _ in range(draws))
    total = sum(weights)
    for index, weight in enumerate(weights):
        share = weight / total
        sd = (share * (1 - share) / draws) ** 0.5
        assert abs(counts[index] / draws - share) < 5 * sd, (index, counts)


def test_a_zero_weight_variant_never_gets_live_traffic() -> None:
    router = Router(variants(0, 1, 0), seed=1)
    assert {router.choose() for _ in range(2_000)} == {1}
    assert {router.choose(f"key-{index}") for index in range(2_000)} == {1}


def test_changing_weights_moves_only_keys_that_cross_the_boundary() -> None:
    before, after = Router(variants(80, 20)), Router(variants(70, 30))
    keys = [f"customer-{index}" for index in range(5_000)]
    moved = [key for key in keys if before.choose(key) != after.choose(key)]
    assert all(before.choose(key) == 0 and after.choose(key) == 1 for key in moved)  # only towards the new share
    assert all(before.choose(key) == after.choose(key) == 1 for key in keys if sticky_point(key) >= 0.8)
    assert len(moved) / len(keys) == pytest.approx(0.1, abs=0.02)


def test_the_seed_makes_keyless_choices_reproducible() -> None:
    first, second = Router(variants(50, 50), seed=3), Router(variants(50, 50), seed=3)
    assert [first.choose() for _ in range(50)] == [second.choose() for _ in range(50)]
