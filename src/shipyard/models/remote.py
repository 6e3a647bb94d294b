"""Models through a team server (``SHIPYARD_TRACKING_URI``): packages up and down, and the registry's calls.

- ``log_model`` builds the package here, as without a server, and uploads its files as artifacts of the run
  (hashed on both sides), the manifest last: the server records the manifest's hash when it arrives, exactly as a
  local store does, so a registration checks the same record.
- ``load_model`` asks the server to resolve the URI; the answer carries the manifest the server checked against the
  run's record (and the registry's). Each file is downloaded streamed, verified against the manifest's hash, and
  kept in a content-addressed cache (``$SHIPYARD_CACHE_DIR``, else ``~/.cache/shipyard``): loading the same
  version again, or another version sharing files, downloads nothing. A damaged cache entry is fetched again.
- Registrations and alias moves carry an idempotency key, so a retry after a lost answer never makes a second
  version or a second audit entry.

This module speaks HTTP only; :mod:`.package` and :mod:`.api` decide when to call it.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import IntegrityError, NotFoundError
from ..store.cache_home import cache_home
from ..store.hashing import hash_json
from ..store.http_client import new_key
from ..store.objects import LocalObjectStore
from ..tracking.remote import RemoteTracker
from ..tracking.remote_artifacts import download_verified
from .manifest import MANIFEST
from .registry import AliasEvent, ModelVersion

API = "/api/shipyard/v1"


def upload_package(tracker: RemoteTracker, run_id: str, path: str, files: dict[str, bytes],
                   manifest: bytes) -> None:
    """The package's files as artifacts of ``run_id`` under ``path``, the manifest last (its arrival is what makes
    the package exist for a reader)."""
    for filename, data in files.items():
        tracker.log_bytes(run_id, data, f"{path}/{filename}")
    tracker.log_bytes(run_id, manifest, f"{path}/{MANIFEST}")


def resolve(tracker: RemoteTracker, uri: str) -> tuple[ModelVersion | None, str, str]:
    """What :func:`.registry.resolve` answers, from the server: the version (``None`` for ``runs:/`` URIs), the
    package's run and its path."""
    answer = _resolution(tracker, uri)
    version = answer.get("version")
    return (_version(version) if version is not None else None), answer["run_id"], answer["path"]


def _resolution(tracker: RemoteTracker, uri: str) -> dict[str, Any]:
    tracker.flush()  # read-your-writes for a package logged moments ago by this process
    answer: dict[str, Any] = tracker.client.call("GET", f"{API}/models/resolve?uri={quote(uri, safe='')}")
    return answer


def download_package(tracker: RemoteTracker, uri: str) -> tuple[dict[str, Any], dict[str, bytes],
                                                                    ModelVersion | None]:
    """The manifest, the verified files and the registered version (``None`` for ``runs:/`` URIs) ``uri`` names."""
    answer = _resolution(tracker, uri)
    manifest = answer["manifest"]
    if hash_json(manifest) != answer["manifest_hash"]:
        raise IntegrityError(f"The manifest of {uri} changed on its way from {tracker.url}; load it again.",
                             object_hash=answer["manifest_hash"], path=f"{answer['path']}/{MANIFEST}")
    cache = LocalObjectStore(cache_root())
    files = {}
    for filename, recorded in manifest["files"].items():
        files[filename] = _fetch(tracker, cache, answer["run_id"], f"{answer['path']}/{filename}", recorded["hash"])
    version = answer.get("version")
    return manifest, files, _version(version) if version is not None else None


def cache_root() -> Path:
    """Where downloaded package files are kept, by content hash."""
    return cache_home() / "objects"


def read_verified(tracker: RemoteTracker, run_id: str, artifact: str, digest: str) -> bytes:
    """One artifact of a run whose hash the caller knows (from a manifest or a version tag), through the cache."""
    return _fetch(tracker, LocalObjectStore(cache_root()), run_id, artifact, digest)


