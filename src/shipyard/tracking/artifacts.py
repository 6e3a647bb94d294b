"""Run artifacts: files stored as content-addressed objects, listed per run by their artifact path.

The artifact index (the ``artifacts`` table) maps each path of a run to an object hash. Every path that is
written or read goes through one validator, :func:`check_artifact_path`, so what can be written can be read
back and nothing downloads outside its destination. A folder's symbolic links are judged by
:mod:`._folder`: never a byte from outside the folder.

Model package manifests (``<name>/model.json``) get one more record: whenever this module writes one, the
same transaction records the manifest's hash in the run tag ``shipyard.model.<name>`` (the hash
``ModelInfo.manifest_hash`` and the registry use). A loader compares the manifest it reads with that record
(:func:`read_package_manifest`), so a manifest re-logged through Shipyard loads, and one swapped in the
index behind Shipyard's back does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from ..errors import IntegrityError, NotFoundError, ValidationError
from ..store import Store
from ..store.dialect import upsert
from ..store.hashing import hash_json
from ..store.schema import artifacts, tags
from ._folder import files_to_log
from .artifact_paths import artifact_path_problem as artifact_path_problem, check_artifact_path as check_artifact_path
from .validation import check_key

MANIFEST_FILE = "model.json"
PACKAGE_FORMAT = "shipyard-model/1"
PACKAGE_TAG_PREFIX = "shipyard.model."  # + the package's artifact path: the recorded manifest hash
_MAX_MANIFEST_BYTES = 64 << 20  # a larger model.json is some other document, never read to be recorded


def log_artifact(store: Store, run_id: str, local_path: str | os.PathLike[str],
                 artifact_path: str | None = None) -> list[str]:
    """Store a file, or every file under a directory, as artifacts of the run; returns their paths.

    A file lands at ``artifact_path/<file name>``; a directory's files keep their relative paths under
    ``artifact_path``. Logging the same path again replaces it. Every path is checked, and a directory's
    links judged (see :mod:`._folder`), before anything is stored: a refusal stores nothing.
    """
    entries = files_to_log(local_path, artifact_path)
    rows: list[dict[str, Any]] = []
    manifests: dict[str, bytes] = {}
    for path, name in entries:
        info = store.objects.put_file(path)
        rows.append({"run_id": run_id, "path": name, "hash": info.hash, "size": info.size})
        if _is_manifest_path(name):
            manifests[name] = store.objects.get_bytes(info.hash) if info.size <= _MAX_MANIFEST_BYTES else b""
    _index(store, run_id, rows, manifests)
    return [str(row["path"]) for row in rows]


def log_bytes(store: Store, run_id: str, data: bytes, artifact_path: str) -> str:
    """Store ``data`` as the artifact ``artifact_path`` of the run (``log_text``, ``log_dict``, model files)."""
    name = check_artifact_path(artifact_path)
    info = store.objects.put_bytes(data)
    row = {"run_id": run_id, "path": name, "hash": info.hash, "size": info.size}
    _index(store, run_id, [row], {name: data} if _is_manifest_path(name) else {})
    return name


def list_artifacts(store: Store, run_id: str) -> list[dict[str, Any]]:
    rows = store.db.read(lambda conn: conn.execute(
        select(artifacts.c.path, artifacts.c.hash, artifacts.c.size)
        .where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
    ).mappings().all())
    return [dict(row) for row in rows]


def read_artifact(store: Store, run_id: str, artifact_path: str) -> bytes:
    """The bytes of one artifact, verified against their hash."""
    entry = _entry(store, run_id, check_artifact_path(artifact_path))
    return _verified(store, run_id, entry, lambda label: store.objects.get_bytes(entry["hash"], label=label))


def download_artifacts(store: Store, run_id: str, dest: str | os.PathLike[str],
                       artifact_path: str | None = None) -> Path:
    """Copy the run's artifacts (all, or one file or folder of them) under ``dest``, verified.

    Every chosen path is checked again before the first file is written: an index row written by an older
    version, or edited by hand, never puts a file outside ``dest``.
    """
    target = Path(dest)
    wanted = check_artifact_path(artifact_path) if artifact_path is not None else None
    chosen = choose_artifacts(list_artifacts(store, run_id), run_id, wanted)
    for entry in chosen:
        out = target / entry["path"]
        _verified(store, run_id, entry, lambda label, e=entry, o=out: store.objects.get_file(e["hash"], o, label=label))
    return target / wanted if wanted else target


def choose_artifacts(entries: list[dict[str, Any]], run_id: str, wanted: str | None) -> list[dict[str, Any]]:
    """The entries a download of ``wanted`` (a file or a folder; ``None``: all) takes, each path checked again.

    One rule for the store and a team server's client (``remote_artifacts.py``): an index row written by an
    older version, or edited by hand, never puts a file outside the destination.
    """
    chosen = [entry for entry in entries
              if wanted is None or entry["path"] == wanted or entry["path"].startswith(wanted + "/")]
    if not chosen:
        what = f"an artifact {wanted!r}" if wanted else "any artifacts"
        raise NotFoundError(f"Run {run_id[:8]} has no {what}; `shipyard runs show {run_id[:8]}` lists them.")
    for entry in chosen:
        check_artifact_path(entry["path"])
    return chosen


def read_package_manifest(store: Store, run_id: str, package_path: str) -> tuple[bytes, str | None]:
    """The bytes of ``<package_path>/model.json`` and the manifest hash recorded for them (``None``: none).

    The index row and the record are read in one transaction, so a concurrent re-log is seen whole or not
    at all; the caller compares :func:`manifest_digest` of the bytes with the record.
    """
    name = f"{check_artifact_path(package_path, field='path')}/{MANIFEST_FILE}"
    key = PACKAGE_TAG_PREFIX + package_path

    def query(conn: Connection) -> tuple[dict[str, Any] | None, str | None]:
        row = conn.execute(select(artifacts.c.path, artifacts.c.hash, artifacts.c.size).where(
            artifacts.c.run_id == run_id, artifacts.c.path == name)).mappings().first()
        recorded = conn.execute(select(tags.c.value).where(tags.c.run_id == run_id, tags.c.key == key)).scalar()
        return (dict(row) if row is not None else None), recorded

    entry, recorded = store.db.read(query)
    if entry is None:
        raise NotFoundError(f"Run {run_id[:8]} has no artifact {name!r}; `shipyard runs show {run_id[:8]}` lists them.")
    data = _verified(store, run_id, entry, lambda label: store.objects.get_bytes(entry["hash"], label=label))
    return data, recorded


def check_package_path(path: str) -> str:
    """``path`` if a model package may live there: an artifact path whose record (``shipyard.model.<path>``) is
    a valid tag key; checked before a package is written, so a refusal leaves nothing behind."""
    check_artifact_path(path, field="name")
    check_key(PACKAGE_TAG_PREFIX + path, "tag")
    return path


def manifest_digest(data: bytes) -> str | None:
    """The hash a package manifest is recorded under (canonical JSON of the document), or ``None`` when
    ``data`` is not a package manifest at all."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # not JSON (UnicodeDecodeError is a ValueError)
        return None
    if not isinstance(document, dict) or document.get("format") != PACKAGE_FORMAT:
        return None
    try:
        return hash_json(document)
    except ValidationError:  # NaN or infinity: not something log_model writes
        return None


