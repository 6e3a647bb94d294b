"""Quality over time: the labelled predictions of a window scored per variant in time buckets.

The report draws these as lines (one per variant); the quality check itself scores the whole window.
Buckets have a round size (1 minute to 1 week) chosen so the labelled span fits in ``max_points``, and
start at multiples of that size (UTC), so two reports over overlapping windows agree bucket for bucket.
A bucket with fewer than ``min_rows`` labels for a variant gets no score (a gap, not a noisy point).
Pure computation over the labelled arrays: no files, no clock.
"""

from __future__ import annotations

from typing import Any

from .checks import variant_scores
from .source import Labelled

BUCKET_SECONDS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)


def bucket_seconds(span_s: float, max_points: int) -> int:
    """The smallest round bucket size that cuts ``span_s`` into fewer than ``max_points`` buckets (aligning
    the first bucket to a multiple of the size adds at most one)."""
    for size in BUCKET_SECONDS:
        if span_s / size < max_points:
            return size
    return BUCKET_SECONDS[-1]


def quality_timeline(labelled: Labelled, classes: list[str], *, min_rows: int = 20,
                     max_points: int = 48) -> dict[str, Any] | None:
    """Per variant and bucket: labelled rows and every score of ``checks.variant_scores``.

    Returns ``None`` without labels, else ``{"bucket_s": int, "min_rows": int, "times_s": [bucket starts],
    "variants": {name: {"rows": [int], "scores": {metric: [float | None]}}}}`` with one entry per bucket
    from the first labelled bucket to the last (empty buckets included, so gaps show).
    """
    if labelled.rows == 0:
        return None
    stamps = [int(value) for value in labelled.timestamp_ms]
    first, last = min(stamps) // 1000, max(stamps) // 1000
    size = bucket_seconds(last - first + 1, max_points)
    start = first - first % size
    count = (last - start) // size + 1
    members: dict[str, list[list[int]]] = {}
    for index, (variant, stamp) in enumerate(zip(labelled.variant, stamps, strict=True)):
        buckets = members.setdefault(variant, [[] for _ in range(count)])
        buckets[(stamp // 1000 - start) // size].append(index)
    variants: dict[str, dict[str, Any]] = {}
    for variant in sorted(members):
        scored = [variant_scores(labelled, rows, classes) if len(rows) >= min_rows else None
                  for rows in members[variant]]
        names = next((list(item) for item in scored if item is not None), [])
        variants[variant] = {
            "rows": [len(rows) for rows in members[variant]],
            "scores": {name: [None if item is None else item.get(name) for item in scored] for name in names},
        }
    return {"bucket_s": size, "min_rows": min_rows, "times_s": [start + index * size for index in range(count)],
            "variants": variants}
