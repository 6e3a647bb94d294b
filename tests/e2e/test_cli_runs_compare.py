"""``shipyard runs compare``: params and metrics side by side, differences found exactly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import CliInvoker, Seeded


def _compare_json(cli: CliInvoker, *ids: str) -> dict[str, Any]:
    result = cli("runs", "compare", *ids, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _row_labels(text: str) -> list[str]:
    """The first cell of each body row of a Rich table."""
    return [line.strip("│").split("│")[0].strip() for line in text.splitlines() if line.startswith("│")]


def test_json_of_two_runs(cli: CliInvoker, seeded: Seeded) -> None:
    small, large = seeded.small, seeded.large
    data = _compare_json(cli, small[:8], large[:8])
    assert list(data) == ["runs", "params", "metrics", "differences"]
    assert data["runs"] == [
        {"run_id": small, "name": "sweep-c0.1", "experiment": "churn", "status": "FINISHED"},
        {"run_id": large, "name": "sweep-c0.5", "experiment": "churn", "status": "FINISHED"},
    ]
    assert data["params"] == {"C": {small: "0.1", large: "0.5"}, "penalty": {small: "l1", large: "l1"}}
    assert data["metrics"] == {
        "auc": {small: 0.7, large: 0.9}, "f1": {small: 0.5, large: 0.66}, "loss": {small: "NaN", large: 0.3},
        "n_features": {small: 19.0, large: 19.0},
    }
    assert data["differences"] == {"params": ["C"], "metrics": ["auc", "f1", "loss"]}


def test_nan_equals_nan_and_a_missing_key_differs(cli: CliInvoker, seeded: Seeded) -> None:
    data = _compare_json(cli, seeded.baseline[:8], seeded.small[:8])
    assert data["metrics"]["loss"] == {seeded.baseline: "NaN", seeded.small: "NaN"}
    assert data["metrics"]["n_features"] == {seeded.baseline: None, seeded.small: 19.0}
    assert data["differences"] == {"params": ["C", "penalty"], "metrics": ["auc", "f1", "n_features"]}


def test_json_of_three_runs_across_experiments(cli: CliInvoker, seeded: Seeded) -> None:
    ids = [seeded.small, seeded.large, seeded.failed]
    data = _compare_json(cli, *[run_id[:7] for run_id in ids])
    assert [run["run_id"] for run in data["runs"]] == ids
    assert [run["status"] for run in data["runs"]] == ["FINISHED", "FINISHED", "FAILED"]
    assert data["params"]["C"] == {seeded.small: "0.1", seeded.large: "0.5", seeded.failed: "2"}
    assert data["params"]["penalty"] == {seeded.small: "l1", seeded.large: "l1", seeded.failed: None}
    assert data["differences"] == {"params": ["C", "penalty"], "metrics": ["auc", "f1", "loss", "n_features"]}


@pytest.mark.parametrize("only_diff", [False, True])
def test_table_highlights_and_only_diff_hides_equal_rows(cli: CliInvoker, seeded: Seeded, only_diff: bool) -> None:
    args = ["runs", "compare", seeded.small[:8], seeded.large[:8]] + (["--only-diff"] if only_diff else [])
    result = cli(*args)
    assert result.exit_code == 0, result.output
    labels = _row_labels(result.stdout)
    differing = ["params", "C", "metrics", "auc", "f1", "loss"]
    everything = ["params", "C", "penalty", "metrics", "auc", "f1", "loss", "n_features"]
    assert labels == (differing if only_diff else everything)
    assert "sweep-c0.1" in result.stdout and seeded.large[:8] in result.stdout
    assert result.stdout.splitlines()[-1] == "4 of 6 values differ (highlighted)."


def test_the_same_run_twice_is_refused_or_shown_in_both_columns(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("runs", "compare", seeded.small[:6], seeded.small[:10])
    if result.exit_code == 2:  # refusing is a fine answer too
        assert result.stderr.startswith("Error:") and "Traceback" not in result.output
        return
    [row] = [line for line in result.stdout.splitlines() if line.startswith("│ C ")]
    assert row.count("0.1") == 2, result.stdout
