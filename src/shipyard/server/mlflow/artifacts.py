"""The ``mlflow-artifacts`` proxy: run artifacts uploaded, listed and downloaded through the server.

MLflow's client turns a run's ``mlflow-artifacts:/<experiment>/<run>/artifacts`` into
``/api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>`` (PUT a file, GET a file) and
``/api/2.0/mlflow-artifacts/artifacts?path=<...>`` (GET: the entries of one folder, by base name). Each path
maps to one artifact of one run in Shipyard's artifact index, so a file logged by an MLflow client is an artifact
like any other: content-addressed, listed by ``shipyard runs show``, verified against its hash when read.

Bodies stream: an upload goes to a temporary file in pieces (never whole in memory) and is stored with
:func:`~shipyard.tracking.artifacts.log_artifact`; a download is copied out of the object store, verified on
the way, into a temporary file that is streamed back and then removed. Clients need no storage credentials.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import NotFoundError, NotSupportedError, ValidationError
from ...tracking.artifacts import check_artifact_path, download_artifacts, list_artifacts, log_artifact
from ..auth import require
from ..roles import READER, WRITER
from ..settings import ServerSettings
from .protocol import Call, caller, check_run_id, error_response, json_response
from .runs import load_run
from .shapes import artifact_root

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

_ROOT_RE = re.compile(r"^(\d+)/([0-9a-f]{32})/artifacts(?:/(.*))?$")


def _locate(path: str, settings: ServerSettings) -> tuple[str, str | None]:
    """``(run id, artifact path or None for the run's root)`` of a proxy path, the run checked to exist."""
    match = _ROOT_RE.match(path.strip("/"))
    if match is None:
        raise ValidationError(f"The artifact path {path[:200]!r} is not <experiment id>/<run id>/artifacts/<path>: "
                              "Shipyard keeps artifacts per run.", field="path")
    experiment, run_id, rest = match.groups()
    run = load_run(settings.store, check_run_id(run_id))
    if str(run.experiment_id) != experiment:
        raise NotFoundError(f"Run {run_id} is not in experiment {experiment}; its artifacts are under "
                            f"{run.experiment_id}/{run_id}/artifacts.")
    return run.id, (check_artifact_path(rest, field="path") if rest else None)


async def upload(request: Request) -> Response:
    """PUT a file: the body, streamed to a temporary file, becomes the artifact at that path."""
    from starlette.concurrency import run_in_threadpool

    settings: ServerSettings = request.app.state.server
    folder = tempfile.mkdtemp(prefix="shipyard-upload-")
    try:
        identity = await caller(request, settings)
        require(identity, WRITER, "Logging an artifact")
        run_id, name = await run_in_threadpool(_locate, request.path_params["path"], settings)
        if name is None:
            raise ValidationError("An artifact upload needs a file path after <run id>/artifacts/.", field="path")
        directory, _, base = name.rpartition("/")
        target = Path(folder) / base
        with open(target, "wb") as handle:
            async for chunk in request.stream():
                await run_in_threadpool(handle.write, chunk)
        await run_in_threadpool(log_artifact, settings.store, run_id, target, directory or None)
    except Exception as exc:
        return error_response(exc, request)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return json_response({})


async def download(request: Request) -> Response:
    """GET a file: verified against its hash while it is copied out, then streamed."""
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse

    settings: ServerSettings = request.app.state.server
    folder = tempfile.mkdtemp(prefix="shipyard-download-")
    try:
        identity = await caller(request, settings)
        require(identity, READER, "Reading an artifact")
        run_id, name = await run_in_threadpool(_locate, request.path_params["path"], settings)
        if name is None or not any(entry["path"] == name for entry in
                                   await run_in_threadpool(list_artifacts, settings.store, run_id)):
            raise NotFoundError(f"Run {run_id} has no artifact file {name or ''!r}; list the folder to see its files.")
        local = await run_in_threadpool(download_artifacts, settings.store, run_id, folder, name)
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return error_response(exc, request)
    return FileResponse(local, media_type="application/octet-stream",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


async def listing(request: Request) -> Response:
    """GET ``?path=``: the files and folders directly inside one folder (a file lists itself)."""
    from starlette.concurrency import run_in_threadpool

    settings: ServerSettings = request.app.state.server
    try:
        identity = await caller(request, settings)
        require(identity, READER, "Listing artifacts")
        path = request.query_params.get("path")
        if not path:
            raise NotSupportedError("Listing every experiment's artifacts is not supported; list one run's "
                                    "(path=<experiment id>/<run id>/artifacts).")
        run_id, name = await run_in_threadpool(_locate, path, settings)
        entries = await run_in_threadpool(list_artifacts, settings.store, run_id)
    except Exception as exc:
        return error_response(exc, request)
    return json_response({"files": children(entries, name)})


async def refused(request: Request) -> Response:
    """Deleting artifacts and multipart uploads: named and refused (after the role check)."""

    settings: ServerSettings = request.app.state.server
    try:
        identity = await caller(request, settings)
        require(identity, WRITER, "Changing artifacts")
        raise NotSupportedError(f"{request.method} {request.url.path} is not supported: Shipyard keeps a run's "
                                "artifacts (re-log a path to replace it) and takes uploads as one PUT per file.")
    except Exception as exc:
        return error_response(exc, request)


def list_for_run(call: Call) -> dict[str, Any]:
    """``/mlflow/artifacts/list`` (the tracking API's listing, which MLflow's UI and other clients use): the entries
    directly inside ``path`` of the run, by their full artifact path."""
    store = call.settings.store
    run = load_run(store, call.args.run_id())
    folder = call.args.text("path")
    folder = check_artifact_path(folder.strip("/"), field="path") if folder and folder.strip("/") else None
    entries = list_artifacts(store, run.id)
    prefix = f"{folder}/" if folder else ""
    is_file = any(entry["path"] == folder for entry in entries)  # a file lists nothing, as MLflow's client expects
    found = [] if is_file else children(entries, folder)
    return {"root_uri": artifact_root(run.experiment_id, run.id),
            "files": [{**item, "path": prefix + item["path"]} for item in found]}


def children(entries: list[dict[str, Any]], folder: str | None) -> list[dict[str, Any]]:
    """MLflow's listing of ``folder`` (None: the run's root): base names, folders marked, sizes of files."""
    found: dict[str, dict[str, Any]] = {}
    prefix = f"{folder}/" if folder else ""
    for entry in entries:
        path = entry["path"]
        if folder is not None and path == folder:
            return [{"path": os.path.basename(path), "is_dir": False, "file_size": int(entry["size"])}]
        if not path.startswith(prefix):
            continue
        head, _, rest = path[len(prefix):].partition("/")
        found[head] = {"path": head, "is_dir": True} if rest else \
            {"path": head, "is_dir": False, "file_size": int(entry["size"])}
    return [found[name] for name in sorted(found)]
