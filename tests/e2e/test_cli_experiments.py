"""``shipyard experiments list``: experiments with their run counts, as a table and as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker, Seeded


def test_json_lists_experiments_by_name_with_run_counts(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("experiments", "list", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    experiments = json.loads(result.stdout)
    assert [(item["name"], item["runs"]) for item in experiments] == [("churn", 4), ("fraud", 1)]
    for item in experiments:
        assert list(item) == ["id", "name", "runs", "created_at"]
        assert isinstance(item["id"], int)
        assert datetime.fromisoformat(item["created_at"]).utcoffset() == timedelta(0)


def test_table_lists_experiments_with_run_counts(cli: CliInvoker, seeded: Seeded) -> None:
    result = cli("experiments", "list")
    assert result.exit_code == 0
    rows = [line.strip("│").split("│") for line in result.stdout.splitlines() if line.startswith("│")]
    assert [(cells[0].strip(), cells[1].strip()) for cells in rows] == [("churn", "4"), ("fraud", "1")]


def test_an_empty_store_then_one_experiment(cli: CliInvoker) -> None:
    shipyard.current_store()
    empty = cli("experiments", "list")
    assert (empty.exit_code, empty.stdout) == (0, "No experiments yet.\n")
    assert json.loads(cli("experiments", "list", "--json").stdout) == []
    with shipyard.start_run(experiment="solo"):
        pass
    with shipyard.start_run(experiment="solo"):
        pass
    assert [(item["name"], item["runs"]) for item in json.loads(cli("experiments", "list", "--json").stdout)] == [
        ("solo", 2)
    ]
