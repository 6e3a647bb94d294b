"""Thinned metric histories: the rule (every stride-th distinct step, the last always kept) in one place."""

from __future__ import annotations

import math

import shipyard
from shipyard.store import current_store
from shipyard.tracking.metrics import thinned_histories, thinned_steps, thinning_stride


def test_thinned_steps_keep_bucket_ends_and_the_last_step() -> None:
    assert thinned_steps([], 10) == []
    assert thinned_steps([0, 5, 9], 10) == [0, 5, 9]  # short histories are kept whole
    assert thinning_stride(10_000, 1000) == 10 and thinning_stride(10_001, 1000) == 11
    kept = thinned_steps(list(range(10_001)), 1000)
    assert kept[:3] == [10, 21, 32] and kept[-1] == 10_000 and len(kept) == 910
    # 10 steps 0, 7, ..., 63 to at most 3 points: stride 4, so the 4th and 8th steps, then the last one.
    assert thinned_steps(list(range(0, 70, 7)), 3) == [21, 49, 63]


def test_histories_of_all_keys_come_back_thinned_by_the_same_rule() -> None:
    with shipyard.start_run(experiment="e") as run:
        for step in range(2_500):
            shipyard.log_metrics({"loss": 1 / (step + 1), "acc": step / 2_500}, step=step * 3)
        shipyard.log_metric("short", 1.0, step=0)
        shipyard.log_metric("short", 2.0, step=0)  # the same step again: the later value wins
        shipyard.log_metric("short", math.nan, step=4)
        shipyard.log_metric("other", 5.0, step=1)
    histories = thinned_histories(current_store(), run.id, ["loss", "acc", "short", "absent"], 100)
    assert set(histories) == {"loss", "acc", "short"}  # "other" was not asked for, "absent" was never logged
    expected_steps = thinned_steps([step * 3 for step in range(2_500)], 100)
    for key in ("loss", "acc"):
        assert [step for step, _ in histories[key]] == expected_steps
        assert len(histories[key]) <= 101 and histories[key][-1][0] == 2_499 * 3  # the last step is kept
    assert histories["loss"][-1][1] == 1 / 2_500
    assert histories["short"] == [(0, 2.0), (4, None)]
    assert thinned_histories(current_store(), run.id, [], 100) == {}
