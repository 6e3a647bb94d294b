"""Real cycles with ``shipyard loop run``: retrain, register the challenger, promote it only when it is better.

Each cycle runs the project's real stages (``prepare`` writes seeded parquet splits, ``train`` fits and logs a
scikit-learn pipeline in its stage run), so the cycle record, the tracking runs, the model versions and the
registry's audit log must all agree.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import shipyard
from tests.integration.loop._project import FEATURES, PARAMS, RETRAIN, WEAK, calls, cli_json, make_project, set_params
from tests.integration.pipeline._pipelines import invoke, plain, run_cli


def _steps(cycle: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {step["step"]: step for step in cycle["steps"]}


def _holders(alias: str) -> list[int]:
    return [version.version for version in shipyard.list_model_versions("churn") if alias in version.aliases]


def _train_run(repro_step: dict[str, Any]) -> str:
    (train,) = [stage for stage in repro_step["stages"] if stage["stage"] == "train"]
    assert train["status"] == "ran"
    return str(train["run_id"])


def _invoke_json(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_better_model_is_promoted_and_one_no_better_is_held_back_with_both_scores_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "loopy", {"retrain": RETRAIN},
                        params={**PARAMS, "train": {"features": WEAK, "C": 1.0}})
    monkeypatch.chdir(root)  # the CLI in-process: the stages still run as real subprocesses

    first = _invoke_json("loop", "run", "retrain", "--json")
    assert calls(root) == ["prepare", "train"]
    set_params(root, "train", features=FEATURES)  # a clearly better model on the same data
    better = _invoke_json("loop", "run", "retrain", "--json")
    set_params(root, "train", C=0.5)  # retrained on the same data: no real gain
    same = _invoke_json("loop", "run", "retrain", "--json")
    assert calls(root) == ["prepare", "train", "train", "train"]  # prepare is not rerun: its data did not change

    assert [cycle["status"] for cycle in (first, better, same)] == ["succeeded"] * 3
    promotions = [_steps(cycle)[3] for cycle in (first, better, same)]
    assert [step["promoted"] for step in promotions] == [True, True, False]
    assert [step["candidate_version"] for step in promotions] == [1, 2, 3]
    assert [step["current_version"] for step in promotions] == [None, 1, 2]
    assert promotions[0]["current_score"] is None
    assert promotions[1]["candidate_score"] > promotions[1]["current_score"] + 0.01
    assert abs(promotions[2]["candidate_score"] - promotions[2]["current_score"]) < 0.01
    assert _holders("champion") == [2]
    assert _holders("challenger") == [3]

    history = _invoke_json("loop", "history", "retrain", "--json")
    assert [cycle["number"] for cycle in history] == [3, 2, 1]
    assert [cycle["trigger"] for cycle in history] == ["manual"] * 3
    for cycle, version in zip(history, (3, 2, 1), strict=True):
        steps = _steps(cycle)
        assert [steps[n]["kind"] for n in (1, 2, 3)] == ["repro", "register", "promote"]
        run_id = _train_run(steps[1])
        assert (steps[2]["version"], steps[2]["run_id"], steps[2]["reused"]) == (version, run_id, False)
        assert steps[2]["source"] == f"runs:/{run_id}/model"
        assert steps[3]["candidate_version"] == version
        registered = shipyard.get_model_version("churn", version)
        assert registered.run_id == run_id  # the cycle links to the version, the version to the stage run
        assert shipyard.get_run(run_id).tags["shipyard.stage"] == "train"
        assert cycle["finished_at"] is not None and cycle["duration_s"] > 0
    assert history[1]["steps"] == better["steps"]

    events = _invoke_json("models", "history", "churn", "--json")
    decisions = [event for event in events if event["alias"] == "champion"]
    assert [(event["action"], event["from_version"], event["to_version"]) for event in decisions] == [
        ("promoted", None, 1), ("promoted", 1, 2), ("held_back", 2, 3)]
    for event, step in zip(decisions[1:], promotions[1:], strict=True):
        assert event["details"]["candidate_score"] == pytest.approx(step["candidate_score"])
        assert event["details"]["current_score"] == pytest.approx(step["current_score"])
        assert event["details"]["metric"] == "roc_auc" and event["details"]["min_delta"] == 0.01
    assert "vs v2's" in decisions[2]["reason"]
    challenger = [(event["action"], event["to_version"]) for event in events if event["alias"] == "challenger"]
    assert challenger == [("set", 1), ("set", 2), ("set", 3)]

    text = plain(invoke("loop", "history", "retrain").stdout)
    assert "#3 succeeded (manual)" in text
    assert "v3 held back (roc_auc" in text and "v2 promoted (roc_auc" in text


def test_a_failing_step_is_retried_notifies_once_and_never_promotes(tmp_path: Path, webhook: Any) -> None:
    flaky = {
        "schedule": "0 3 * * *",
        "steps": [*RETRAIN["steps"][:2], {"repro": ["broken"]}, RETRAIN["steps"][2]],
        "on_failure": {"notify": webhook.url, "retries": 2, "retry_delay": "1s"},
    }
    root = make_project(tmp_path / "loopy", {"flaky": flaky})

    started = time.monotonic()
    done = run_cli("loop", "run", "flaky", "--json", cwd=root)
    elapsed = time.monotonic() - started

    assert done.returncode == 1, done.stdout + done.stderr
    cycle = json.loads(done.stdout)
    assert cycle["status"] == "failed"
    assert cycle["error"].startswith("step 3 (repro broken) failed: ")
    assert calls(root) == ["prepare", "train", "broken", "broken", "broken"]  # 1 try + 2 retries of step 3 only
    assert elapsed >= 2.0  # two retry delays of 1 s
    failed = [step for step in cycle["steps"] if step["status"] == "failed"]
    assert [(step["step"], step["attempt"]) for step in failed] == [(3, 1), (3, 2), (3, 3)]
    assert all("broken" in step["error"] for step in failed)
    assert [step["kind"] for step in cycle["steps"]].count("promote") == 0

    assert len(webhook.received) == 1, webhook.received
    (message,) = webhook.received
    assert message["path"] == "/hooks/loop"
    assert message["content_type"] == "application/json"
    assert (message["body"]["loop"], message["body"]["cycle"], message["body"]["status"]) == ("flaky", 1, "failed")
    assert message["body"]["error"] == cycle["error"]
    assert "step 3" in message["body"]["error"]

    events = shipyard.alias_history("churn")  # the register step ran; the promotion never did
    assert [(event.alias, event.action, event.to_version) for event in events] == [("challenger", "set", 1)]
    assert _holders("champion") == []

    (recorded,) = cli_json(run_cli("loop", "history", "flaky", "--json", cwd=root))
    assert (recorded["status"], recorded["error"]) == ("failed", cycle["error"])
    listed = cli_json(run_cli("loop", "list", "--json", cwd=root))
    assert [(row["loop"], row["last"]["status"]) for row in listed] == [("flaky", "failed")]
