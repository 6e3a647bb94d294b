"""Times as people write them for the log: a duration back from now (``24h``, ``7d``), an ISO time, a datetime.

The readers of the log (:mod:`.readers`, monitoring's windows, the web pages) take times in these forms and
compare epoch milliseconds with the log's ``timestamp`` column.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..errors import ValidationError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EARLIEST_MS, LATEST_MS = 0, 253_402_300_799_999  # 1970-01-01 and the last millisecond of 9999: what parse_time takes


def parse_time(value: str | datetime | None, field: str) -> int | None:
    """Epoch milliseconds from a duration back from now (``24h``), an ISO time or a datetime.

    Raises:
        ValidationError: neither form, or a time outside 1970-01-01 to 9999-12-31 (``999999999h`` reaches
            before year 1): no log holds rows there, and the message names ``field``, not an OverflowError.
    """
    if value is None:
        return None
    text = str(value)
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        if isinstance(value, datetime):
            moment = value
        elif match := _DURATION_RE.match(text):
            moment = datetime.now(UTC) - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
        else:
            moment = _iso_time(text, shown, field)
        epoch_ms = int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    except OverflowError:
        epoch_ms = -1
    if not EARLIEST_MS <= epoch_ms <= LATEST_MS:
        raise ValidationError(f"{field}={shown!r} is out of range: times must fall between 1970-01-01 and "
                              "9999-12-31 UTC (a duration such as 24h or 7d counts back from now).", field=field)
    return epoch_ms


def _iso_time(text: str, shown: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field}={shown!r} is neither a duration (30m, 24h, 7d) nor an ISO time "
                              "(2026-11-22T08:00).", field=field) from None
