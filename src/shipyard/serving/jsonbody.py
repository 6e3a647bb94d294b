"""Request bodies to Python values, exactly: orjson for speed, the standard library when a number is that long.

orjson (like most fast JSON readers) reads an integer literal past 64 bits as the nearest float, so
``-9223372036854775809`` arrives as ``-2**63`` and ``10**30 + 1`` as ``1e30``. The coercion rule refuses such
numbers, but it cannot know them once rounded: the request would be answered for values nobody sent. Every
integer past 64 bits has 19 digits or more, so a body holding a run of 19 digits (rare: long ids in text, long
fractions) is read again by :mod:`json`, which keeps integers exact. orjson reads first either way; it is the
stricter reader (no NaN, no lone surrogates, no number past a float's range, hence none past 309 digits and
far from int's 4,300-digit limit), so what counts as JSON does not change.
"""

from __future__ import annotations

from typing import Any

# Digits to "1", everything else to "0": a run of 19 digits is then a substring search, two C passes over the body
# (0.5 us for a one-row request, a third of orjson's own time on 10 kB; a regular expression costs several times that).
_DIGITS = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
_LONG_RUN = b"1" * 19


def loads(body: bytes, *, sliced: bool = False) -> Any:
    """The JSON value of ``body``; ``sliced`` parses a large records body a slice at a time (:mod:`.sliced_json`).

    Raises:
        orjson.JSONDecodeError: not JSON (the callers turn it into a 400 naming the body).
    """
    import orjson

    from .sliced_json import loads as sliced_loads

    value = sliced_loads(body) if sliced else orjson.loads(body)
    if _LONG_RUN not in body.translate(_DIGITS):
        return value
    import json

    return json.loads(body)
