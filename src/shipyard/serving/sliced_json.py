"""A large ``{"records": [...]}`` body parsed a slice at a time, so no single call holds the GIL for long.

orjson parses the 8 MB of a 100,000-record body in 40 to 60 ms here, in one call that holds the
interpreter lock: even run in a thread, it stops the event loop (and every health probe) for that long.
The records are a list of values, so they can be parsed a slice at a time, and the lock changes hands
between slices: the body is cut after a record about every ``SLICE_BYTES``, each slice is parsed as an
array of its own, and what follows the records (``request_id``, ``sticky_key``) as an object.

Why the result is the one a single parse gives: a cut is made only at ``}`` + ``,`` + ``{`` (whitespace
allowed). Had a cut fallen inside a string, the slice before it would end inside that string; had it
fallen inside a nested value, the slices around it would have unbalanced brackets; either way a slice
does not parse. So when every slice parses, the cuts are exactly the commas between records. The key
must come first and must not come back after the records (a single parse would keep the last one). Any
slice that does not parse sends the whole body to one ``orjson.loads``, which also gives the usual error.
"""

from __future__ import annotations

import re
from typing import Any

SLICE_BYTES = 256 * 1024  # about 3,000 records of the churn example: a millisecond or two of parsing each
_HEAD = re.compile(rb'\s*\{\s*"(records|dataframe_records)"\s*:\s*\[')
_BETWEEN_RECORDS = re.compile(rb"\}\s*,\s*\{")


def loads(data: bytes, *, slice_bytes: int = SLICE_BYTES) -> Any:
    """``orjson.loads(data)``, in slices when ``data`` is a large records body (see the module docstring).

    Raises:
        orjson.JSONDecodeError: ``data`` is not JSON (always from a parse of the whole body).
    """
    import orjson

    sliced = in_slices(data, slice_bytes=slice_bytes) if len(data) >= 4 * slice_bytes else None
    return orjson.loads(data) if sliced is None else sliced


def in_slices(data: bytes, *, slice_bytes: int = SLICE_BYTES) -> dict[str, Any] | None:
    """The records body ``data`` parsed a slice at a time, or None when it is not one this can parse exactly
    so (another shape, a cut that did not fall between records, or not JSON at all)."""
    import orjson

    head = _HEAD.match(data)
    if head is None:
        return None
    starts, ends = [head.end()], []  # each slice is data[starts[i]:ends[i]], the last one open-ended
    position = head.end() + slice_bytes
    while position < len(data) - slice_bytes:
        found = _BETWEEN_RECORDS.search(data, position)
        if found is None:
            break
        ends.append(found.start() + 1)  # just after the "}" ending one record
        starts.append(found.end() - 1)  # at the "{" starting the next
        position = found.end() + slice_bytes
    if not ends:  # nothing to cut at: one parse is the cheapest
        return None
    try:
        records: list[Any] = []
        for start, end in zip(starts, ends, strict=False):
            records.extend(orjson.loads(b"[" + data[start:end] + b"]"))
        last = b"[" + data[starts[-1]:]
        try:
            orjson.loads(last)
            return None  # the object was never closed: the whole parse says so
        except orjson.JSONDecodeError as exc:  # where the records array ended and the rest of the object begins
            end = len(exc.doc[:exc.pos].encode())  # pos counts characters, the slice below needs bytes
        records.extend(orjson.loads(last[:end]))  # fails unless last[:end] is exactly the rest of the records
        rest = last[end:].lstrip()
        rest_object = orjson.loads(b"{" + rest[1:] if rest.startswith(b",") else b"{" + rest)
    except orjson.JSONDecodeError:
        return None
    key = head.group(1).decode()
    if not isinstance(rest_object, dict) or key in rest_object:  # a key repeated after the records
        return None
    return {key: records, **rest_object}