def _index(store: Store, run_id: str, rows: list[dict[str, Any]], manifests: dict[str, bytes]) -> None:
    """Write the index rows and, in the same transaction, the record of every package manifest among them."""
    records: list[dict[str, str]] = []
    dropped: list[str] = []
    for name, data in manifests.items():
        key = PACKAGE_TAG_PREFIX + name.rsplit("/", 1)[0]
        try:
            check_key(key, "tag")
        except ValidationError:
            continue  # no record can be kept under this name; a loader then refuses the package, saying so
        digest = manifest_digest(data)
        if digest is None:
            dropped.append(key)  # the folder no longer holds a package: no stale record may vouch for one
        else:
            records.append({"run_id": run_id, "key": key, "value": digest})

    def write(conn: Connection) -> None:
        upsert(conn, artifacts, rows)
        if records:
            upsert(conn, tags, records)
        if dropped:
            conn.execute(tags.delete().where(tags.c.run_id == run_id, tags.c.key.in_(dropped)))

    store.db.write(write)


def _is_manifest_path(name: str) -> bool:
    return name.endswith("/" + MANIFEST_FILE)


def _verified(store: Store, run_id: str, entry: dict[str, Any], fetch: Any) -> Any:
    label = f"artifact {entry['path']!r} of run {run_id[:8]}"
    try:
        return fetch(label)
    except IntegrityError as exc:
        exc.path = entry["path"]  # the artifact path, for programs; the message keeps the human label
        raise
    except NotFoundError as exc:
        raise NotFoundError(f"The {label} is recorded but its object is missing from the store: {exc}") from None


def _entry(store: Store, run_id: str, name: str) -> dict[str, Any]:
    for entry in list_artifacts(store, run_id):
        if entry["path"] == name:
            return entry
    raise NotFoundError(f"Run {run_id[:8]} has no artifact {name!r}; `shipyard runs show {run_id[:8]}` lists them.")
