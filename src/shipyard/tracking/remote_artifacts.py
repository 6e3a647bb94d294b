"""Reading a run's artifacts from a team server: ``shipyard.list_artifacts``, ``read_artifact`` and
``download_artifacts`` when a tracking URI is set.

The server lists with the function the local readers use (``GET /query/runs/{prefix}/artifacts`` calls
:func:`shipyard.tracking.artifacts.list_artifacts`, after resolving a run-id prefix as the store does), and streams
each file (``GET /runs/{id}/artifacts/{path}``) checked against its hash on its side. Here every file is streamed to
a temporary file beside its destination, hashed, compared with the hash the listing recorded, and only then renamed
into place: a damaged or cut-off download never leaves a partial or wrong file under the caller's name, and a file
never sits whole in memory (``read_artifact`` excepted, which returns the bytes).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..errors import IntegrityError, NotFoundError
from ..store.hashing import hash_file
from ..store.http_client import quote_path
from .artifacts import check_artifact_path, choose_artifacts

if TYPE_CHECKING:
    from .remote import RemoteTracker

API = "/api/shipyard/v1"
_HASH_HEADER = "x-shipyard-content-hash"


def listing(tracker: RemoteTracker, id_or_prefix: str) -> tuple[str, list[dict[str, Any]]]:
    """The run's whole id and its artifacts (``{"path", "hash", "size"}`` by path), as the server's store lists them."""
    text = str(id_or_prefix).strip() or "-"  # an empty prefix is the server's to refuse, not a different path
    answer = tracker.client.call("GET", f"{API}/query/runs/{quote(text, safe='')}/artifacts")
    return str(answer["run_id"]), [dict(entry) for entry in answer["artifacts"]]


def list_artifacts(tracker: RemoteTracker, id_or_prefix: str) -> list[dict[str, Any]]:
    """:func:`shipyard.tracking.artifacts.list_artifacts` answered by the server."""
    return listing(tracker, id_or_prefix)[1]


def read_artifact(tracker: RemoteTracker, id_or_prefix: str, artifact_path: str) -> bytes:
    """The bytes of one artifact, verified against the hash the server recorded for it."""
    name = check_artifact_path(artifact_path)
    run_id, entries = listing(tracker, id_or_prefix)
    entry = next((item for item in entries if item["path"] == name), None)
    if entry is None:
        raise NotFoundError(f"Run {run_id[:8]} has no artifact {name!r}; `shipyard runs show {run_id[:8]}` lists "
                            "them.")
    with tempfile.TemporaryDirectory(prefix="shipyard-artifact-") as folder:
        out = Path(folder) / "artifact"
        _fetch(tracker, run_id, entry, out)
        return out.read_bytes()


def download_artifacts(tracker: RemoteTracker, id_or_prefix: str, dest: str | os.PathLike[str],
                       artifact_path: str | None = None) -> Path:
    """Copy the run's artifacts (all, or one file or folder of them) under ``dest``, each file verified and renamed
    into place whole; returns what the local :func:`~shipyard.tracking.artifacts.download_artifacts` returns."""
    target = Path(dest)
    wanted = check_artifact_path(artifact_path) if artifact_path is not None else None
    run_id, entries = listing(tracker, id_or_prefix)
    for entry in choose_artifacts(entries, run_id, wanted):
        _fetch(tracker, run_id, entry, target / entry["path"])
    return target / wanted if wanted else target


def _fetch(tracker: RemoteTracker, run_id: str, entry: dict[str, Any], out: Path) -> None:
    """Stream one artifact to a temporary file beside ``out``, verify it, then rename it to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name[:80]}.", suffix=".part", dir=out.parent)
    os.close(handle)
    try:
        download_verified(tracker, run_id, entry["path"], entry["hash"], Path(temporary))
        os.replace(temporary, out)
    finally:
        Path(temporary).unlink(missing_ok=True)


def download_verified(tracker: RemoteTracker, run_id: str, artifact: str, digest: str, into: Path) -> None:
    """Stream the run's ``artifact`` into the file ``into`` and check it hashes to ``digest`` (and to what the server
    says it sent). The one download of a recorded file: these readers and the model-package cache
    (``models/remote.py``) both keep the file only after this returns.

    Raises:
        IntegrityError: the bytes received are not the recorded ones.
    """
    headers = tracker.client.download(f"{API}/runs/{run_id}/artifacts/{quote_path(artifact)}", into)
    received = hash_file(into)
    if received != digest or headers.get(_HASH_HEADER, received) != digest:
        raise IntegrityError(f"The artifact {artifact!r} of run {run_id[:8]} downloaded from {tracker.url} hashes to "
                             f"{received[:12]}, not to {digest[:12]} as recorded; it was not kept. Download it again.",
                             object_hash=digest, path=artifact)