def _fetch(tracker: RemoteTracker, cache: LocalObjectStore, run_id: str, artifact: str, digest: str) -> bytes:
    if cache.exists(digest):
        try:
            return cache.get_bytes(digest, label=f"cached {artifact}")
        except IntegrityError:
            cache.delete(digest)  # damaged on this disk: fetch it again
    cache.root.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".download-", dir=cache.root)
    os.close(handle)
    try:
        download_verified(tracker, run_id, artifact, digest, Path(temporary))
        cache.put_file(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return cache.get_bytes(digest, label=artifact)


def register(tracker: RemoteTracker, source: str, name: str, *, description: str | None,
             tags: dict[str, Any] | None) -> ModelVersion:
    tracker.flush()
    body = {"source": source, "description": description,
            "tags": {str(key): str(value) for key, value in (tags or {}).items()}}
    answer = tracker.client.call("POST", f"{API}/models/{_segment(name)}/versions", body, key=new_key())
    return _version(answer["version"])


def set_alias(tracker: RemoteTracker, name: str, alias: str, version: int, *, reason: str | None) -> AliasEvent:
    answer = tracker.client.call("PUT", f"{API}/models/{_segment(name)}/aliases/{_segment(alias)}",
                                 {"version": int(version), "reason": reason}, key=new_key())
    return _event(answer["event"])


def delete_alias(tracker: RemoteTracker, name: str, alias: str, *, reason: str | None) -> AliasEvent:
    query = f"?reason={quote(reason, safe='')}" if reason else ""
    answer = tracker.client.call("DELETE", f"{API}/models/{_segment(name)}/aliases/{_segment(alias)}{query}",
                                 key=new_key())
    return _event(answer["event"])


def alias_holder(tracker: RemoteTracker, name: str, alias: str) -> int | None:
    """The version ``alias`` points at, ``None`` when it points nowhere (NotFoundError for an unknown model)."""
    for model in list_models(tracker):
        if model["name"] == name:
            holder = model["aliases"].get(alias)
            return int(holder) if holder is not None else None
    raise NotFoundError(f"No model is registered as {name!r} on {tracker.url}; `shipyard models list` shows the "
                        "registered ones.")


def decide(tracker: RemoteTracker, name: str, alias: str, *, promoted: bool, holder: int | None, candidate: int,
           reason: str, details: dict[str, Any]) -> None:
    """Send a promotion gate's decision (made here) to be recorded if ``holder`` still holds the alias (409 if not)."""
    body = {"alias": alias, "promoted": promoted, "holder": holder, "candidate": candidate, "reason": reason,
            "details": details}
    tracker.client.call("POST", f"{API}/models/{_segment(name)}/decisions", body, key=new_key())


def set_version_tags(tracker: RemoteTracker, name: str, version: int, tags: dict[str, str]) -> None:
    tracker.client.call("POST", f"{API}/models/{_segment(name)}/versions/{int(version)}/tags",
                        {"tags": {str(key): str(value) for key, value in tags.items()}}, key=new_key())


def get_version(tracker: RemoteTracker, name: str, version: int) -> ModelVersion:
    return _version(tracker.client.call("GET", f"{API}/models/{_segment(name)}/versions/{int(version)}")["version"])


def list_versions(tracker: RemoteTracker, name: str) -> list[ModelVersion]:
    answer = tracker.client.call("GET", f"{API}/models/{_segment(name)}/versions")
    return [_version(item) for item in answer["versions"]]


def alias_history(tracker: RemoteTracker, name: str) -> list[AliasEvent]:
    answer = tracker.client.call("GET", f"{API}/models/{_segment(name)}/history")
    return [_event(item) for item in answer["events"]]


def list_models(tracker: RemoteTracker) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = tracker.client.call("GET", f"{API}/models")["models"]
    return models


def _segment(text: str) -> str:
    """A name as one path segment; an empty one would address another endpoint."""
    if not str(text).strip():
        raise NotFoundError("A model name and an alias cannot be empty.")
    return quote(str(text), safe="")


def _version(document: dict[str, Any]) -> ModelVersion:
    return ModelVersion(name=document["name"], version=int(document["version"]), run_id=document["run_id"],
                        path=document["path"], manifest_hash=document["manifest_hash"],
                        description=document.get("description"),
                        created_at=datetime.fromisoformat(document["created_at"]),
                        created_by=document.get("created_by"), aliases=tuple(document.get("aliases") or ()),
                        tags=dict(document.get("tags") or {}))


def _event(document: dict[str, Any]) -> AliasEvent:
    return AliasEvent(name=document["name"], alias=document["alias"], action=document["action"],
                      from_version=document.get("from_version"), to_version=document.get("to_version"),
                      actor=document.get("actor"), at=datetime.fromisoformat(document["at"]),
                      reason=document.get("reason"), details=document.get("details"))
