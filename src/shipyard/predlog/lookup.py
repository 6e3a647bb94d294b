"""A logged request found by its id or a unique prefix of it, as runs are (``shipyard lineage 3f2a9c0e``).

The server's request ids are 32 hexadecimal digits (uuid4); clients may send their own ids of any form.
A text of 4 to 31 hexadecimal digits is a prefix, looked up among the requests of the last
``PREFIX_WINDOW_DAYS`` days: the prediction log is partitioned by deployment, date and hour and can hold
months of traffic, and proving a prefix unique over all of it would read every file's ``request_id``
column each time. The window keeps a prefix lookup bounded (it reads that one column of the recent hours,
filtered in Arrow) while covering what prefixes are for, ids copied from recent ``shipyard predictions``
output; an older request is found by its full id, which is looked up in the whole log as before. A
request whose id is exactly the text wins over longer ids that start with it, so a client's ``order-1``
is never ambiguous with ``order-12`` (non-hexadecimal ids are only ever looked up whole).
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..errors import AmbiguousError, NotFoundError, ValidationError
from ..store import Store
from .layout import PREDICTIONS, partition_files, serving_root
from .readers import find_prediction
from .scan import read_table

PREFIX_MIN = 4
PREFIX_WINDOW_DAYS = 30
_PREFIX = re.compile(rf"^[0-9a-f]{{{PREFIX_MIN},31}}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_SHOWN = 5  # candidates named in an ambiguity message


def is_request_prefix(text: str) -> bool:
    """Whether ``text`` is looked up as a prefix (4 to 31 hexadecimal digits) rather than as a whole id."""
    return bool(_PREFIX.match(text))


def find_request(id_or_prefix: str, *, store: Store | None = None, log_dir: str | None = None) -> Any:
    """The log rows of the request ``id_or_prefix`` names (see the module docstring), as a DataFrame.

    Raises:
        AmbiguousError: a prefix matches several requests of the window (``candidates`` lists them).
        ValidationError: no request has this id and it is too short to be a prefix.
        NotFoundError: no request has this id or, for a prefix, starts with it in the window.
    """
    text = str(id_or_prefix).strip()
    if is_request_prefix(text):
        matches = requests_starting_with(text, store=store, log_dir=log_dir)
        if len(matches) > 1 and text not in matches:
            raise ambiguous(text, [f"request {found}" for found in matches], matches)
        if matches:
            return find_prediction(text if text in matches else matches[0], store=store, log_dir=log_dir)
    rows = find_prediction(text, store=store, log_dir=log_dir)
    if len(rows):
        return rows
    if len(text) < PREFIX_MIN and _HEX.match(text):
        raise ValidationError(f"{text!r} is too short to look up: give at least {PREFIX_MIN} characters of a "
                              "request id (or the whole id).", field="request_id")
    window = f" (nor the start of one logged in the last {PREFIX_WINDOW_DAYS} days)" if is_request_prefix(text) else ""
    raise NotFoundError(f"No logged request has the id {text!r}{window}.")


def requests_starting_with(prefix: str, *, store: Store | None = None, log_dir: str | None = None,
                           now_ms: int | None = None) -> list[str]:
    """The distinct request ids of the last ``PREFIX_WINDOW_DAYS`` days that start with ``prefix``, newest first.

    Reads only the ``request_id`` column of that window's files, with the prefix test pushed into the scan.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    now_ms = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    since = now_ms - PREFIX_WINDOW_DAYS * 86_400_000
    files = partition_files(serving_root(store, log_dir) / PREDICTIONS, None, since, None)
    table = read_table(files, columns=["request_id", "timestamp"],
                       filter=pc.starts_with(ds.field("request_id"), pattern=prefix)
                       & (ds.field("timestamp") >= _timestamp(since)))
    if table is None or not table.num_rows:
        return []
    newest: dict[str, int] = {}
    for request_id, moment in zip(table.column("request_id").to_pylist(),
                                  table.column("timestamp").cast("int64").to_pylist(), strict=True):
        newest[request_id] = max(moment, newest.get(request_id, moment))
    return sorted(newest, key=lambda found: -newest[found])


def ambiguous(prefix: str, described: list[str], candidates: list[str]) -> AmbiguousError:
    """The error for a prefix that names several things; ``described`` are e.g. ``request 3f2a9c0e...``."""
    width = len(prefix) + 8
    shown = ", ".join(item[: item.index(" ") + 1 + width] + "..." for item in described[:_SHOWN])
    more = f" and {len(described) - _SHOWN} more" if len(described) > _SHOWN else ""
    return AmbiguousError(f"The prefix {prefix!r} matches {len(described)} ids ({shown}{more}); give more characters.",
                          candidates=candidates)


def _timestamp(epoch_ms: int) -> Any:
    import pyarrow as pa

    return pa.scalar(epoch_ms, type=pa.timestamp("ms", tz="UTC"))
