"""Rendering shared by the commands: consoles, JSON, times, numbers and statuses."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

from rich.console import Console

# Piped output is read by people in logs and CI too: give it room instead of Rich's 80 columns, and
# never fold an error message (one line each, as promised).
_PIPE_WIDTH = 240
# emoji=False: a run named "ship it :rocket:" must print as typed.
console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err_console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)

STATUS_STYLE = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}


def print_json(data: Any) -> None:
    """Machine output: plain JSON on stdout, NaN and infinities as strings (JSON has none)."""
    sys.stdout.write(json_text(data))


def json_text(data: Any) -> str:
    """What :func:`print_json` prints."""
    return json.dumps(_jsonable(data), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


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
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.6g}"
    return str(value)


def fmt_status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def escape(text: Any) -> str:
    """User strings (run names, params) must never be read as Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))
