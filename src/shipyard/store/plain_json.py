"""Values as JSON can carry them, the one way Shipyard writes them for people and programs alike.

NaN and the infinities become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (JSON has no such
numbers, and Python's ``json`` would write invalid JSON), datetimes ISO 8601 text, tuples lists and keys text. The
CLI's ``--json`` and the server's query answers go through it, so a script reads the same document from either.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
