"""``shipyard import mlflow``: copy an MLflow store's history into this store, resumably and idempotently.

What is copied: active experiments; their active runs with name, user, status, original start and end times,
params, tags, every point of every metric (step, value, timestamp) and every artifact file; registered models
whose versions Shipyard can package (:mod:`shipyard.models.mlflow_format`), with their aliases. What cannot be
imported is named with its reason in the summary, never dropped in silence.

Idempotence and resuming rest on two run tags. ``mlflow.run_id`` (the MLflow run id) is written with the run,
so the next import finds it; ``shipyard.import.partial`` is written with it and deleted only once the run is
complete. A run found complete is skipped; a run found partial (the importer was killed) is finished: params
and tags are upserts, a metric's history is written in one transaction and only for keys the run does not
have yet, artifacts are content-addressed and replace their own path. A registered version carries the tag
``mlflow.version``; a version found with it is not registered again, and an alias already in place is not moved.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..errors import NotFoundError, NotSupportedError, ValidationError
from ..models.mlflow_format import package_mlflow_model
from ..models.registry import list_versions, register_model, set_alias
from ..store import Store
from ..store.schema import artifacts, metrics, tags
from ..tracking.artifacts import log_artifact
from ..tracking.metrics import write_points
from ..tracking.runs import RUNNING, STATUSES, RunOrigin, create_run, delete_tag, end_run, log_params, set_tags
from .mlflow_source import PARENT_TAG, MlflowRegisteredModel, MlflowRun, MlflowSource

RUN_ID_TAG = "mlflow.run_id"
PARTIAL_TAG = "shipyard.import.partial"
SOURCE_TAG = "shipyard.import.source"
VERSION_TAG = "mlflow.version"
MODEL_FILES_PREFIX = "mlflow-models"

# (phase, done, total): "runs" once per run, "models" once per registered model.
Progress = Callable[[str, int, int], None]


@dataclass
class ImportSummary:
    """What one import did; ``skipped`` lists each thing left behind with its reason."""

    source: str
    experiments: int = 0
    runs_imported: int = 0
    runs_resumed: int = 0
    runs_already: int = 0
    metric_points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    versions_imported: int = 0
    versions_already: int = 0
    aliases_set: int = 0
    aliases_already: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append({"what": what, "reason": reason})

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form of ``shipyard import mlflow --json``."""
        return {
            "source": self.source, "experiments": self.experiments,
            "runs": {"imported": self.runs_imported, "resumed": self.runs_resumed, "already": self.runs_already},
            "metric_points": self.metric_points,
            "artifacts": {"files": self.artifact_files, "bytes": self.artifact_bytes},
            "model_versions": {"imported": self.versions_imported, "already": self.versions_already},
            "aliases": {"set": self.aliases_set, "already": self.aliases_already},
            "skipped": list(self.skipped),
        }


@dataclass
class _Imported:
    run_id: str
    partial: bool


def import_mlflow(store: Store, source: MlflowSource, *, progress: Progress | None = None) -> ImportSummary:
    """Copy everything ``source`` holds into ``store``; safe to run again, and to run again after being killed."""
    report = progress or (lambda phase, done, total: None)
    summary = ImportSummary(source.description)
    known = _imported_runs(store)
    experiments = source.experiments()
    summary.experiments = len(experiments)
    found: list[tuple[str, MlflowRun]] = []
    for experiment in experiments:
        found += [(experiment.name, run) for run in source.runs(experiment.id)]
    ordered = _parents_first(found)
    report("runs", 0, len(ordered))
    with tempfile.TemporaryDirectory(prefix="shipyard-import-") as scratch:
        for done, (experiment_name, run) in enumerate(ordered, start=1):
            try:
                _import_run(store, source, experiment_name, run, known, summary, Path(scratch) / run.id)
            except (ValidationError, NotFoundError) as exc:  # this run's data is refused here: name it, go on
                summary.skip(f"run {run.id}", str(exc))
            finally:  # downloaded artifacts are stored by now: the scratch space holds one run at a time
                shutil.rmtree(Path(scratch) / run.id, ignore_errors=True)
            report("runs", done, len(ordered))
        models = source.registered_models()
        report("models", 0, len(models))
        for done, model in enumerate(models, start=1):
            try:
                _import_model(store, source, model, known, summary, Path(scratch) / f"model-{done}")
            finally:
                shutil.rmtree(Path(scratch) / f"model-{done}", ignore_errors=True)
            report("models", done, len(models))
    return summary


