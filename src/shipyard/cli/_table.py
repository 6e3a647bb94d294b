"""Tables that fit the terminal: columns chosen by priority and left out whole, values never cut.

A Rich table wider than the console squeezes every column, down to ``0.…`` and names cut to two letters.
Users of ``gh``, ``kubectl`` and ``docker ps`` expect something else, and this module gives it to every
listing command: the columns that matter most keep their full width, the ones that do not fit are left
out whole, and one dim line names them with the flags that show them (``--columns``, ``--wide``,
``--json``). Prose (reasons, messages) may wrap inside its column; ids, names, numbers and times never do.

``--columns a,b,c`` picks and orders columns by header name (see :func:`column_name`) and shows them
all, past the terminal's edge if they are that wide; ``--wide`` shows every column at its natural width,
past the edge too (as ``kubectl -o wide`` does), so a pipe to ``less -S`` or a log keeps whole rows.

The width is decided when the table is printed (:meth:`FittedTable.__rich_console__`), from the console:
``COLUMNS`` when set, else the terminal's width, else 80 (Rich's rules).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from ..errors import ValidationError
from . import _output

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult

Cell = str | Text  # a str is plain text, never Rich markup: user strings need no escaping here

# Prose columns are never narrowed below this (by default), nor below their longest word up to _LONG_WORD
# (a longer word folds rather than costing the table a column).
_WRAP_MIN = 20
_LONG_WORD = 30
_FLAGS = ("--columns", "--wide", "--json")

COLUMNS_OPTION = typer.Option(None, "--columns", metavar="A,B,C",
                              help="Show these columns in this order (header names, any case, e.g. name,status).")
WIDE_OPTION = typer.Option(False, "--wide", help="Show every column in full, even past the terminal's edge.")


@dataclass(frozen=True)
class Column:
    """One column: its header, how much it matters, and how its cells may be laid out.

    ``priority`` 0 is always shown (unless ``--columns`` leaves it out); higher numbers are dropped first
    when the width runs out, ties in the order the columns are listed. A ``pinned`` column labels the rows
    and is shown first whatever ``--columns`` says. ``wrap`` marks prose that may wrap inside the column,
    which is then never narrower than ``min_width`` (nor than its longest word, up to 30 characters; a
    longer word folds); every other cell is kept on one line at its full width. ``label`` is shown instead
    of ``header`` when it differs (a run's name and id on two lines); ``aliases`` are more names
    ``--columns`` accepts.
    """

    header: str
    priority: int = 0
    justify: JustifyMethod = "left"
    style: str = ""
    wrap: bool = False
    pinned: bool = False
    aliases: tuple[str, ...] = ()
    label: Text | None = None
    min_width: int = _WRAP_MIN

    @property
    def names(self) -> tuple[str, ...]:
        return (column_name(self.header), *(column_name(alias) for alias in self.aliases))


@dataclass(frozen=True)
class ColumnChoice:
    """What ``--columns`` and ``--wide`` asked for: names in order (none: choose by priority), all columns."""

    names: tuple[str, ...] = ()
    wide: bool = False


def column_choice(columns: str | None, wide: bool = False) -> ColumnChoice:
    """The choice from the option values, e.g. ``column_choice("Name,roc_auc", False)``."""
    names = tuple(dict.fromkeys(column_name(part) for part in (columns or "").split(",") if column_name(part)))
    if columns is not None and not names:
        raise ValidationError("--columns needs at least one column name, e.g. --columns name,status.",
                              field="columns")
    return ColumnChoice(names, wide)


def column_name(header: str) -> str:
    """How ``--columns`` spells a header: any case, a note in parentheses dropped, spaces and signs as ``_``.

    ``"next run (UTC)"`` is ``next_run``, ``"Max |diff|"`` is ``max_diff``; dots stay (``metrics.auc``).
    """
    text = re.sub(r"\([^)]*\)", " ", header).casefold()
    return re.sub(r"[^\w.]+", "_", text).strip("_")


class FittedTable:
    """A table that chooses its columns for the width it is printed at; print it with :func:`show`.

    Raises:
        ValidationError: ``choice`` names a column this table does not have (and ``other_names`` does not
            list: the names of a sibling table printed by the same command).
    """

    def __init__(self, columns: Sequence[Column], rows: Iterable[Sequence[Cell]], *,
                 choice: ColumnChoice = ColumnChoice(), title: str | None = None, caption: str | None = None,
                 show_header: bool = True, hidden_noun: str = "column", flags: Sequence[str] = _FLAGS,
                 other_names: Collection[str] = ()) -> None:
        self.columns = list(columns)
        self.rows = [tuple(Text(cell) if isinstance(cell, str) else cell for cell in row) for row in rows]
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError("every row needs one cell per column")
        self.wide, self.explicit = choice.wide, bool(choice.names)
        self.title, self.caption, self.show_header = title, caption, show_header
        self.hidden_noun, self.flags = hidden_noun, tuple(flags)
        self.candidates, self.required = self._candidates(choice, other_names)

    def _candidates(self, choice: ColumnChoice, other_names: Collection[str]) -> tuple[list[int], set[int]]:
        """The columns that may be shown, in display order, and those that must be."""
        pinned = [index for index, column in enumerate(self.columns) if column.pinned]
        if not choice.names:
            return (list(range(len(self.columns))),
                    {index for index, column in enumerate(self.columns) if column.pinned or column.priority == 0})
        by_name: dict[str, int] = {}
        for index, column in enumerate(self.columns):
            for name in column.names:
                by_name.setdefault(name, index)
        unknown = [name for name in choice.names if name not in by_name and name not in other_names]
        if unknown:
            valid = dict.fromkeys([column.names[0] for column in self.columns] + sorted(other_names))
            raise ValidationError(f"--columns: there is no column {unknown[0]!r} here; the columns are: "
                                  f"{', '.join(valid)}.", field="columns")
        chosen = [by_name[name] for name in choice.names if name in by_name]
        ordered = list(dict.fromkeys(pinned + chosen))
        return ordered, set(ordered)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        # A print to a pipe (soft wrap) asks for no wrapping: that is for lines of text, not for the cells,
        # title and caption of a table, which are laid out the same on a terminal and in a pipe.
        layout = options.update(no_wrap=False, overflow="fold")
        natural = {index: self._natural(index) for index in self.candidates}
        if self.wide:
            yield from console.render(self._table(self.candidates, [natural[index] for index in self.candidates]),
                                      layout)
            return
        need = {index: self._need(index, natural[index]) for index in self.candidates}
        if _total(need[index] for index in self.required) > width:
            shown = [index for index in self.candidates if index in self.required]
            # The columns that must be shown do not fit. Asked for by name, they are shown as asked, past the
            # edge if need be; chosen by priority (a very narrow terminal), every cell folds. Nothing is cut.
            table = self._table(shown, [need[index] for index in shown] if self.explicit else None)
        else:
            shown, widths = self._fit(width, natural, need)
            table = self._table(shown, widths)
        yield from console.render(table, layout)
        hidden = [index for index in self.candidates if index not in shown]
        if hidden:
            yield Text(self._hidden_line([self.columns[index].header for index in hidden], width), style="dim")

    def _fit(self, width: int, natural: dict[int, int], need: dict[int, int]) -> tuple[list[int], list[int]]:
        """The columns that fit, in display order, and their widths: prose gets what is left over."""
        chosen = set(self.required)
        for index in sorted(self.candidates, key=lambda index: (self.columns[index].priority, index)):
            if index not in chosen and _total(need[item] for item in (*chosen, index)) <= width:
                chosen.add(index)
        shown = [index for index in self.candidates if index in chosen]
        widths = {index: need[index] for index in shown}
        spare = width - _total(widths.values())
        for index in sorted(shown, key=lambda index: (self.columns[index].priority, index)):
            grow = min(spare, natural[index] - widths[index])
            widths[index] += grow
            spare -= grow
        return shown, [widths[index] for index in shown]

    def _table(self, shown: list[int], widths: list[int] | None) -> Table:
        folding = widths is None
        table = Table(title=_plain(self.title), caption=_plain(self.caption), show_header=self.show_header,
                      title_justify="left",
                      width=None if widths is None else _total(widths))
        for position, index in enumerate(shown):
            column = self.columns[index]
            table.add_column(_header(column), justify=column.justify, style=column.style or None,
                             no_wrap=not (column.wrap or folding), overflow="fold",
                             width=None if widths is None else widths[position])
        for row in self.rows:
            table.add_row(*(row[index] for index in shown))
        return table

    def _natural(self, index: int) -> int:
        column = self.columns[index]
        cells = [_header(column)] if self.show_header else []
        cells += [row[index] for row in self.rows]
        return max((cell_len(line) for cell in cells for line in cell.plain.splitlines()), default=1) or 1

    def _need(self, index: int, natural: int) -> int:
        if not self.columns[index].wrap:
            return natural
        longest = max((cell_len(word) for row in self.rows for word in row[index].plain.split()), default=1)
        return min(natural, max(self.columns[index].min_width, min(longest, _LONG_WORD)))

    def _hidden_line(self, headers: list[str], width: int) -> str:
        count = len(headers)
        noun = self.hidden_noun + ("" if count == 1 else "s")
        flags = ", ".join(self.flags)
        for shown in range(count, 0, -1):
            names = ", ".join(headers[:shown]) + ("" if shown == count else f", +{count - shown}")
            line = f"{count} more {noun} ({names}): {flags}"
            if cell_len(line) <= width:
                return line
        return f"{count} more {noun}: {flags}"


def show(table: FittedTable) -> None:
    """Print a table on stdout; a ``--wide`` one is not cropped at the terminal's edge."""
    _output.console.print(table, crop=False)


def _plain(text: str | None) -> Text | None:
    return None if text is None else Text(text)


def _header(column: Column) -> Text:
    return column.label if column.label is not None else Text(column.header)


def _total(widths: Iterable[int]) -> int:
    """The printed width of a table whose columns are this wide: Rich's box edges and one space of padding
    each side (``Table``'s defaults), so that the chosen columns fit exactly and Rich never squeezes them."""
    widths = list(widths)
    return sum(widths) + 3 * len(widths) + 1
