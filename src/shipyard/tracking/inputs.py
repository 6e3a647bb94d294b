"""The datasets a run read: MLflow's ``log_input``, kept so that a run's data shows next to its code.

A dataset is named by ``(name, digest)``; logging the same one again to a run replaces its description
(source, schema, profile, context) rather than adding a second row, as MLflow does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import ValidationError
from ..store import Store
from ..store.dialect import upsert
from ..store.schema import run_inputs
from .validation import check_text

_MAX_NAME = 500
_MAX_DIGEST = 64
_MAX_DOCUMENT = 1 << 20  # schema or profile text: a megabyte is a description, more is data


@dataclass(frozen=True)
class DatasetInput:
    """One dataset a run read, as the client described it."""

    name: str
    digest: str
    source_type: str | None = None
    source: str | None = None
    schema: str | None = None
    profile: str | None = None
    context: str | None = None


def log_inputs(store: Store, run_id: str, datasets: list[DatasetInput]) -> None:
    """Record the datasets (checked first: a refusal records none of them)."""
    now = time.time_ns() // 1_000_000
    rows = [{"run_id": run_id, **_checked(item), "created_at": now} for item in datasets]
    if rows:
        store.db.write(lambda conn: upsert(conn, run_inputs, rows))


def _checked(item: DatasetInput) -> dict[str, str | None]:
    for what, value, limit in (("name", item.name, _MAX_NAME), ("digest", item.digest, _MAX_DIGEST)):
        if not isinstance(value, str) or not value:
            raise ValidationError(f"A dataset input needs a {what}, got {value!r}.", field=f"dataset.{what}")
        check_text(value, "dataset", what, limit)
    for what, document in (("source", item.source), ("schema", item.schema), ("profile", item.profile)):
        if document is not None:
            check_text(document, "dataset", what, _MAX_DOCUMENT)
    return {"name": item.name, "digest": item.digest, "source_type": item.source_type, "source": item.source,
            "schema": item.schema, "profile": item.profile, "context": item.context}