def _import_run(store: Store, source: MlflowSource, experiment: str, run: MlflowRun, known: dict[str, _Imported],
                summary: ImportSummary, scratch: Path) -> None:
    existing = known.get(run.id)
    if existing is not None and not existing.partial:
        summary.runs_already += 1
        return
    run_tags = {key: value for key, value in run.tags.items() if key != PARENT_TAG or run.parent_id not in known}
    run_tags.update({RUN_ID_TAG: run.id, SOURCE_TAG: source.description, PARTIAL_TAG: "true"})
    if existing is None:
        parent = known.get(run.parent_id) if run.parent_id else None
        origin = RunOrigin(user=run.user or "unknown", command=run.tags.get("mlflow.source.name") or None)
        run_id = create_run(store, experiment=experiment, name=run.name, tags_=run_tags,
                            parent_id=parent.run_id if parent else None, origin=origin, start_ms=run.start_ms)
        known[run.id] = _Imported(run_id, partial=True)
        summary.runs_imported += 1
    else:
        run_id = existing.run_id
        set_tags(store, run_id, run_tags)
        summary.runs_resumed += 1
    log_params(store, run_id, run.params)
    present = _metric_keys(store, run_id)
    for key in run.metric_keys:
        if key in present:  # written whole by the import that was interrupted
            continue
        points = source.metric_history(run.id, key)
        summary.metric_points += write_points(store, run_id, [(key, v, step, ts) for step, v, ts in points])
    if run.artifact_uri:
        try:
            folder = source.fetch_artifacts(run.artifact_uri, scratch)
        except NotSupportedError as exc:
            summary.skip(f"artifacts of run {run.id}", str(exc))
            folder = None
        if folder is not None:
            _log_folder(store, run_id, folder, None, summary)
    if run.status != RUNNING:
        status = run.status if run.status in STATUSES else "KILLED"  # MLflow's SCHEDULED never ran
        end_run(store, run_id, status, end_ms=run.end_ms)
    delete_tag(store, run_id, PARTIAL_TAG)
    known[run.id] = _Imported(run_id, partial=False)


def _import_model(store: Store, source: MlflowSource, model: MlflowRegisteredModel, known: dict[str, _Imported],
                  summary: ImportSummary, scratch: Path) -> None:
    try:
        registered = {version.tags.get(VERSION_TAG): version.version for version in list_versions(store, model.name)}
    except NotFoundError:
        registered = {}
    mapping: dict[int, int] = {}
    for version in model.versions:
        what = f"model {model.name} version {version.version}"
        if str(version.version) in registered:
            mapping[version.version] = registered[str(version.version)]
            summary.versions_already += 1
            continue
        target = known.get(version.run_id) if version.run_id else None
        if target is None or target.partial:
            summary.skip(what, f"its run {version.run_id} was not imported (deleted in MLflow, or refused above)")
            continue
        try:
            if not version.storage_location:
                raise NotSupportedError("MLflow gives no location for its files")
            folder = source.fetch_artifacts(version.storage_location, scratch / str(version.version))
            if folder is None:
                raise NotSupportedError(f"its files are missing at {version.storage_location}")
            kept = f"{MODEL_FILES_PREFIX}/{_slug(model.name)}/v{version.version}"  # MLflow's own files, as they were
            if not _has_artifact(store, target.run_id, f"{kept}/MLmodel"):
                _log_folder(store, target.run_id, folder, kept, summary)
            uri = package_mlflow_model(store, target.run_id, folder, f"model-{_slug(model.name)}-v{version.version}")
        except NotSupportedError as exc:
            summary.skip(what, f"not registered: {exc}")
            continue
        created = register_model(store, uri, model.name, description=version.description, tags={
            VERSION_TAG: str(version.version), RUN_ID_TAG: version.run_id or "", "mlflow.source": version.source or "",
            "mlflow.files": kept})  # MLflow's own files: what an MLflow client of `shipyard server` loads
        mapping[version.version] = created.version
        summary.versions_imported += 1
    for alias, version_number in sorted(model.aliases.items()):
        if version_number not in mapping:
            summary.skip(f"alias {model.name}@{alias}",
                         f"it points at version {version_number}, which was not imported")
            continue
        event = set_alias(store, model.name, alias, mapping[version_number],
                          reason=f"imported from MLflow ({source.description})")
        if event.action == "unchanged":
            summary.aliases_already += 1
        else:
            summary.aliases_set += 1


def _log_folder(store: Store, run_id: str, folder: Path, prefix: str | None, summary: ImportSummary) -> None:
    logged = log_artifact(store, run_id, folder, prefix)
    summary.artifact_files += len(logged)
    summary.artifact_bytes += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _imported_runs(store: Store) -> dict[str, _Imported]:
    """MLflow run id -> the run an earlier import made of it, and whether that import finished it."""
    def query(conn: Any) -> dict[str, _Imported]:
        rows = conn.execute(select(tags.c.run_id, tags.c.key, tags.c.value)
                            .where(tags.c.key.in_([RUN_ID_TAG, PARTIAL_TAG]))).all()
        partial = {row.run_id for row in rows if row.key == PARTIAL_TAG}
        return {row.value: _Imported(row.run_id, row.run_id in partial) for row in rows if row.key == RUN_ID_TAG}

    return store.db.read(query)


def _has_artifact(store: Store, run_id: str, path: str) -> bool:
    return store.db.read(lambda conn: conn.execute(select(artifacts.c.path).where(
        artifacts.c.run_id == run_id, artifacts.c.path == path)).first()) is not None


def _metric_keys(store: Store, run_id: str) -> set[str]:
    return set(store.db.read(lambda conn: conn.execute(
        select(metrics.c.key).where(metrics.c.run_id == run_id).distinct()).scalars().all()))


def _parents_first(found: Iterable[tuple[str, MlflowRun]]) -> list[tuple[str, MlflowRun]]:
    """Runs ordered so that a parent is always imported before its children (by depth, then start time)."""
    runs = list(found)
    parents = {run.id: run.parent_id for _, run in runs}

    def depth(run_id: str) -> int:
        seen: set[str] = set()
        level = 0
        while (parent := parents.get(run_id)) and parent in parents and parent not in seen:
            seen.add(run_id)
            run_id, level = parent, level + 1
        return level

    return sorted(runs, key=lambda item: (depth(item[1].id), item[1].start_ms or 0))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "model"
