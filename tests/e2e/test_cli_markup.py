"""User strings are printed as typed: Rich markup in names, params and tags is never interpreted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

import shipyard

if TYPE_CHECKING:
    from .conftest import CliInvoker


@dataclass(frozen=True)
class MarkupRuns:
    bold: str
    red: str


@pytest.fixture
def markup_runs() -> MarkupRuns:
    with shipyard.start_run(experiment="[b]team[/b]", name="[bold]x[/]") as bold:
        shipyard.log_params({"opt": "[i]adam[/i]"})
        shipyard.set_tag("note", "[/] stray close")
    with shipyard.start_run(experiment="[b]team[/b]", name="[red]") as red:
        shipyard.log_params({"opt": "sgd"})
    return MarkupRuns(bold=bold.id, red=red.id)


def test_list_prints_markup_literally(cli: CliInvoker, markup_runs: MarkupRuns) -> None:
    result = cli("runs", "list", "--wide")
    assert result.exit_code == 0, result.output
    for text in ("[bold]x[/]", "[red]", "[b]team[/b]", "[i]adam[/i]"):
        assert text in result.stdout


def test_show_prints_markup_literally(cli: CliInvoker, markup_runs: MarkupRuns) -> None:
    result = cli("runs", "show", markup_runs.bold[:8])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"[bold]x[/]  {markup_runs.bold}"
    for text in ("experiment [b]team[/b]", "[i]adam[/i]", "[/] stray close"):
        assert text in result.stdout
    red = cli("runs", "show", markup_runs.red[:8])
    assert red.stdout.splitlines()[0] == f"[red]  {markup_runs.red}"


def test_compare_and_experiments_print_markup_literally(cli: CliInvoker, markup_runs: MarkupRuns) -> None:
    compared = cli("runs", "compare", markup_runs.bold[:8], markup_runs.red[:8])
    assert compared.exit_code == 0, compared.output
    for text in ("[bold]x[/]", "[red]", "[i]adam[/i]"):
        assert text in compared.stdout
    experiments = cli("experiments", "list")
    assert "[b]team[/b]" in experiments.stdout


def test_emoji_codes_in_user_strings_are_printed_literally(cli: CliInvoker) -> None:
    with shipyard.start_run(name="ship it :rocket:") as run:
        shipyard.log_params({"layers": "64:100:10"})
    for args in (["runs", "list", "--wide"], ["runs", "show", run.id[:8]]):
        result = cli(*args)
        assert result.exit_code == 0
        assert "ship it :rocket:" in result.stdout and "64:100:10" in result.stdout
