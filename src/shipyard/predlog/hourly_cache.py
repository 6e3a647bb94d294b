"""Summaries of closed hours kept next to the log, so a week's report reads 168 small files, not the week.

Monitoring folds each hour of predictions into counts (a profile) that add up to days and weeks. Once an
hour is closed, its profile is stored under ``<root>/profiles/deployment=<name>/<start>-<key>.json``, and
its traffic (live rows by model, shadow rows) under ``<root>/traffic/`` alike (``start``: the hour's first
epoch millisecond; ``key``: what the summary depends on besides the rows, such as the reference's bins), on
the same filesystem as the log, a local folder or S3. Each summary carries a fingerprint of the hour's
file listing (names and sizes, modification times on a disk), so a part that arrives late from a slow or
draining replica, or a merge, changes the fingerprint and the hour is summarised again: a stale summary is
never used. An hour is closed ``CLOSED_AFTER_MS`` after its end, when the replicas sharing the log have
flushed and merged it; before that nothing is stored. This module owns the cache's layout; what a summary
holds is the caller's.
"""

from __future__ import annotations

import json
from typing import Any

from .layout import FILE_MODE, HOUR_MS, HourPartition, private_folder
from .location import LogPath, RemotePath

PROFILES = "profiles"  # beside predictions/, feedback/ and errors/ under the log's root
TRAFFIC = "traffic"  # per hour: live rows by model, shadow rows
CLOSED_AFTER_MS = 120_000  # replicas flush within a second and merge an hour right after it ends


def is_closed(hour: HourPartition, now_ms: int) -> bool:
    """Whether no more rows are expected for ``hour``: it ended ``CLOSED_AFTER_MS`` ago."""
    return hour.start_ms + HOUR_MS + CLOSED_AFTER_MS <= now_ms


def fingerprint(hour: HourPartition) -> str:
    """What the hour's files are now (names, sizes and, on a disk, modification times), as one hash."""
    from ..store.hashing import hash_json

    stamps = []
    for path in hour.listing():
        stat = path.stat()
        stamps.append((path.name, stat.st_size, stat.st_mtime_ns))
    return hash_json({"files": stamps})


def read_summary(root: LogPath, hour: HourPartition, key: str, expected: str, *,
                 folder: str = PROFILES) -> dict[str, Any] | None:
    """The stored summary of ``hour`` for ``key`` if its fingerprint is ``expected``, else None."""
    try:
        data = json.loads(_path(root, hour, key, folder).read_bytes())
    except (OSError, ValueError):  # absent, being replaced, or damaged: summarise again
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != expected:  # new files, a merge, late rows
        return None
    summary = data.get("summary")
    return summary if isinstance(summary, dict) else None


def write_summary(root: LogPath, hour: HourPartition, key: str, stamp: str, summary: dict[str, Any], *,
                  folder: str = PROFILES) -> None:
    """Store the summary of a closed hour; a log the process may not write to is only read (scanned again).
    ``folder`` keeps kinds of summaries apart (profiles, traffic counts)."""
    import os

    path = _path(root, hour, key, folder)
    data = json.dumps({"fingerprint": stamp, "summary": summary}).encode()
    try:
        if isinstance(path, RemotePath):
            path.write_bytes(data)  # one PUT: whole or absent
            return
        private_folder(path.parent)  # a summary of the prediction log: private like the log itself
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.unlink(missing_ok=True)
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(descriptor, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError:
        pass


def _path(root: LogPath, hour: HourPartition, key: str, folder: str) -> LogPath:
    return root / folder / f"deployment={hour.deployment}" / f"{hour.start_ms}-{key}.json"
