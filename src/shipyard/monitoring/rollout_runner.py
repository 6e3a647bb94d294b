"""Run a canary rollout: look at the logs every interval, let the judge decide, apply the decision.

The servers route by what the store says (``serving/fleet.py``); this loop is what changes it. It can run
anywhere that reaches the store and the prediction log (``shipyard rollout start`` in a terminal, a loop's
``rollout`` step), and two of them at once cannot both apply a look: ``models.rollouts.record_check``
applies a decision only to the rollout as it was read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from ..errors import ConflictError
from ..models.rollout_book import RolloutBook, rollout_book
from ..models.rollouts import Rollout
from ..store import Store
from .rollout_evidence import gather_evidence
from .rollout_judge import JudgePolicy, Verdict, judge

CheckObserver = Callable[[Rollout, Verdict], None]


def policy_of(rollout: Rollout) -> JudgePolicy:
    """The judge's settings stored with the rollout (keys that are not the judge's, such as ``shadow``, skipped)."""
    known = {item.name for item in fields(JudgePolicy)}
    return JudgePolicy(**{key: value for key, value in rollout.policy.items() if key in known})


def check_rollout(store: Store | RolloutBook, rollout_id: int, *,
                  log_dir: str | None = None) -> tuple[Rollout, Verdict | None]:
    """One look: gather the evidence, judge, apply. Returns the rollout after it and the verdict (None: the
    rollout had already ended, or another judge applied this look first). ``store`` is a store or where rollouts
    are kept (a team server's :class:`~shipyard.models.rollout_book.ServerRollouts`)."""
    book = rollout_book(store)
    rollout = book.get(rollout_id)
    if not rollout.running:
        return rollout, None
    verdict = judge(gather_evidence(book.store, rollout, log_dir=log_dir), policy_of(rollout),
                    completing=rollout.completing)
    try:
        return book.record_check(rollout, verdict.action, verdict.reason, verdict.statistics), verdict
    except ConflictError:
        return book.get(rollout_id), None


def run_rollout(store: Store | RolloutBook, rollout_id: int, *, interval_s: float = 30.0,
                timeout_s: float | None = None, log_dir: str | None = None, on_check: CheckObserver | None = None,
                clock: Callable[[], float] = time.monotonic, pause: Callable[[float], Any] = time.sleep) -> Rollout:
    """Check every ``interval_s`` seconds until the rollout completes, is rolled back or aborted.

    ``timeout_s`` bounds the wait: when it passes, the rollout is left running at its current weight (``rollout
    status`` shows it; ``rollout abort`` ends it), and the rollout is returned as it is.
    """
    deadline = None if timeout_s is None else clock() + timeout_s
    book = rollout_book(store)
    while True:
        rollout, verdict = check_rollout(book, rollout_id, log_dir=log_dir)
        if verdict is not None and on_check is not None:
            on_check(rollout, verdict)
        if not rollout.running or (deadline is not None and clock() >= deadline):
            return rollout
        pause(interval_s)
