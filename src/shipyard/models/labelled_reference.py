"""A classifier version's labelled reference: its own scores on labelled rows, kept with the version.

Estimating a deployment's performance before its labels arrive (``monitoring/deployment_estimate.py``) needs
to know how far the model's scores can be trusted, which only labelled rows scored by the same model can
tell. The promotion gate already scores every version it judges on a labelled holdout, so it keeps what the
estimate needs from that pass: the probabilities (rows x classes, in the model's class order), the true class
of each row and the class names. A user who promotes through the gate (``shipyard models promote --data``,
a loop's ``promote`` step, the demo) therefore gets estimates on the deployment without passing any file.

The reference is a JSON run artifact of the version's run (``<path>/reference-<hash>.json``), so it travels
and is garbage-collected with the run's other artifacts; the version's tags ``reference.hash`` and
``reference.path`` name it. Reading checks the bytes against both the object store's content hash and the
hash the tag recorded, so a swapped file is refused rather than trusted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..calibration import Calibration, confidence_calibration
from ..errors import IntegrityError, NotFoundError, ValidationError
from ..store import Store
from ..store.hashing import hash_bytes
from ..tracking import artifacts as run_artifacts
from ..tracking.remote import RemoteTracker
from . import registry, remote
from .uri import parse_model_uri

FORMAT = "shipyard-labelled-reference/1"
MAX_ROWS = 20_000  # a larger holdout is subsampled (seeded): the estimate's cost grows with the reference
TAG_PREFIX = "reference."


@dataclass(frozen=True)
class LabelledReference:
    """What :func:`read_reference` returns: the version's scores on labelled rows and their true classes."""

    classes: list[str]  # the model's classes as text (as the prediction log holds them), in column order
    probabilities: Any  # numpy float array, rows x classes
    labels: Any  # numpy int array of column indices
    rows: int
    source: str  # how it was made, for people ("promotion gate, 1,409 holdout rows")
    digest: str


def record_reference(target: Store | RemoteTracker, name: str, version: int, probabilities: Any, truth: Any,
                     classes: list[Any], *, source: str, seed: int = 0) -> str | None:
    """Keep ``probabilities`` (rows x classes) and the true labels ``truth`` (in ``classes``) with the version, in
    the store ``target`` or on the team server it is the tracker of (the same bytes, run artifact and tags).

    Returns the reference's hash, or None when it cannot teach an estimate (fewer than two classes present,
    or not a classifier's probabilities), in which case nothing is written.
    """
    document = reference_document(name, version, probabilities, truth, classes, source=source, seed=seed)
    if document is None:
        return None
    data, digest, rows = document
    model_version = _version(target, name, version)
    path = reference_path(model_version.path, digest)
    tags = reference_tags(digest, path, rows, source)
    if isinstance(target, RemoteTracker):
        target.log_bytes(model_version.run_id, data, path)
        remote.set_version_tags(target, name, version, tags)
    else:
        run_artifacts.log_bytes(target, model_version.run_id, data, path)
        registry.set_version_tags(target, name, version, tags)
    return digest


def reference_document(name: str, version: int, probabilities: Any, truth: Any, classes: list[Any], *,
                       source: str, seed: int = 0) -> tuple[bytes, str, int] | None:
    """The reference as stored (its bytes, their hash and its row count), wherever it is going to be stored; None
    when the scores cannot teach an estimate (see :func:`record_reference`)."""
    import numpy as np

    scores = np.asarray(probabilities, dtype="float64")
    labels = [str(label) for label in classes]
    index = {label: position for position, label in enumerate(labels)}
    truth_text = [str(value) for value in np.asarray(truth).tolist()]
    if scores.ndim != 2 or scores.shape[1] != len(labels) or len(labels) < 2 or len(truth_text) != len(scores) \
            or any(value not in index for value in truth_text) or not np.isfinite(scores).all():
        return None
    classes_seen = np.array([index[value] for value in truth_text], dtype="int64")
    if len(np.unique(classes_seen)) < 2:
        return None
    total = len(scores)
    if total > MAX_ROWS:
        chosen = np.sort(np.random.default_rng(seed).choice(total, MAX_ROWS, replace=False))
        scores, classes_seen = scores[chosen], classes_seen[chosen]
    document = {"format": FORMAT, "name": name, "version": version, "classes": labels,
                "labels": classes_seen.tolist(), "probabilities": np.round(scores, 10).tolist(),
                "rows": len(scores), "rows_available": total, "source": source}
    data = json.dumps(document, separators=(",", ":")).encode()
    return data, hash_bytes(data), len(scores)


def reference_path(package_path: str, digest: str) -> str:
    """Where a version's reference lives among its run's artifacts (beside the package)."""
    return f"{package_path}/reference-{digest[:16]}.json"


