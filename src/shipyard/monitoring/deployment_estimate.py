"""A deployment's performance in a window, estimated from the scores it logged, before the labels arrive.

The prediction log keeps every live answer's class probabilities. For each variant's model version that
answered in the window, those scores and the version's labelled reference (its scores on the promotion gate's
holdout, kept with the version by ``models/labelled_reference.py``) give the same ``estimated_quality`` checks
``shipyard monitor compare --model`` gives for a file: accuracy, precision, recall, F1 and ROC AUC with 90%
intervals (:mod:`.estimated_quality`). Rows whose feedback has joined add the realized value next to the
estimate and, with enough of them, the ``concept_drift`` check.

A window's scores are read in one pass over two columns' worth of the log; when a version answered more than
``MAX_ROWS`` rows a seeded sample of them is estimated (the estimate's cost grows with the rows, and its
interval, drawn for the sample, is then a little wider than the whole window's would be: never narrower).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError
from ..predlog.scan import scan_batches
from .checks.result import CheckResult
from .config import Thresholds
from .estimated_quality import estimate_checks
from .model_facts import ModelFacts
from .source import Window, latest_labels, live_files, time_range

MAX_ROWS = 10_000  # sampling noise of 10,000 rows (about 0.4 points of accuracy) is under the reference's
_COLUMNS = ["request_id", "row", "timestamp", "variant", "model_name", "model_version", "probabilities", "shadow"]


@dataclass
class _Scores:
    """One variant's answers from one model version in the window: probability chunks, labelled ones apart."""

    chunks: list[Any] = field(default_factory=list)
    labelled: list[Any] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


def estimate_window(facts: ModelFacts, deployment: str, window: Window, thresholds: Thresholds, *,
                    log_dir: str | None = None, seed: int = 0) -> tuple[list[CheckResult], list[str]]:
    """The ``estimated_quality`` (and ``concept_drift``) checks of every variant's model in ``window``, and notes
    for the versions that could not be estimated (no labelled reference, too few rows)."""
    import numpy as np

    groups = _scores(deployment, window, log_dir)
    if not groups:
        return [], []
    _join_labels(groups, deployment, window, log_dir)
    results: list[CheckResult] = []
    notes: list[str] = []
    minimum = thresholds.get("estimated_quality", "min_rows")
    for (variant, name, version), scores in sorted(groups.items(), key=lambda item: str(item[0])):
        uri = f"models:/{name}/{version}"
        try:
            reference = facts.labelled_reference(name, version)
        except NotFoundError:  # the version was deleted since it answered: the rest of monitoring goes on
            notes.append(f"{variant}: performance not estimated: {uri} is no longer registered.")
            continue
        if reference is None:
            notes.append(f"{variant}: performance not estimated: {uri} has no labelled reference (the promotion gate "
                         f"keeps one: shipyard models promote {name} --candidate {version} --data HOLDOUT --target "
                         "COLUMN).")
            continue
        if scores.rows < minimum:
            notes.append(f"{variant}: performance not estimated: {scores.rows:,} scored rows of {uri} in the window, "
                         f"fewer than {minimum}.")
            continue
        current = np.concatenate(scores.chunks)
        if current.shape[1] != len(reference.classes):
            notes.append(f"{variant}: performance not estimated: the log holds {current.shape[1]} class scores per "
                         f"row and the reference of {uri} {len(reference.classes)}.")
            continue
        rng = np.random.default_rng(seed)
        total = len(current)
        if total > MAX_ROWS:
            current = current[np.sort(rng.choice(total, MAX_ROWS, replace=False))]
        labelled, labels, unknown = _labelled(scores, reference.classes, rng)
        if unknown:
            notes.append(f"{variant}: {unknown:,} labels of {uri} are not among its classes "
                         f"({', '.join(reference.classes)}); they were left out of realized and concept_drift.")
        extra = {"model_uri": uri, "rows": total, "estimated_rows": len(current), "reference_rows": reference.rows}
        results += estimate_checks(reference.probabilities, reference.labels, reference.classes, current, labelled,
                                   labels, thresholds, feature=variant, seed=seed, extra=extra)
    return results, notes


