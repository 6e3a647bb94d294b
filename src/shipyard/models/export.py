"""Served model packages copied into a store of their own: what a serving image carries.

A server needs, for each package it serves, the package's objects (its manifest and every file the manifest
lists, plus the verified ONNX export when the image runs it and the labelled reference the promotion
gate kept with a version), the artifact rows that name them, the run they
belong to (with its experiment, environment, params, tags and latest metrics, and the runs above it, so
``shipyard lineage`` still answers inside the image) and, for a registered version, the registry rows: the
model, the version, its tags and the aliases that point at it. Nothing else goes: not the data cache, not
other versions or runs, not prediction logs. So ``models:/churn@champion`` resolves in the copy to the
version it resolves to here, and the copy is as small as what it serves.

Every byte is checked on the way: objects against their content hash (the object store verifies on read),
the manifest against the hash the registry recorded at registration, each file against the hash in the
manifest, and the ONNX export against the hash recorded when it was verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, select, tuple_

from ..errors import ConflictError, IntegrityError, NotFoundError
from ..store import Store
from ..store.hashing import hash_json
from ..store.location import location_for
from ..store.schema import (
    artifacts,
    environments,
    experiments,
    latest_metrics,
    model_aliases,
    model_version_tags,
    model_versions,
    params,
    registered_models,
    runs,
    tags,
)
from ..tracking.key_catalogue import record_keys
from .labelled_reference import TAG_PREFIX as REFERENCE_TAG_PREFIX
from .manifest import MANIFEST, read_manifest
from .registry import ModelVersion, resolve

ONNX_TAG_PREFIX = "onnx."
Rows = list[tuple[Table, list[dict[str, Any]]]]  # table -> its rows to copy, in foreign-key order


@dataclass(frozen=True)
class Package:
    """One package to export: what a URI resolved to, and whether its verified ONNX export goes along."""

    uri: str
    version: ModelVersion | None  # None for a runs:/ URI
    run_id: str
    path: str
    onnx: bool = False

    @classmethod
    def resolved(cls, store: Store, uri: str, *, onnx: bool = False) -> Package:
        version, run_id, path = resolve(store, uri)
        return cls(uri, version, run_id, path, onnx)

    @property
    def label(self) -> str:
        return self.version.uri if self.version is not None else f"runs:/{self.run_id}/{self.path}"


@dataclass
class Exported:
    """The store written by :func:`export_packages`: where, which packages, and the objects it holds."""

    root: Path
    packages: list[str] = field(default_factory=list)  # models:/name/N (or runs:/...) of each package
    objects: dict[str, int] = field(default_factory=dict)  # hash -> size

    @property
    def size(self) -> int:
        return sum(self.objects.values())


def export_packages(store: Store, packages: Iterable[Package], destination: Path) -> Exported:
    """Write a new store at ``destination`` holding exactly ``packages`` (see the module docstring).

    Raises:
        ConflictError: ``destination`` exists and is not empty.
        IntegrityError: a manifest, file or ONNX export differs from the hash recorded for it.
        NotFoundError: a file the manifest lists has no artifact (the package is incomplete).
    """
    if destination.exists() and any(destination.iterdir()):
        raise ConflictError(f"{destination} is not empty; the exported store needs a new folder.")
    wanted = _merge(packages)
    objects: dict[str, tuple[str, str]] = {}  # hash -> (run id, artifact path), each object copied once
    artifact_paths: dict[str, set[str]] = {}
    for package in wanted:
        for artifact_path, digest in _package_objects(store, package).items():
            objects.setdefault(digest, (package.run_id, artifact_path))
            artifact_paths.setdefault(package.run_id, set()).add(artifact_path)
    rows = store.db.read(lambda conn: _rows(conn, wanted, artifact_paths))
    exported = Exported(destination, [package.label for package in wanted])
    target = Store(location_for(destination))
    try:
        staging = destination / ".export"
        staging.mkdir()
        for digest, (run_id, artifact_path) in sorted(objects.items()):
            copy = staging / digest
            store.objects.get_file(digest, copy, label=f"artifact {artifact_path!r} of run {run_id[:8]}")
            info = target.objects.put_file(copy)
            copy.unlink()
            if info.hash != digest:  # the bytes changed between the two reads
                raise IntegrityError(f"Object {digest[:12]} changed while it was exported; export again.",
                                     object_hash=digest, path=artifact_path)
            exported.objects[digest] = info.size
        staging.rmdir()
        target.db.write(lambda conn: _insert(conn, rows))
    finally:
        target.close()
    return exported


def _merge(packages: Iterable[Package]) -> list[Package]:
    """One entry per package (an alias and a version number may name the same one); ONNX if any asks for it."""
    merged: dict[tuple[str, str], Package] = {}
    for package in packages:
        key = (package.run_id, package.path)
        known = merged.get(key)
        merged[key] = package if known is None else Package(known.uri, known.version or package.version,
                                                             known.run_id, known.path, known.onnx or package.onnx)
    return list(merged.values())


def _package_objects(store: Store, package: Package) -> dict[str, str]:
    """``artifact path -> object hash`` of the package's manifest and files (and ONNX export), all checked."""
    manifest = read_manifest(store, package.run_id, package.path)
    if package.version is not None and hash_json(manifest) != package.version.manifest_hash:
        raise IntegrityError(f"The manifest of {package.label} changed after it was registered; it cannot be "
                             "exported. Log and register the model again.",
                             object_hash=package.version.manifest_hash, path=f"{package.path}/{MANIFEST}")
    entries = {row["path"]: row["hash"] for row in store.db.read(lambda conn: conn.execute(
        select(artifacts.c.path, artifacts.c.hash).where(artifacts.c.run_id == package.run_id)).mappings().all())}
    found = {f"{package.path}/{MANIFEST}": entries[f"{package.path}/{MANIFEST}"]}
    for filename, recorded in manifest["files"].items():
        artifact_path = f"{package.path}/{filename}"
        if artifact_path not in entries:
            raise NotFoundError(f"{package.label} lists {filename} in its manifest, but run {package.run_id[:8]} has "
                                f"no artifact {artifact_path!r}: the package is incomplete.")
        if entries[artifact_path] != recorded["hash"]:
            raise IntegrityError(f"The file {filename} of {package.label} does not match the hash in its manifest: "
                                 "the package was modified after it was logged.", object_hash=recorded["hash"],
                                 path=artifact_path)
        found[artifact_path] = entries[artifact_path]
    if package.onnx:
        assert package.version is not None, "only a registered version carries a verified ONNX export"
        onnx_path = package.version.tags.get(f"{ONNX_TAG_PREFIX}path", "")
        expected = package.version.tags.get(f"{ONNX_TAG_PREFIX}hash", "")
        if entries.get(onnx_path) != expected:
            raise IntegrityError(f"The ONNX export attached to {package.label} does not match the hash recorded when "
                                 "it was verified; export it again (shipyard models export-onnx).",
                                 object_hash=expected, path=onnx_path)
        found[onnx_path] = expected
    if package.version is not None:
        found.update(_labelled_reference(package, entries))
    return found


