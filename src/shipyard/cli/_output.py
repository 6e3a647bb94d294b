"""Rendering shared by the commands: consoles, JSON, times, numbers and statuses."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from ..store.plain_json import plain

# Both consoles are as wide as the terminal, or COLUMNS, or 80 (Rich's rules): tables fit that width
# (see _table.py). Lines of text are never folded when they go to a pipe or a log (soft_wrap), nor on
# stderr at all: an error is one line, as promised. emoji=False: "ship it :rocket:" prints as typed.
console = Console(highlight=False, emoji=False, soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, NaN and infinities as strings (JSON has none)."""
    sys.stdout.write(json_text(data))


def json_text(data: Any) -> str:
    """What :func:`print_json` prints."""
    return json.dumps(plain(data), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def fmt_time(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_value(value: Any) -> str:
    """A value for people: numbers to 6 significant digits (never 17 decimals), whole numbers as integers,
    lists (and numpy arrays) item by item, ``-`` for nothing."""
    if value is None:
        return "-"
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt_value(item) for item in value) + "]"
    return str(value)


def fmt_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def fmt_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def status_text(status: str) -> Text:
    """A run status as a styled table cell."""
    return Text(status, style=STATUS_STYLE.get(status, "white"))


def escape(text: Any) -> str:
    """User strings (run names, params) must never be read as Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))
