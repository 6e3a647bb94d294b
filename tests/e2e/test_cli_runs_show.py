"""``shipyard runs show``: one run by abbreviated id, as text and as the stable JSON form."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, Seeded


SHOW_KEYS = ["run_id", "experiment", "name", "status", "start_time", "end_time", "duration_s", "parent_run_id",
             "error", "params", "metrics", "tags", "lineage", "artifacts"]


def test_text_output_has_params_metrics_tags_and_artifacts(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("runs", "show", seeded.baseline[:6])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.splitlines()[0] == f"logreg-l2  {seeded.baseline}"
    assert "experiment churn" in text and "status FINISHED" in text
    for title in ("Params", "Metrics", "Tags", "Artifacts"):
        assert title in text

    def row(key: str) -> list[str]:
        [line] = [line for line in text.splitlines() if f" {key} " in line]
        return line.split()

    assert "1.0" in row("C") and "l2" in row("penalty")
    assert "0.84" in row("auc") and "0.61" in row("f1") and "NaN" in row("loss")
    assert "ds" in row("team") and "baseline" in row("stage")
    assert "14" in row("notes/summary.txt")  # size of "baseline notes"
    assert "parent run" not in text and "error:" not in text


def test_text_output_of_a_nested_and_a_failed_run(cli: CliInvoker, seeded: Seeded) -> None:
    child = cli("runs", "show", seeded.small[:8]).stdout
    assert f"parent run {seeded.sweep}" in child
    failed = cli("runs", "show", seeded.failed[:8])
    assert failed.exit_code == 0
    assert "status FAILED" in failed.stdout
    assert "error: RuntimeError: diverged at epoch 3" in failed.stdout


def test_json_has_exactly_the_documented_keys(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("runs", "show", seeded.baseline[:8], "--json")
    assert result.exit_code == 0 and result.stderr == ""
    run = json.loads(result.stdout)
    assert list(run) == SHOW_KEYS
    assert run["run_id"] == seeded.baseline
    assert (run["experiment"], run["name"], run["status"]) == ("churn", "logreg-l2", "FINISHED")
    assert run["parent_run_id"] is None and run["error"] is None
    assert run["params"] == {"C": "1.0", "penalty": "l2"}
    assert run["metrics"] == {"auc": 0.84, "f1": 0.61, "loss": "NaN"}
    assert run["tags"] == {"team": "ds", "stage": "baseline"}
    [artifact] = run["artifacts"]
    assert artifact["path"] == "notes/summary.txt" and artifact["size"] == 14 and len(artifact["hash"]) == 64
    start, end = datetime.fromisoformat(run["start_time"]), datetime.fromisoformat(run["end_time"])
    assert start.utcoffset() == timedelta(0) and start <= end
    assert run["duration_s"] == (end - start).total_seconds()
    assert set(run["lineage"]) >= {"git", "environment", "process"}
    assert run["lineage"]["process"]["pid"] > 0


def test_json_of_a_nested_and_a_failed_run(cli: CliInvoker, seeded: Seeded) -> None:
    child = json.loads(cli("runs", "show", seeded.small, "--json").stdout)  # the full id works too
    assert child["parent_run_id"] == seeded.sweep
    assert child["metrics"] == {"auc": 0.7, "f1": 0.5, "n_features": 19.0, "loss": "NaN"}
    failed = json.loads(cli("runs", "show", seeded.failed[:8].upper(), "--json").stdout)
    assert failed["run_id"] == seeded.failed
    assert (failed["status"], failed["error"]) == ("FAILED", "RuntimeError: diverged at epoch 3")
    assert failed["end_time"] is not None


def test_json_writes_nan_and_infinities_as_strings(cli: CliInvoker) -> None:
    with shipyard.start_run(name="exploded") as run:
        shipyard.log_metrics({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"), "ok": 1.5})
    result = cli("runs", "show", run.id[:8], "--json")
    assert json.loads(result.stdout)["metrics"] == {"inf": "Infinity", "nan": "NaN", "ninf": "-Infinity", "ok": 1.5}
    assert '"nan": "NaN"' in result.stdout  # quoted strings, never the bare tokens json.dumps would write
    assert ": NaN" not in result.stdout and ": Infinity" not in result.stdout and ": -Infinity" not in result.stdout


def test_a_running_run_shows_no_end(cli: CliInvoker) -> None:
    run = shipyard.start_run(name="live")
    shown = json.loads(cli("runs", "show", run.id[:8], "--json").stdout)
    assert (shown["status"], shown["end_time"], shown["duration_s"]) == ("RUNNING", None, None)
    assert "status RUNNING" in cli("runs", "show", run.id[:8]).stdout
    shipyard.end_run()