def _labelled_reference(package: Package, entries: dict[str, str]) -> dict[str, str]:
    """The version's labelled reference (``labelled_reference.py``), when it has one: monitoring a deployment of
    the copy estimates its performance from it, so it goes along, checked against the hash its tag recorded."""
    assert package.version is not None
    reference_path = package.version.tags.get(f"{REFERENCE_TAG_PREFIX}path", "")
    expected = package.version.tags.get(f"{REFERENCE_TAG_PREFIX}hash", "")
    if not reference_path or not expected:
        return {}
    if entries.get(reference_path) != expected:
        raise IntegrityError(f"The labelled reference of {package.label} does not match the hash recorded when the "
                             "promotion gate stored it; promote through the gate again.", object_hash=expected,
                             path=reference_path)
    return {reference_path: expected}


def _rows(conn: Connection, packages: list[Package], artifact_paths: dict[str, set[str]]) -> Rows:
    """Every row the exported store needs, table by table, in an order that satisfies the foreign keys."""
    run_rows = _runs_with_ancestors(conn, set(artifact_paths))
    run_ids = [row["id"] for row in run_rows]

    def of_runs(table: Table) -> list[dict[str, Any]]:
        return _select(conn, table, table.c.run_id.in_(run_ids))

    versions = [(package.version.name, package.version.version) for package in packages if package.version]
    names = sorted({name for name, _ in versions})
    onnx_versions = {(package.version.name, package.version.version) for package in packages
                     if package.version and package.onnx}
    tag_key = tuple_(model_version_tags.c.name, model_version_tags.c.version)
    version_tags = [row for row in _select(conn, model_version_tags, tag_key.in_(versions))
                    if not row["key"].startswith(ONNX_TAG_PREFIX) or (row["name"], row["version"]) in onnx_versions]
    artifact_rows = [row for row in of_runs(artifacts) if row["path"] in artifact_paths.get(row["run_id"], set())]
    return [
        (experiments, _select(conn, experiments, experiments.c.id.in_({row["experiment_id"] for row in run_rows}))),
        (environments, _select(conn, environments, environments.c.hash.in_(
            {row["environment_hash"] for row in run_rows if row["environment_hash"]}))),
        (runs, run_rows),
        (params, of_runs(params)),
        (tags, of_runs(tags)),
        (latest_metrics, of_runs(latest_metrics)),
        (artifacts, artifact_rows),
        (registered_models, _select(conn, registered_models, registered_models.c.name.in_(names))),
        (model_versions, _select(conn, model_versions,
                                 tuple_(model_versions.c.name, model_versions.c.version).in_(versions))),
        (model_version_tags, version_tags),
        (model_aliases, _select(conn, model_aliases,
                                tuple_(model_aliases.c.name, model_aliases.c.version).in_(versions))),
    ]


def _runs_with_ancestors(conn: Connection, run_ids: set[str]) -> list[dict[str, Any]]:
    """The runs and, up the ``parent_id`` chain, every run above them: parents first."""
    found: dict[str, dict[str, Any]] = {}
    pending = set(run_ids)
    while pending:
        rows = _select(conn, runs, runs.c.id.in_(pending))
        found.update((row["id"], row) for row in rows)
        pending = {row["parent_id"] for row in rows if row["parent_id"] and row["parent_id"] not in found}

    def depth(row: dict[str, Any]) -> int:
        steps = 0
        while row["parent_id"] in found:
            row, steps = found[row["parent_id"]], steps + 1
        return steps

    return sorted(found.values(), key=lambda row: (depth(row), row["id"]))


def _select(conn: Connection, table: Table, condition: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(select(table).where(condition)).mappings().all()]


def _insert(conn: Connection, rows: Rows) -> None:
    for table, values in rows:
        if values:
            conn.execute(insert(table), values)
    for copied, values in rows:  # the exported runs' keys, for the column picker of the new store
        if copied is params or copied is latest_metrics:
            record_keys(conn, "params" if copied is params else "metrics",
                        [(row["run_id"], row["key"]) for row in values])