def _scores(deployment: str, window: Window, log_dir: str | None) -> dict[tuple[str, str, int], _Scores]:
    """The window's live scored rows, grouped by variant and registered model version."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    groups: dict[tuple[str, str, int], _Scores] = {}
    condition = time_range(window) & (ds.field("shadow") == False)  # noqa: E712
    for batch in scan_batches(live_files(deployment, window, log_dir=log_dir), _COLUMNS[3:], condition):
        for key, chunk, _ in _split(batch, pc):
            groups.setdefault(key, _Scores()).chunks.append(chunk)
    return groups


def _join_labels(groups: dict[tuple[str, str, int], _Scores], deployment: str, window: Window,
                 log_dir: str | None) -> None:
    """Add to each group the scores and labels of its rows that have feedback (the latest label of a row)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    latest = latest_labels(deployment, window, log_dir=log_dir)
    if not latest:
        return
    ids = pa.array(sorted({key[0] for key in latest}), pa.string())
    condition = time_range(window) & (ds.field("shadow") == False) & ds.field("request_id").isin(ids)  # noqa: E712
    for batch in scan_batches(live_files(deployment, window, log_dir=log_dir), _COLUMNS, condition):
        names = batch.schema.names
        keys = list(zip(batch.column(names.index("request_id")).to_pylist(),
                        batch.column(names.index("row")).to_pylist(), strict=True))
        found = [latest.get(key) for key in keys]
        has_label = pa.array([item is not None for item in found], pa.bool_())  # typed: an empty batch too
        labelled = batch.filter(has_label)
        texts = [item[0] for item in found if item is not None]
        for group_key, chunk, positions in _split(labelled, pc):
            scores = groups.get(group_key)
            if scores is not None:
                scores.labelled.append(chunk)
                scores.labels += [texts[index] for index in positions]


def _split(batch: Any, pc: Any) -> list[tuple[tuple[str, str, int], Any, list[int]]]:
    """``((variant, name, version), probabilities, row positions)`` per registered version in ``batch``; rows
    without probabilities (a regressor's) or without a registered version are left out."""
    import numpy as np
    import pyarrow as pa

    names = batch.schema.names
    variant, name, version = (batch.column(names.index(column)) for column in ("variant", "model_name",
                                                                               "model_version"))
    probabilities = batch.column(names.index("probabilities"))
    usable = pc.and_(pc.and_(pc.is_valid(probabilities), pc.is_valid(name)), pc.is_valid(version))  # never null
    out = []
    distinct = pa.table({"variant": variant, "name": name, "version": version}).filter(usable).group_by(
        ["variant", "name", "version"]).aggregate([]).to_pylist()
    combos = {(row["variant"], row["name"], row["version"]) for row in distinct}
    for key in sorted(combos, key=str):
        same = pc.and_kleene(pc.and_kleene(pc.equal(variant, key[0]), pc.equal(name, key[1])),
                             pc.equal(version, key[2]))
        mask = pc.fill_null(pc.and_kleene(usable, same), False)
        chosen = probabilities.filter(mask)
        flat = chosen.flatten().to_numpy(zero_copy_only=False)
        width = flat.size // len(chosen) if len(chosen) else 0
        if not width or flat.size != width * len(chosen):
            continue  # rows of one version with different widths: nothing a model writes
        matrix = np.asarray(flat, dtype="float64").reshape(-1, width)
        out.append((key, matrix, np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()))
    return out


def _labelled(scores: _Scores, classes: list[str], rng: Any) -> tuple[Any, Any, int]:
    """The labelled rows' scores and class indices (at most ``MAX_ROWS``, sampled), and how many labels were
    not among the classes."""
    import numpy as np

    if not scores.labelled:
        return np.zeros((0, len(classes))), np.zeros(0, dtype="int64"), 0
    proba = np.concatenate(scores.labelled)
    index = {label: position for position, label in enumerate(classes)}
    known = np.array([label in index for label in scores.labels], dtype=bool)
    labels = np.array([index[label] for label in scores.labels if label in index], dtype="int64")
    proba = proba[known]
    if len(labels) > MAX_ROWS:
        chosen = np.sort(rng.choice(len(labels), MAX_ROWS, replace=False))
        proba, labels = proba[chosen], labels[chosen]
    return proba, labels, int((~known).sum())
