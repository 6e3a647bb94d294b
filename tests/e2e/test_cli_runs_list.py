"""``shipyard runs list``: experiments, filters, sort orders, limits, JSON records and nested runs."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, Seeded


LIST_KEYS = {"run_id", "experiment", "name", "status", "start_time", "end_time", "duration_s", "parent_run_id",
             "git_commit", "git_dirty", "params", "metrics", "tags"}


def _records(cli: CliInvoker, *args: str) -> list[dict[str, Any]]:
    result = cli("runs", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    records = json.loads(result.stdout)
    assert isinstance(records, list)
    return records


def _ids(cli: CliInvoker, *args: str) -> list[str]:
    return [record["run_id"] for record in _records(cli, *args)]


def test_json_records_have_the_documented_fields_and_values(cli: CliInvoker, seeded: Seeded) -> None:
    records = {record["run_id"]: record for record in _records(cli)}
    assert set(records) == seeded.all
    for record in records.values():
        assert set(record) == LIST_KEYS
        start, end = datetime.fromisoformat(record["start_time"]), datetime.fromisoformat(record["end_time"])
        assert start.utcoffset() == end.utcoffset() == timedelta(0)
        assert record["duration_s"] == pytest.approx((end - start).total_seconds(), abs=1e-3)
    baseline = records[seeded.baseline]
    assert baseline["experiment"] == "churn" and baseline["name"] == "logreg-l2"
    assert baseline["status"] == "FINISHED" and baseline["parent_run_id"] is None
    assert baseline["params"] == {"C": "1.0", "penalty": "l2"}
    assert baseline["metrics"] == {"auc": 0.84, "f1": 0.61, "loss": "NaN"}
    assert baseline["tags"] == {"team": "ds", "stage": "baseline"}
    assert records[seeded.large]["metrics"] == {"auc": 0.9, "f1": 0.66, "n_features": 19.0, "loss": 0.3}
    assert records[seeded.failed]["status"] == "FAILED"
    assert records[seeded.small]["parent_run_id"] == records[seeded.large]["parent_run_id"] == seeded.sweep


def test_default_order_is_newest_first(cli: CliInvoker, seeded: Seeded) -> None:
    starts = [datetime.fromisoformat(record["start_time"]) for record in _records(cli)]
    assert len(starts) == 5
    assert starts == sorted(starts, reverse=True)


@pytest.mark.parametrize("sort", ["metrics.auc DESC", "-metrics.auc", "metrics.auc desc"])
def test_sort_descending_both_spellings(cli: CliInvoker, seeded: Seeded, sort: str) -> None:
    records = _records(cli, "--sort", sort)
    assert [record["run_id"] for record in records[:3]] == [seeded.large, seeded.baseline, seeded.small]
    assert {record["run_id"] for record in records[3:]} == {seeded.sweep, seeded.failed}  # no auc: last


def test_sort_ascending_keeps_runs_without_the_metric_last(cli: CliInvoker, seeded: Seeded) -> None:
    ids = _ids(cli, "-s", "metrics.auc")
    assert ids[:3] == [seeded.small, seeded.baseline, seeded.large]
    assert set(ids[3:]) == {seeded.sweep, seeded.failed}


def test_limit_keeps_the_first_runs_of_the_order(cli: CliInvoker, seeded: Seeded) -> None:
    assert _ids(cli, "--sort", "-metrics.auc", "--limit", "2") == [seeded.large, seeded.baseline]
    assert _ids(cli, "-s", "-metrics.auc", "-n", "1") == [seeded.large]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--filter", "metrics.auc > 0.8"], {"large", "baseline"}),
        (["-f", "params.penalty = 'l1'"], {"small", "large"}),
        (["-f", "params.C > 0.4"], {"baseline", "large", "failed"}),
        (["-f", "params.C > 0.4", "-e", "churn"], {"baseline", "large"}),
        (["-f", "attributes.status = 'FAILED'"], {"failed"}),
        (["-f", "metrics.loss is null and params.search = 'grid'"], {"sweep"}),
        (["--experiment", "fraud"], {"failed"}),
        (["-e", "churn"], {"baseline", "sweep", "small", "large"}),
        (["-e", "churn", "-e", "fraud"], {"baseline", "sweep", "small", "large", "failed"}),
    ],
)
def test_filters_and_experiments_select_runs(cli: CliInvoker, seeded: Seeded, args: list[str],
                                             expected: set[str]) -> None:
    assert set(_ids(cli, *args)) == {getattr(seeded, name) for name in expected}


def test_table_shows_child_runs_right_under_their_parent(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("runs", "list", "--wide")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "5 runs" in result.stdout
    for header in ("Run", "Name", "Experiment", "Status", "auc", "penalty"):
        assert header in lines[1]
    rows = {run_id: index for index, line in enumerate(lines) for run_id in seeded.all if run_id[:8] in line}
    assert set(rows) == seeded.all
    children = {rows[seeded.small], rows[seeded.large]}
    assert children == {rows[seeded.sweep] + 1, rows[seeded.sweep] + 2}
    assert re.search(r"└ sweep-c0\.1 ", lines[rows[seeded.small]])
    assert re.search(r"└ sweep-c0\.5 ", lines[rows[seeded.large]])
    assert "└" not in lines[rows[seeded.sweep]] and "└" not in lines[rows[seeded.baseline]]
    failed = lines[rows[seeded.failed]]
    assert "FAILED" in failed and "fraud" in failed
    baseline = lines[rows[seeded.baseline]]
    assert "NaN" in baseline and "0.84" in baseline and "l2" in baseline


def test_json_keeps_the_requested_order_while_the_table_nests(cli: CliInvoker, seeded: Seeded) -> None:
    assert _ids(cli, "-s", "-metrics.auc")[:3] == [seeded.large, seeded.baseline, seeded.small]
    table = cli("runs", "list", "-s", "-metrics.auc").stdout
    # Top-level runs in the requested order (the sweep has no auc: after the baseline); its children follow
    # it, best first among themselves.
    positions = [table.index(run_id[:8]) for run_id in (seeded.baseline, seeded.sweep, seeded.large, seeded.small)]
    assert positions == sorted(positions)


def test_infinite_metrics_are_listed_as_strings(cli: CliInvoker) -> None:
    with shipyard.start_run(experiment="churn", name="exploded") as run:
        shipyard.log_metrics({"loss": float("inf"), "grad": float("-inf"), "auc": 0.5})
    [record] = _records(cli)
    assert record["run_id"] == run.id
    assert record["metrics"] == {"loss": "Infinity", "grad": "-Infinity", "auc": 0.5}
    table = cli("runs", "list")
    assert table.exit_code == 0 and "exploded" in table.stdout


def test_no_runs_yet_and_no_runs_match(cli: CliInvoker) -> None:
    shipyard.current_store()  # an empty store
    empty = cli("runs", "list")
    assert (empty.exit_code, empty.stdout) == (0, "No runs yet.\n")
    assert json.loads(cli("runs", "list", "--json").stdout) == []
    with shipyard.start_run(experiment="churn"):
        shipyard.log_metric("auc", 0.5)
    for args in (["-f", "metrics.auc > 0.9"], ["-e", "churn", "-f", "metrics.auc > 0.9"]):
        result = cli("runs", "list", *args)
        assert (result.exit_code, result.stdout) == (0, "No runs match.\n")


def test_a_running_run_has_no_end_time_or_duration(cli: CliInvoker) -> None:
    run = shipyard.start_run(experiment="live", name="still-going")
    shipyard.log_param("lr", 0.01)
    [record] = _records(cli)
    assert record["run_id"] == run.id
    assert (record["status"], record["end_time"], record["duration_s"]) == ("RUNNING", None, None)
    assert record["params"] == {"lr": "0.01"}
    shipyard.end_run()
