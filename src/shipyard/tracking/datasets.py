"""The data a run trained on, recorded as tags: the one place that names those tags.

A pipeline stage records each input file's content hash as ``shipyard.dep.<path>`` (``pipeline/repro.py``).
Data handed to a function in memory has no path, so it is recorded by role instead (``train``, ``eval``),
as three tags a search can filter on and the lineage can read:

* ``shipyard.dataset.<role>.hash``: the content hash, the same one a model package records as its
  ``training_data.hash`` (``models/package.py: frame_hash``), so a run and its model point at the same data;
* ``shipyard.dataset.<role>.rows`` and ``shipyard.dataset.<role>.columns``.
"""

from __future__ import annotations

from ..store import Store
from .runs import set_tags

PREFIX = "shipyard.dataset."


def dataset_tags(role: str, content_hash: str, rows: int, columns: int) -> dict[str, str]:
    """The tags that record one input dataset of a run."""
    return {f"{PREFIX}{role}.hash": content_hash, f"{PREFIX}{role}.rows": str(rows),
            f"{PREFIX}{role}.columns": str(columns)}


def log_input(store: Store, run_id: str, role: str, content_hash: str, rows: int, columns: int) -> None:
    """Record that the run read a dataset in the role ``role`` (``train``, ``eval``, ...)."""
    set_tags(store, run_id, dataset_tags(role, content_hash, rows, columns))


def inputs_of(tags: dict[str, str]) -> dict[str, dict[str, str]]:
    """Role -> {hash, rows, columns} from a run's tags (the reverse of :func:`dataset_tags`)."""
    found: dict[str, dict[str, str]] = {}
    for key, value in tags.items():
        if key.startswith(PREFIX):
            role, _, field = key[len(PREFIX):].rpartition(".")
            if role and field in ("hash", "rows", "columns"):
                found.setdefault(role, {})[field] = value
    return found
