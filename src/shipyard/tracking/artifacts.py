"""Run artifacts: files stored as content-addressed objects, listed per run by their artifact path."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from ..errors import IntegrityError, NotFoundError, ValidationError
from ..store import Store
from ..store._dialect import upsert
from ..store.schema import artifacts


def log_artifact(store: Store, run_id: str, local_path: str | os.PathLike[str],
                 artifact_path: str | None = None) -> list[str]:
    """Store a file, or every file under a directory, as artifacts of the run; returns their paths.

    A file lands at ``artifact_path/<file name>``; a directory's files keep their relative paths under
    ``artifact_path``. Logging the same path again replaces it.
    """
    source = Path(local_path)
    prefix = _clean(artifact_path) if artifact_path else None
    if source.is_dir():
        files = sorted(path for path in source.rglob("*") if path.is_file())
        entries = [(path, _join(prefix, path.relative_to(source).as_posix())) for path in files]
    elif source.is_file():
        entries = [(source, _join(prefix, source.name))]
    else:
        raise NotFoundError(f"Cannot log artifact {os.fspath(local_path)!r}: no such file or directory.")
    rows: list[dict[str, Any]] = []
    for path, name in entries:
        info = store.objects.put_file(path)
        rows.append({"run_id": run_id, "path": name, "hash": info.hash, "size": info.size})
    store.db.write(lambda conn: upsert(conn, artifacts, rows))
    return [str(row["path"]) for row in rows]


def log_bytes(store: Store, run_id: str, data: bytes, artifact_path: str) -> str:
    name = _clean(artifact_path)
    info = store.objects.put_bytes(data)
    store.db.write(lambda conn: upsert(conn, artifacts, [
        {"run_id": run_id, "path": name, "hash": info.hash, "size": info.size}
    ]))
    return name


def list_artifacts(store: Store, run_id: str) -> list[dict[str, Any]]:
    rows = store.db.read(lambda conn: conn.execute(
        select(artifacts.c.path, artifacts.c.hash, artifacts.c.size)
        .where(artifacts.c.run_id == run_id).order_by(artifacts.c.path)
    ).mappings().all())
    return [dict(row) for row in rows]


def read_artifact(store: Store, run_id: str, artifact_path: str) -> bytes:
    """The bytes of one artifact, verified against their hash."""
    entry = _entry(store, run_id, _clean(artifact_path))
    return _verified(store, run_id, entry, lambda label: store.objects.get_bytes(entry["hash"], label=label))


def download_artifacts(store: Store, run_id: str, dest: str | os.PathLike[str],
                       artifact_path: str | None = None) -> Path:
    """Copy the run's artifacts (all, or one file or folder of them) under ``dest``, verified."""
    target = Path(dest)
    wanted = _clean(artifact_path) if artifact_path else None
    chosen = [entry for entry in list_artifacts(store, run_id)
              if wanted is None or entry["path"] == wanted or entry["path"].startswith(wanted + "/")]
    if not chosen:
        what = f"an artifact {wanted!r}" if wanted else "any artifacts"
        raise NotFoundError(f"Run {run_id[:8]} has no {what}; `shipyard runs show {run_id[:8]}` lists them.")
    for entry in chosen:
        out = target / entry["path"]
        _verified(store, run_id, entry, lambda label, e=entry, o=out: store.objects.get_file(e["hash"], o, label=label))
    return target / wanted if wanted else target


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


def _clean(artifact_path: str) -> str:
    text = str(artifact_path).replace("\\", "/")
    parts = PurePosixPath(text).parts
    if not text.strip("/") or text.startswith("/") or ".." in parts:
        raise ValidationError(
            f"The artifact path {artifact_path!r} must be a relative path without '..' segments.",
            field="artifact_path",
        )
    return "/".join(parts)


def _join(prefix: str | None, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name
