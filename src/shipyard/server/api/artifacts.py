"""Artifact uploads through Shipyard's own API: streamed, and verified against their hash at both ends.

``PUT /api/shipyard/v1/runs/<run id>/artifacts/<path>`` with the file as the body and its BLAKE3 hash in
``X-Shipyard-Content-Hash``. The body goes to a temporary file in pieces (never whole in memory) and is hashed on the
way; bytes that do not hash to the header's value were damaged in transit and are refused (422) without being
stored. The answer names the hash the server stored, which the client compares with its own. Clients need no
storage credentials: the server writes the object store.

An upload is idempotent by nature (the object is content-addressed, the path is overwritten with the same hash);
its idempotency key is recorded once it is done, so a retry answers from the record without a second upload.

``GET`` on the same path streams the artifact back with its hash in the same header: the server checks the object
against its hash while copying it out of the store, and the client checks the bytes it received.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError, ValidationError
from ...store.hashing import new_hasher
from ...store.idempotency import HEADER, check_key, fingerprint, recall, run_once
from ...tracking.artifacts import check_artifact_path, download_artifacts, list_artifacts, log_artifact
from ...tracking.runs import check_run_id, get_run
from ..auth import identify, require
from ..roles import READER, WRITER
from ..settings import ServerSettings
from .protocol import error_response, json_response

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

HASH_HEADER = "X-Shipyard-Content-Hash"
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


async def upload(request: Request) -> Response:
    """PUT a file: the body, streamed to a temporary file and hashed, becomes the artifact at that path."""
    from starlette.concurrency import run_in_threadpool

    settings: ServerSettings = request.app.state.server
    folder = tempfile.mkdtemp(prefix="shipyard-upload-")
    replayed = False
    try:
        identity = await run_in_threadpool(identify, request, settings)
        require(identity, WRITER, "Logging an artifact")
        run_id = check_run_id(request.path_params["run_id"])
        name = check_artifact_path(request.path_params["path"], field="path")
        declared = request.headers.get(HASH_HEADER, "")
        if not _HASH_RE.match(declared):
            raise ValidationError(f"An upload needs the {HASH_HEADER} header: the BLAKE3 hash of the body, 64 "
                                  "hexadecimal digits.", field=HASH_HEADER)
        key = request.headers.get(HEADER)
        request_hash = fingerprint("PUT", request.url.path, declared)
        answer = None
        if key is not None:
            answer = await run_in_threadpool(recall, settings.store.db, check_key(key), actor=identity.name,
                                             request_hash=request_hash)
        if answer is not None:
            body, replayed = answer.body, True
        else:
            await run_in_threadpool(get_run, settings.store, run_id)  # a missing run is 404 before the body is read
            body = await _receive(request, settings, folder, run_id, name, declared)
            if key is not None:
                await run_in_threadpool(run_once, settings.store.db, key, actor=identity.name,
                                        request_hash=request_hash, work=lambda conn: body)
    except Exception as exc:
        return error_response(exc, request)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return json_response(body, replayed=replayed)


async def _receive(request: Request, settings: ServerSettings, folder: str, run_id: str, name: str,
                   declared: str) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    directory, _, base = name.rpartition("/")
    target = Path(folder) / base
    hasher = new_hasher()
    size = 0
    with open(target, "wb") as handle:
        async for chunk in request.stream():
            hasher.update(chunk)
            size += len(chunk)
            await run_in_threadpool(handle.write, chunk)
    received = str(hasher.hexdigest())
    if received != declared:
        raise ValidationError(f"The {size} bytes received hash to {received[:12]}, not to {declared[:12]} as "
                              f"{HASH_HEADER} says: the upload was damaged on the way and nothing was stored; "
                              "send it again.", field=HASH_HEADER)
    await run_in_threadpool(log_artifact, settings.store, run_id, target, directory or None)
    return {"path": name, "hash": received, "size": size}


async def download(request: Request) -> Response:
    """GET a file: copied out of the store (verified against its hash on the way), then streamed with that hash."""
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse

    settings: ServerSettings = request.app.state.server
    folder = tempfile.mkdtemp(prefix="shipyard-download-")
    try:
        identity = await run_in_threadpool(identify, request, settings)
        require(identity, READER, "Reading an artifact")
        run_id = check_run_id(request.path_params["run_id"])
        name = check_artifact_path(request.path_params["path"], field="path")
        entries = await run_in_threadpool(list_artifacts, settings.store, run_id)
        entry = next((item for item in entries if item["path"] == name), None)
        if entry is None:
            await run_in_threadpool(get_run, settings.store, run_id)  # an unknown run says so first
            raise NotFoundError(f"Run {run_id[:8]} has no artifact {name!r}.")
        local = await run_in_threadpool(download_artifacts, settings.store, run_id, folder, name)
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return error_response(exc, request)
    return FileResponse(local, media_type="application/octet-stream", headers={HASH_HEADER: entry["hash"]},
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))