def reference_tags(digest: str, path: str, rows: int, source: str) -> dict[str, str]:
    """The version tags that name its reference: what a reader finds it by and checks it against."""
    return {f"{TAG_PREFIX}hash": digest, f"{TAG_PREFIX}path": path, f"{TAG_PREFIX}rows": str(rows),
            f"{TAG_PREFIX}source": source}


def reference_location(model_version: registry.ModelVersion) -> tuple[str, str] | None:
    """The hash and artifact path the version's tags name for its reference, or None when it has none."""
    digest, path = model_version.tags.get(f"{TAG_PREFIX}hash"), model_version.tags.get(f"{TAG_PREFIX}path")
    return (digest, path) if digest and path else None


def read_reference(source: Store | RemoteTracker, name: str, version: int) -> LabelledReference | None:
    """The version's labelled reference, or None when it has none (it was never through the gate); ``source`` is
    the store, or a team server's tracker (downloaded through the verified cache).

    Raises:
        NotFoundError: no such version.
        IntegrityError: the stored bytes no longer hash to what the version's tag recorded, or are not a
            reference Shipyard wrote.
    """
    model_version = _version(source, name, version)
    location = reference_location(model_version)
    if location is None:
        return None
    digest, path = location
    try:
        data = (remote.read_verified(source, model_version.run_id, path, digest) if isinstance(source, RemoteTracker)
                else run_artifacts.read_artifact(source, model_version.run_id, path))
    except NotFoundError:
        return None  # a copy of the version without its run's artifacts (an exported image): no estimate there
    return parse_reference(data, name, version, digest, path)


def confidence_map(source: Store | RemoteTracker, uri: str) -> Calibration | None:
    """The map from a version's stated confidence (an answer's largest probability) to P(correct), derived from
    its labelled reference (:func:`shipyard.calibration.confidence_calibration`, seeded, so every worker and
    replica derives the same map); None for a URI that is not a registered version, or a version without a
    reference. Nothing new is stored: the reference already is.

    Raises:
        NotFoundError: no such version.
        IntegrityError: the reference's bytes do not match the hash its tag recorded.
    """
    parsed = parse_model_uri(uri)
    if parsed.kind != "version" or parsed.name is None or parsed.version is None:
        return None
    reference = read_reference(source, parsed.name, parsed.version)
    if reference is None:
        return None
    return confidence_calibration(reference.probabilities, reference.labels)


def _version(source: Store | RemoteTracker, name: str, version: int) -> registry.ModelVersion:
    if isinstance(source, RemoteTracker):
        return remote.get_version(source, name, version)
    return registry.get_version(source, name, version)


def parse_reference(data: bytes, name: str, version: int, digest: str, path: str) -> LabelledReference:
    """Bytes read from wherever the reference is kept, checked against the hash the version's tag recorded.

    Raises:
        IntegrityError: the bytes hash to something else, or are not a reference Shipyard wrote.
    """
    import numpy as np

    if hash_bytes(data) != digest:
        raise IntegrityError(f"The labelled reference of models:/{name}/{version} ({path}) does not match the hash "
                             "recorded when the promotion gate stored it; promote through the gate again to "
                             "store a new one.", object_hash=digest, path=path)
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT:
            raise ValueError(document.get("format"))
        probabilities = np.asarray(document["probabilities"], dtype="float64")
        labels = np.asarray(document["labels"], dtype="int64")
        classes = [str(label) for label in document["classes"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"The labelled reference of models:/{name}/{version} ({path}) is not one Shipyard "
                             f"wrote ({exc}).", object_hash=digest, path=path) from None
    if probabilities.shape != (len(labels), len(classes)):
        raise IntegrityError(f"The labelled reference of models:/{name}/{version} ({path}) has scores of shape "
                             f"{probabilities.shape} for {len(labels)} labels and {len(classes)} classes.",
                             object_hash=digest, path=path)
    return LabelledReference(classes, probabilities, labels, len(labels), str(document.get("source", "")), digest)


def holdout_scores(model: Any, answers: Any, frame: Any, target: str) -> tuple[Any, Any, list[Any]] | None:
    """The probabilities, true labels and classes a reference keeps, from the gate's scoring pass ``answers``
    (:class:`.evaluate.Outputs`) when its metric needed probabilities, else by scoring ``frame`` with the loaded
    classifier ``model``; None for a model without probabilities.

    Raises:
        ValidationError: ``frame`` lacks the target or one of the model's input columns.
    """
    from .evaluate import outputs

    if answers.metric.task == "classification" and answers.metric.needs_probabilities:
        return answers.output, answers.truth, list(answers.classes)
    output = getattr(getattr(model, "signature", None), "output", None)
    if output is None or output.kind != "classifier" or not hasattr(model, "predict_proba"):
        return None
    if target not in frame.columns:
        raise ValidationError(f"The data has no target column {target!r}.", field="target")
    scored = outputs(model, frame, target, "roc_auc")
    return scored.output, scored.truth, list(scored.classes)
