"""A model package's manifest (``model.json``): read it, and refuse it unless it is the one Shipyard wrote.

The manifest names everything else in the package (files and their hashes, signature, profiles), so every
reader goes through :func:`read_manifest`: loading a package, registering a version, exporting it, the
monitoring reference, the lineage and the UI. It needs only the run's artifacts, never the model's
libraries, so the registry and the monitors can read a package without importing its flavor.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import IntegrityError, NotFoundError, ValidationError
from ..store import Store
from ..tracking import artifacts as run_artifacts

MANIFEST = run_artifacts.MANIFEST_FILE
PACKAGE_FORMAT = run_artifacts.PACKAGE_FORMAT


def read_manifest(store: Store, run_id: str, path: str) -> dict[str, Any]:
    """The manifest of the package at ``path``, if it is the one Shipyard's writers last recorded there.

    Raises:
        NotFoundError: the run has no ``<path>/model.json``.
        ValidationError: that file is not a Shipyard model package.
        IntegrityError: its hash differs from the run's record, or there is no record (it was written or
            swapped behind Shipyard's back, in ``meta.db`` or by another tool).
    """
    where = f"{path}/{MANIFEST}"
    try:
        raw, recorded = run_artifacts.read_package_manifest(store, run_id, path)
    except NotFoundError:
        raise NotFoundError(f"Run {run_id[:8]} has no model at {path!r} (no {where} artifact).") from None
    try:
        manifest = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationError(f"{where} of run {run_id[:8]} is not a Shipyard model package (not JSON).",
                              field="format") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PACKAGE_FORMAT:
        found_format = manifest.get("format") if isinstance(manifest, dict) else None
        raise ValidationError(f"{where} of run {run_id[:8]} is not a Shipyard model package "
                              f"(format {found_format!r}).", field="format")
    found = run_artifacts.manifest_digest(raw)
    if found is None:
        raise ValidationError(f"{where} of run {run_id[:8]} holds NaN or infinity, which no Shipyard manifest "
                              "does; it was not loaded.", field="format")
    if recorded is None:
        raise IntegrityError(
            f"The manifest {where} of run {run_id[:8]} (hash {found[:12]}) has no recorded hash in the run's "
            "artifact index: Shipyard records one whenever it writes a manifest, so this one was written around "
            "it. It was not loaded; log the model again.", object_hash=found, path=where)
    if found != recorded:
        raise IntegrityError(
            f"The manifest {where} of run {run_id[:8]} hashes to {found[:12]}, but the run's artifact index "
            f"recorded {recorded[:12]} when Shipyard last wrote it: the manifest was changed behind Shipyard's "
            "back (in meta.db or by another tool). It was not loaded; log the model again.",
            object_hash=recorded, path=where)
    return manifest
