"""docs/cli-json.md keeps up with the CLI: every field the commands print is documented, and each example
has exactly the keys the real output has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import CliInvoker, Seeded

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli-json.md"


def _section(title: str) -> str:
    for part in DOC.read_text().split("\n## ")[1:]:
        if part.startswith(f"`shipyard {title}"):
            return part
    raise AssertionError(f"docs/cli-json.md has no section for `shipyard {title}`")


def _mentions(section: str, key: str) -> bool:
    return f"`{key}`" in section or f'"{key}"' in section


def _example(section: str) -> Any:
    [block] = re.findall(r"```json\n(.*?)```", section, flags=re.S)
    return json.loads(block)


def _output(cli: CliInvoker, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_runs_list_fields(cli: CliInvoker, seeded: Seeded) -> None:
    section = _section("runs list")
    records = _output(cli, "runs", "list")
    keys = set(records[0])
    assert all(set(record) == keys for record in records)
    assert [key for key in sorted(keys) if not _mentions(section, key)] == []
    [example] = _example(section)
    assert set(example) == keys


def test_runs_show_fields(cli: CliInvoker, seeded: Seeded) -> None:
    section = _section("runs show")
    run = _output(cli, "runs", "show", seeded.baseline[:8])
    lineage = run["lineage"]
    nested = {*lineage, *lineage["environment"], *lineage["process"], *run["artifacts"][0]}
    listed = set(_output(cli, "runs", "list")[0])
    undocumented = [key for key in sorted((set(run) - listed) | nested) if not _mentions(section, key)]
    assert undocumented == []
    example = _example(section)
    assert list(example) == list(run)
    assert set(example["lineage"]) == set(lineage)
    assert set(example["lineage"]["environment"]) == set(lineage["environment"])
    assert set(example["lineage"]["process"]) == set(lineage["process"])
    assert set(example["artifacts"][0]) == set(run["artifacts"][0])
    assert set(example["lineage"]["git"]) <= set(re.findall(r"`(\w+)`", section))


def test_runs_compare_fields(cli: CliInvoker, seeded: Seeded) -> None:
    section = _section("runs compare")
    data = _output(cli, "runs", "compare", seeded.small[:8], seeded.large[:8])
    assert [key for key in [*data, *data["runs"][0], *data["differences"]] if not _mentions(section, key)] == []
    example = _example(section)
    assert list(example) == list(data)
    assert set(example["runs"][0]) == set(data["runs"][0])
    assert set(example["differences"]) == set(data["differences"])


@pytest.mark.parametrize("title", ["runs list", "runs show", "runs compare", "experiments list"])
def test_every_command_section_exists_with_a_valid_example(title: str) -> None:
    assert _example(_section(title))


def test_experiments_list_fields(cli: CliInvoker, seeded: Seeded) -> None:
    section = _section("experiments list")
    experiments = _output(cli, "experiments", "list")
    assert [key for key in experiments[0] if not _mentions(section, key)] == []
    assert set(_example(section)[0]) == set(experiments[0])


def test_the_stability_promise_is_stated() -> None:
    text = DOC.read_text()
    assert "only ever **added**, never renamed, removed" in text and "major version" in text
