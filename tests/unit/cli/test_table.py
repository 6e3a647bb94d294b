"""The table fitting of ``shipyard.cli._table`` and the number format of ``_output``, at exact widths.

Rendered by a real Rich console of a given width into a string: the same code path as the terminal, where
the end-to-end tests (``tests/e2e/test_cli_tables.py``) check every command in a real pty.
"""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from shipyard.cli._output import fmt_value
from shipyard.cli._table import Column, ColumnChoice, FittedTable, column_choice, column_name
from shipyard.errors import ValidationError

COLUMNS = [Column("Run"), Column("Name"), Column("Status", 1), Column("auc", 2, justify="right"),
           Column("Started", 3), Column("Why", 2, wrap=True)]
ROWS = [("3f2a1b2c", "gbm-depth-6-lr-0.1-balanced", "FINISHED", "0.8429", "2026-12-06 12:41:04",
         "param train.learning_rate 0.05 -> 0.1; upstream stage 'prepare' is stale"),
        ("9b1c0d4e", "logreg", "FAILED", "-", "2026-12-06 12:40:01", "-")]


def render(table: FittedTable, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, soft_wrap=True).print(table, crop=False)
    return out.getvalue().splitlines()


def headers(lines: list[str]) -> list[str]:
    return [cell.strip() for cell in lines[1].split("┃") if cell.strip()]


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_no_line_is_wider_than_the_console_and_no_value_is_cut(width: int) -> None:
    lines = render(FittedTable(COLUMNS, ROWS), width)
    assert max(cell_len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "…" not in text
    for value in ("3f2a1b2c", "gbm-depth-6-lr-0.1-balanced", "FINISHED"):
        assert value in text


def test_columns_that_do_not_fit_are_left_out_whole_and_named() -> None:
    # Run 8 + Name 27 + Status 8 + auc 6, plus 3 per column and 1: 62. Why needs 20 (its minimum) + 3 more,
    # Started 19 + 3: at 80 neither fits; at 84 Why (priority 2) still does not, but Started (3) does.
    lines = render(FittedTable(COLUMNS, ROWS), 80)
    assert headers(lines) == ["Run", "Name", "Status", "auc"]
    assert lines[-1] == "2 more columns (Started, Why): --columns, --wide, --json"
    lines = render(FittedTable(COLUMNS, ROWS), 84)
    assert headers(lines) == ["Run", "Name", "Status", "auc", "Started"]
    assert lines[-1] == "1 more column (Why): --columns, --wide, --json"
    assert max(cell_len(line) for line in lines) == 84


def test_prose_wraps_in_its_column_and_takes_the_width_left_over() -> None:
    lines = render(FittedTable(COLUMNS, ROWS), 110)
    assert headers(lines) == ["Run", "Name", "Status", "auc", "Started", "Why"]
    assert max(cell_len(line) for line in lines) == 110  # the table takes the whole width: Why grew to fit
    assert "".join(line.split("│")[-2].strip() for line in lines[3:-1]).replace(" ", "") == ROWS[0][5].replace(
        " ", "") + "-"


def test_wide_shows_everything_at_full_width_past_the_edge() -> None:
    lines = render(FittedTable(COLUMNS, ROWS, choice=ColumnChoice(wide=True)), 60)
    assert headers(lines) == ["Run", "Name", "Status", "auc", "Started", "Why"]
    assert any(ROWS[0][5] in line for line in lines)
    assert not any("more column" in line for line in lines)


def test_columns_chooses_and_orders_by_name_in_any_case() -> None:
    lines = render(FittedTable(COLUMNS, ROWS, choice=column_choice("AUC,name")), 80)
    assert headers(lines) == ["auc", "Name"]
    assert not any("more column" in line for line in lines)


def test_an_unknown_column_names_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        FittedTable(COLUMNS, ROWS, choice=column_choice("name,nope"))
    assert caught.value.field == "columns"
    assert "'nope'" in caught.value.message and "run, name, status, auc, started, why" in caught.value.message
    with pytest.raises(ValidationError):
        column_choice(" , ")


def test_pinned_columns_stay_whatever_columns_says() -> None:
    table = FittedTable([Column("Stage", pinned=True), Column("State"), Column("Why", wrap=True)],
                        [("train", "stale", "never run")], choice=column_choice("why"), other_names={"data"})
    assert headers(render(table, 80)) == ["Stage", "Why"]


def test_a_terminal_too_narrow_for_the_required_columns_folds_values_instead_of_cutting() -> None:
    lines = render(FittedTable(COLUMNS, ROWS), 30)[:-1]  # the last line names the columns left out
    assert max(cell_len(line) for line in lines) <= 30
    text = "".join(lines)
    assert "…" not in text
    assert "gbm-depth-6-lr-0.1-balanced" in "".join(line.split("│")[2].strip() for line in lines[3:6])


def test_markup_in_values_is_printed_as_typed() -> None:
    lines = render(FittedTable([Column("[b]x"), Column("v")], [("[red]", Text("ok", style="green"))]), 40)
    assert "[b]x" in lines[1] and "[red]" in lines[3]


@pytest.mark.parametrize(("header", "name"), [("next run (UTC)", "next_run"), ("Max |diff|", "max_diff"),
                                              ("metrics.auc", "metrics.auc"), ("Training data", "training_data"),
                                              ("request_id", "request_id")])
def test_column_names_are_how_columns_spells_headers(header: str, name: str) -> None:
    assert column_name(header) == name


@pytest.mark.parametrize(("value", "text"), [
    (12.676072000090244, "12.6761"), (0.8429, "0.8429"), (19.0, "19"), (1234567.0, "1234567"), (7, "7"),
    (6.974e-21, "6.974e-21"), (float("nan"), "NaN"), (float("inf"), "inf"), (None, "-"),
    ("0.1000000001", "0.1000000001"),  # a param is text: shown as logged
    ([0.49768123456, 0.50231876544], "[0.497681, 0.502319]"), (True, "True"),
])
def test_numbers_get_significant_digits_and_integers_stay_integers(value: object, text: str) -> None:
    assert fmt_value(value) == text


def test_numpy_values_are_formatted_like_python_ones() -> None:
    numpy = pytest.importorskip("numpy")
    assert fmt_value(numpy.float64(10.059773150637335)) == "10.0598"
    assert fmt_value(numpy.array([0.25, 0.75])) == "[0.25, 0.75]"
    assert fmt_value(numpy.int64(3)) == "3" and fmt_value(numpy.bool_(False)) == "False"
