"""A loop's ``rollout`` step: it starts a canary in the registry and judges it (here with no traffic, so the
rollout is still running when its timeout passes), and a second rollout of the same alias is refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import shipyard
from shipyard.loop.cycle import run_cycle
from shipyard.loop.spec import get_loop
from shipyard.models.registry import alias_history
from shipyard.models.rollouts import abort_rollout, latest_rollout
from shipyard.pipeline.spec import load_pipeline
from shipyard.store import current_store
from tests._tiny_model import register_tiny_pair

PROJECT = """\
name: canary
stages:
  noop:
    cmd: python -c "pass"
loops:
  roll:
    schedule: "@daily"
    steps:
      - rollout: {name: tiny, candidate: challenger, steps: [10, 100], interval: 0.05, timeout: 0,
                  log_dir: logs}
"""


def test_the_rollout_step_starts_a_canary_and_records_it(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(textwrap.dedent(PROJECT))
    shipyard.set_store(tmp_path / ".shipyard")
    try:
        register_tiny_pair("canary")
        store = current_store()
        pipeline = load_pipeline(tmp_path)
        loop = get_loop(pipeline, "roll")
        said: list[str] = []
        result = run_cycle(store, pipeline, loop, say=said.append)
        assert result.status == "succeeded", result
        step = result.steps[0]
        assert step["kind"] == "rollout" and step["status"] == "running" and step["weight"] == 10.0
        assert step["promoted"] is False and step["candidate_version"] == 2 and step["current_version"] == 1
        assert any("rollout 1 check 1: hold at 10%" in line for line in said), said
        rollout = latest_rollout(store, "tiny")
        assert rollout.running and rollout.checks == 1

        second = run_cycle(store, pipeline, loop)  # the first is still running: refused, and said so
        assert second.status == "failed" and "is still running" in (second.error or ""), second

        aborted = abort_rollout(store, "tiny", reason="test over")
        assert aborted.status == "aborted" and aborted.weight == 0.0
        actions = [event.action for event in alias_history(store, "tiny")]
        assert actions[-3:] == ["rollout_start", "rollout_hold", "rollout_abort"], actions
    finally:
        shipyard.set_store(None)
