"""Whole numbers from URLs and forms (page, size, version) and page counts, read one way on every page.

``str.isdigit`` and ``int()`` accept far more than a person types: ``"²"`` passes ``isdigit`` and then fails
in ``int``, ``"\\u0661"`` (Arabic-Indic one) is read as 1, and twenty digits overflow SQLite's integers deep in a
query. Here a number is 1 to 9 ASCII digits, anything else is a :class:`ValidationError` (422) naming the
field, so every page answers a bad number the same way and no such text ever reaches the database.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import ValidationError

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_DIGITS = 9
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")  # the same pattern as a route's {version:version}


def ceil_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded up, in integers (no float rounding for large counts)."""
    return -(-numerator // denominator)


def page_count(total: int, size: int) -> int:
    """How many pages of ``size`` rows ``total`` rows fill; an empty table still has its one (empty) page."""
    return max(1, ceil_div(total, size))


def whole_number(text: str | None, field: str, default: int) -> int:
    """``text`` read as a whole number of 1 to 9 ASCII digits; ``default`` when absent or empty."""
    if text is None or text.strip() == "":
        return default
    if not WHOLE_NUMBER.fullmatch(text.strip()):
        raise ValidationError(f"{field} must be a whole number of at most {MAX_DIGITS} digits (0-9), "
                              f"not {text!r}.", field=field)
    return int(text.strip())


def requested_page(request: Request) -> int:
    """The ``page`` query parameter (1 when absent); 422 below 1 or when not a number.

    A page past the end is not an error (rows may have gone since the link was made): callers show their last
    page, ``min(requested_page(request), page_count(total, size))``.
    """
    number = whole_number(request.query_params.get("page"), "page", 1)
    if number < 1:
        raise ValidationError(f"page must be 1 or more, not {number}.", field="page")
    return number
