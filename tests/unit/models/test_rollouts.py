"""Rollouts in the registry against a real store: starting, one running per alias, checks applied once, the
alias moved at the end, weights at 0 after a rollback or an abort, every step in the audit log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import shipyard
from shipyard.errors import ConflictError, NotFoundError, ValidationError
from shipyard.models.registry import alias_history, resolve
from shipyard.models.rollouts import (
    abort_rollout,
    latest_rollout,
    parse_steps,
    record_check,
    running_rollouts,
    start_rollout,
)
from shipyard.store import Store, current_store


@pytest.fixture
def store() -> Store:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=80), "y": rng.normal(size=80)})
    target = (frame["x"] + frame["y"] > 0).astype(int)
    for c_value in (0.1, 1.0, 10.0):
        with shipyard.start_run():
            info = shipyard.log_model(LogisticRegression(C=c_value).fit(frame, target), input_example=frame)
        shipyard.register_model(info, "churn")
    shipyard.set_alias("churn", "champion", 1)
    shipyard.set_alias("churn", "challenger", 2)
    return current_store()


def test_steps_parse_and_refuse() -> None:
    assert parse_steps("5, 25,50,100") == (5.0, 25.0, 50.0, 100.0)
    for bad in ("5,25,50", "50,25,100", "0,100", "100", "five,100", "5,25,50,120"):
        with pytest.raises(ValidationError, match="--steps"):
            parse_steps(bad)


def test_a_rollout_advances_to_the_end_and_moves_the_alias(store: Store) -> None:
    rollout = start_rollout(store, "churn", "challenger", steps=(10.0, 50.0, 100.0), policy={"max_labels": 10})
    assert (rollout.primary_version, rollout.candidate_version, rollout.weight) == (1, 2, 10.0)
    assert [item.id for item in running_rollouts(store)] == [rollout.id] and not rollout.completing
    held = record_check(store, rollout, "hold", "waiting", {"candidate_requests": 3})
    assert held.weight == 10.0 and held.checks == 1 and held.last_verdict["action"] == "hold"
    middle = record_check(store, held, "advance", "fine", {"candidate_requests": 120})
    assert middle.weight == 50.0 and middle.step_index == 1 and middle.completing
    done = record_check(store, middle, "advance", "fine again", {"candidate_requests": 900})
    assert done.status == "completed" and done.weight == 100.0 and done.finished_at is not None
    assert resolve(store, "models:/churn@champion")[0].version == 2  # the alias moved
    assert running_rollouts(store) == []
    actions = [event.action for event in alias_history(store, "churn")]
    assert actions[-4:] == ["rollout_start", "rollout_hold", "rollout_advance", "rollout_complete"]
    complete = alias_history(store, "churn")[-1]
    assert (complete.from_version, complete.to_version) == (1, 2)
    assert complete.details is not None and complete.details["statistics"] == {"candidate_requests": 900}


def test_a_rollback_sets_the_weight_to_zero_and_keeps_the_alias(store: Store) -> None:
    rollout = start_rollout(store, "churn", "3")
    rolled = record_check(store, rollout, "rollback", "mean loss 0.13 against 0.10", {"loss": {"pvalue": 0.004}})
    assert rolled.status == "rolled_back" and rolled.weight == 0.0 and rolled.reason.startswith("mean loss")
    assert resolve(store, "models:/churn@champion")[0].version == 1
    last = alias_history(store, "churn")[-1]
    assert last.action == "rollout_rollback" and last.details["statistics"]["loss"]["pvalue"] == 0.004
    assert latest_rollout(store, "churn").id == rolled.id


def test_one_running_rollout_per_alias_and_a_check_applies_once(store: Store) -> None:
    rollout = start_rollout(store, "churn", "challenger")
    with pytest.raises(ConflictError, match="still running"):
        start_rollout(store, "churn", "3")
    record_check(store, rollout, "hold", "waiting", {})
    with pytest.raises(ConflictError, match="changed while it was judged"):  # a second judge with the old read
        record_check(store, rollout, "advance", "fine", {})
    aborted = abort_rollout(store, "churn", reason="pager")
    assert aborted.status == "aborted" and aborted.weight == 0.0
    with pytest.raises(NotFoundError, match="No rollout of 'churn' is running"):
        abort_rollout(store, "churn")


def test_start_refuses_what_cannot_roll_out(store: Store) -> None:
    with pytest.raises(ValidationError, match="already serves version 1"):
        start_rollout(store, "churn", "1")
    with pytest.raises(NotFoundError, match="no alias 'nightly'"):
        start_rollout(store, "churn", "nightly")
    with pytest.raises(NotFoundError):
        start_rollout(store, "nomodel", "challenger")
    with pytest.raises(NotFoundError, match="has no rollout yet"):
        latest_rollout(store, "churn")
