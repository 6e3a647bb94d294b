"""What monitoring reads about model versions: from a local store (:class:`StoreFacts`) or a team server
(:class:`ServerFacts`).

The traffic itself comes from the prediction log (a folder or ``s3://``), which is separate from the store. What
a monitoring pass reads from the store is three facts about the versions that answered: the training profile
stored in the version's package (the reference drift is measured against), the metrics its training run logged
(the baseline quality is compared with), and the labelled reference the promotion gate kept with it (what
teaches the performance estimate before labels arrive). The server answers each with the same functions the
local path calls (``server/api/operations.py``), so ``shipyard monitor check`` prints the same JSON either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from ..errors import NotFoundError
from ..models.labelled_reference import LabelledReference, read_reference
from ..models.registry import resolve
from ..store import Store
from ..tracking.runs import get_run
from .source import Reference, training_reference

if TYPE_CHECKING:
    from ..tracking.remote import RemoteTracker

API = "/api/shipyard/v1"


class ModelFacts(Protocol):
    """The facts about model versions one monitoring pass reads (see the module doc)."""

    def training_reference(self, model_uri: str) -> Reference: ...

    def baseline(self, model_uri: str) -> dict[str, float]: ...

    def labelled_reference(self, name: str, version: int) -> LabelledReference | None: ...


class StoreFacts:
    """The facts as a local store (or a database named by ``SHIPYARD_DATABASE_URI``) holds them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def training_reference(self, model_uri: str) -> Reference:
        return training_reference(self.store, model_uri)

    def baseline(self, model_uri: str) -> dict[str, float]:
        return training_metrics(self.store, model_uri)

    def labelled_reference(self, name: str, version: int) -> LabelledReference | None:
        return read_reference(self.store, name, version)


class ServerFacts:
    """The same facts through a team server's reader endpoints."""

    def __init__(self, tracker: RemoteTracker) -> None:
        self.tracker = tracker

    def training_reference(self, model_uri: str) -> Reference:
        answer = self.tracker.client.call("GET", f"{API}/monitoring/reference?uri={quote(model_uri, safe='')}")
        return Reference("training", model_uri, answer["profile"], answer.get("prediction_profile"),
                         answer.get("target_profile"))

    def baseline(self, model_uri: str) -> dict[str, float]:
        answer = self.tracker.client.call("GET", f"{API}/monitoring/baseline?uri={quote(model_uri, safe='')}")
        return {str(name): float(value) for name, value in answer["metrics"].items()}

    def labelled_reference(self, name: str, version: int) -> LabelledReference | None:
        return read_reference(self.tracker, name, version)  # the run artifact itself, hash-checked and cached


def training_metrics(store: Store, model_uri: str) -> dict[str, float]:
    """The metrics the version's run logged (``roc_auc``, ``accuracy``...): what quality is compared with.

    A run that is gone (its row deleted behind Shipyard's back: :class:`NotFoundError`) must not stop monitoring;
    quality then uses its absolute lines only. Any other failure (the store's) is the caller's to see: an empty
    baseline would read as "no drop from training". A metric that is not a finite number is left out: quality
    cannot be compared with it (and JSON, through a server, cannot carry it).
    """
    import math

    try:
        _, run_id, _ = resolve(store, model_uri)
        return {name: value for name, value in get_run(store, run_id).metrics.items()
                if isinstance(value, float) and math.isfinite(value)}
    except NotFoundError:
        return {}
